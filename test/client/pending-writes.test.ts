import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PendingWrites } from '../../client/index.js'

/** A document whose local transactions are recorded as sent in frames 0, 1, 2, ... */
const recorded = () => {
  const doc = new Y.Doc()
  const writes = new PendingWrites()
  let frame = 0
  doc.on('afterTransaction', (transaction: Y.Transaction) => {
    if (transaction.local && transaction.changed.size > 0) writes.record(doc, transaction, frame++)
  })
  return { doc, writes }
}

describe('PendingWrites', () => {
  it('carries, key-level, the root map keys, nested entities, arrays and texts sent from the handled frame on', () => {
    const { doc, writes } = recorded()
    doc.getMap('inv').set('old', 1) // frame 0: handled
    const entity = new Y.Map<unknown>()
    doc.getMap('entities').set('e1', entity) // frame 1
    entity.set('hp', 10) // frame 2: a nested change, recorded as entities.e1
    doc.getArray<number>('log').push([1, 2]) // frame 3
    doc.getText('note').insert(0, 'hi') // frame 4
    doc.getMap('inv').set('gone', 1) // frame 5
    doc.getMap('inv').delete('gone') // frame 6
    const nested = new Y.Map<unknown>()
    nested.set('tags', Y.Array.from(['a']))
    nested.set('text', new Y.Text('t'))
    entity.set('extra', nested) // frame 7
    expect(writes.size).toBe(5)

    const fresh = new Y.Doc()
    fresh.getMap('inv').set('gone', 'base')
    fresh.getArray<number>('log').push([9])
    fresh.getText('note').insert(0, 'base')
    expect(writes.carry(doc, fresh, 1, 'carry')).toBe(4)
    expect(writes.size).toBe(0)
    expect(fresh.getMap('inv').toJSON()).toEqual({})
    expect(fresh.getMap('entities').toJSON()).toEqual({ e1: { hp: 10, extra: { tags: ['a'], text: 't' } } })
    expect(fresh.getArray('log').toJSON()).toEqual([1, 2])
    expect(fresh.getText('note').toString()).toBe('hi')
  })

  it('after unsend every path waits for the next step 2 reply, and a handled reply covers it', () => {
    const { doc, writes } = recorded()
    doc.getMap('m').set('a', 1)
    writes.unsend()
    writes.sendAll(0)
    const fresh = new Y.Doc()
    expect(writes.carry(doc, fresh, 1, 'carry')).toBe(0)
    doc.getMap('m').set('b', 2)
    writes.unsend()
    expect(writes.carry(doc, fresh, 5, 'carry')).toBe(1)
    expect(fresh.getMap('m').toJSON()).toEqual({ b: 2 })
  })

  it('with the cut state vector, carries exactly the writes the new base lacks: past the cut, and deletes by the rule of the cut', () => {
    const { doc, writes } = recorded()
    doc.clientID = 42
    const m = doc.getMap<unknown>('m')
    m.set('in', 1) // clock 0: in the base
    m.set('gone', 'x') // clock 1: in the base
    m.set('gone-too', 'y') // clock 2: in the base
    const cut = Y.encodeStateVector(doc) // { 42: 3 }
    m.delete('gone') // pure delete of a value the cut holds: the base may or may not hold the delete
    m.set('past', 2) // clock 3: past the cut
    m.set('fresh', 'z') // clock 4: past the cut
    m.delete('fresh') // pure delete of a value past the cut: carried outright
    const other = new Y.Doc()
    other.clientID = 43
    other.getMap('n').set('remote', 1)
    const fresh = new Y.Doc()
    // The new epoch: the base holds the cut's content, and another writer has since overwritten 'in' and 'gone-too'.
    fresh.getMap('m').set('in', 'later')
    fresh.getMap('m').set('gone', 'x')
    fresh.getMap('m').set('gone-too', 'later')
    fresh.getMap('m').set('fresh', 'base-of-another')
    expect(writes.carry(doc, fresh, 0, 'carry', cut)).toBe(3)
    expect(fresh.getMap('m').toJSON()).toEqual({ in: 'later', 'gone-too': 'later', past: 2 })

    // A covered delete whose key another writer set since (another value) is left alone.
    const again = recorded()
    again.doc.clientID = 7
    again.doc.getMap('m').set('k', 'old')
    const cut2 = Y.encodeStateVector(again.doc)
    again.doc.getMap('m').delete('k')
    // A value another writer set past the cut, deleted here by a pure delete at a clock the cut covers: carried outright.
    const remote = new Y.Doc()
    remote.clientID = 44
    remote.getMap('m').set('r', 'remote')
    Y.applyUpdate(again.doc, Y.encodeStateAsUpdate(remote))
    again.doc.getMap('m').delete('r')
    const target = new Y.Doc()
    target.getMap('m').set('k', 'new')
    target.getMap('m').set('r', 'whatever')
    expect(again.writes.carry(again.doc, target, 0, 'carry', cut2)).toBe(2)
    expect(target.getMap('m').toJSON()).toEqual({ k: 'new' })
    // A cut that is no state vector is refused.
    expect(() => new PendingWrites().carry(doc, fresh, 0, 'carry', new Uint8Array([5]))).toThrow(/cut state vector/)
  })
})
