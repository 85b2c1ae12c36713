import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { contentHash, contentJson, EPOCH_BASE_CLIENT_ID, openWorldDoc, rebuildContent, UnsupportedEpochContentError } from '../../core/index.js'

type Op = { key: string; value: number | null }

/** Applies writes to a doc as one writer, overwriting and deleting keys of the `entities` root. */
const play = (doc: Y.Doc, ops: readonly Op[]): void => {
  const map = doc.getMap<unknown>('entities')
  for (const op of ops) {
    if (op.value === null) map.delete(op.key)
    else map.set(op.key, { hp: op.value, tags: { b: 1, a: 2 } })
  }
}

const finalState = (ops: readonly Op[]): Map<string, number> => {
  const state = new Map<string, number>()
  for (const op of ops) {
    if (op.value === null) state.delete(op.key)
    else state.set(op.key, op.value)
  }
  return state
}

const opArb = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.option(fc.integer({ min: 0, max: 9 }), { nil: null }) })

describe('rebuildContent', () => {
  it('gives byte-identical updates for the same content built by different histories', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: 2 ** 31 }), (noise, more, client) => {
        // Replica A: noise, then the final writes; replica B: only the final writes, other client id, keys in reverse.
        const a = new Y.Doc()
        a.clientID = client
        play(a, [...noise, ...more])
        const target = finalState([...noise, ...more])
        const b = new Y.Doc()
        b.clientID = client + 1
        const entries = [...target.entries()].reverse()
        play(b, entries.map(([key, value]) => ({ key, value })))
        // Keys present in B but not in A's final state cannot exist: B only wrote the final ones.
        const rebuiltA = rebuildContent(a)
        const rebuiltB = rebuildContent(b)
        expect(rebuiltA.update).toEqual(rebuiltB.update)
        expect(rebuiltA.hash).toBe(rebuiltB.hash)
        expect(rebuiltA.hash).toBe(contentHash(rebuiltA.update))
        const fresh = new Y.Doc()
        Y.applyUpdate(fresh, rebuiltA.update)
        expect(contentJson(fresh)).toEqual(contentJson(a))
        // Only the reserved client wrote the base.
        expect([...fresh.store.clients.keys()]).toEqual(target.size > 0 ? [EPOCH_BASE_CLIENT_ID] : [])
      }),
      { numRuns: 60 },
    )
  })

  it('rebuilds a world document (nested maps, items, components) with its content and a much smaller encoding', () => {
    const doc = new Y.Doc()
    const world = openWorldDoc(doc)
    world.createEntity('door-1', 'door', { state: { open: false } })
    world.createItem('sword', 'weapon', { type: 'player', id: 'p1' })
    for (let i = 0; i < 500; i++) world.setComponent('door-1', 'state', { open: i % 2 === 0, n: i })
    const base = rebuildContent(doc)
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, base.update)
    const copy = openWorldDoc(fresh)
    expect(copy.getEntity('door-1')).toEqual(world.getEntity('door-1'))
    expect(copy.getItem('sword')).toEqual(world.getItem('sword'))
    expect(base.update.length * 4).toBeLessThan(Y.encodeStateAsUpdate(doc).length)
    expect(rebuildContent(fresh).update).toEqual(base.update)
  })

  it('carries arrays, plain text, binary values and roots nobody typed', () => {
    const doc = new Y.Doc()
    doc.getArray<unknown>('log').push(['x', new Y.Map(), 3])
    doc.getText('chat').insert(0, 'hello')
    doc.getMap<unknown>('blobs').set('b', new Uint8Array([1, 2, 3]))
    const inner = new Y.Array<unknown>()
    inner.push([1, 2])
    doc.getMap<unknown>('blobs').set('list', inner)
    doc.getMap<unknown>('blobs').set('text', new Y.Text('t'))
    const remote = new Y.Doc()
    Y.applyUpdate(remote, Y.encodeStateAsUpdate(doc))
    remote.getArray('log')
    remote.getText('chat')
    const fromRemote = new Y.Doc()
    // A replica that never typed `blobs` still reads it as a map.
    Y.applyUpdate(fromRemote, Y.encodeStateAsUpdate(doc))
    fromRemote.getArray('log')
    fromRemote.getText('chat')
    const base = rebuildContent(fromRemote)
    expect(base.update).toEqual(rebuildContent(doc).update)
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, base.update)
    expect(fresh.getText('chat').toString()).toBe('hello')
    fresh.getArray('log')
    expect(contentJson(fresh)).toEqual(contentJson(doc))
  })

  it('refuses formatted text and XML with a typed error', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'bold', { bold: true })
    expect(() => rebuildContent(doc)).toThrow(UnsupportedEpochContentError)
    const xml = new Y.Doc()
    xml.getXmlFragment('x')
    expect(() => rebuildContent(xml)).toThrow(UnsupportedEpochContentError)
    const nested = new Y.Doc()
    nested.getMap('m').set('x', new Y.XmlFragment())
    expect(() => rebuildContent(nested)).toThrow(UnsupportedEpochContentError)
  })
})
