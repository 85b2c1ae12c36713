import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { EPOCH_BASE_CLIENT_ID } from '../../core/index.js'
import { GENESIS_EPOCH, OwnWriteLog, replayWrite } from '../../replication/index.js'

/** Records every local transaction of `doc` into `log`. */
const recording = (doc: Y.Doc, log: OwnWriteLog): void => {
  doc.on('afterTransaction', (transaction: Y.Transaction) => {
    if (transaction.local) log.record(doc, GENESIS_EPOCH.id, transaction)
  })
}

const replayAll = (log: OwnWriteLog, target: Y.Doc, onlyIfUnchanged = false): void => {
  target.transact(() => {
    for (const write of log.select(() => true)) replayWrite(target, write, onlyIfUnchanged)
  })
}

describe('OwnWriteLog', () => {
  it('keeps the latest write per map path and replays them in order, deletes and nested maps included', () => {
    const doc = new Y.Doc()
    const log = new OwnWriteLog()
    recording(doc, log)
    const entities = doc.getMap<unknown>('entities')
    const orc = new Y.Map<unknown>()
    orc.set('hp', 10)
    entities.set('orc', orc)
    orc.set('hp', 9)
    orc.set('hp', 8)
    entities.set('gone', 1)
    entities.delete('gone')
    expect(log.size).toBe(3)
    // A pure delete (no struct, so no clock) removes what it deleted, but not a value written since.
    const target = new Y.Doc()
    target.getMap<unknown>('entities').set('gone', 1)
    replayAll(log, target)
    expect(target.getMap('entities').toJSON()).toEqual({ orc: { hp: 8 } })
    const rewritten = new Y.Doc()
    rewritten.getMap<unknown>('entities').set('gone', 'written again')
    replayAll(log, rewritten, true)
    expect(rewritten.getMap('entities').toJSON()).toEqual({ orc: { hp: 8 }, gone: 'written again' })
    expect(log.select((w) => w.pure).map((w) => w.path.join('.'))).toEqual(['entities.gone'])
    const writes = log.select(() => true)
    expect(writes.map((w) => w.path.join('.'))).toEqual(['entities.orc', 'entities.orc.hp', 'entities.gone'])
    expect(writes[1]!.clock).toBeGreaterThan(writes[0]!.clock)
  })

  it('merges a carried map into one another author carried first, and creates missing parents', () => {
    const doc = new Y.Doc()
    const log = new OwnWriteLog()
    recording(doc, log)
    const door = new Y.Map<unknown>()
    door.set('open', true)
    doc.getMap<unknown>('entities').set('door', door)
    // The target: a base (client 0) holding the door closed, then another author's later edit of `locked`.
    const base = new Y.Doc()
    base.clientID = EPOCH_BASE_CLIENT_ID
    const baseDoor = new Y.Map<unknown>()
    baseDoor.set('open', false)
    baseDoor.set('locked', true)
    base.getMap<unknown>('entities').set('door', baseDoor)
    const target = new Y.Doc()
    Y.applyUpdate(target, Y.encodeStateAsUpdate(base))
    ;(target.getMap<unknown>('entities').get('door') as Y.Map<unknown>).set('locked', false)
    door.set('locked', true)
    replayAll(log, target)
    // `open` overwrites the base; the snapshot's `locked` does not overwrite the other author's edit; the own later edit does.
    expect(target.getMap('entities').toJSON()).toEqual({ door: { open: true, locked: true } })
    const snapshotOnly = new OwnWriteLog()
    const other = new Y.Doc()
    recording(other, snapshotOnly)
    const created = new Y.Map<unknown>()
    created.set('open', true)
    created.set('locked', true)
    other.getMap<unknown>('entities').set('door', created)
    const target2 = new Y.Doc()
    Y.applyUpdate(target2, Y.encodeStateAsUpdate(base))
    ;(target2.getMap<unknown>('entities').get('door') as Y.Map<unknown>).set('locked', false)
    replayAll(snapshotOnly, target2)
    expect(target2.getMap('entities').toJSON()).toEqual({ door: { open: true, locked: false } })
    replayWrite(target, { ...log.select(() => true)[0]!, path: ['entities', 'a', 'b', 'c'], value: { t: 'json', v: 1 } })
    expect(target.getMap('entities').toJSON()).toMatchObject({ a: { b: { c: 1 } } })
  })

  it('carries arrays and text as whole values (root or nested) and maps inside arrays through their array', () => {
    const doc = new Y.Doc()
    const log = new OwnWriteLog()
    recording(doc, log)
    doc.getArray<unknown>('log').push(['a', 'b'])
    doc.getText('chat').insert(0, 'hi')
    const inner = new Y.Array<unknown>()
    const row = new Y.Map<unknown>()
    inner.push([row])
    doc.getMap<unknown>('m').set('rows', inner)
    row.set('x', 1)
    const text = new Y.Text('t')
    doc.getMap<unknown>('m').set('note', text)
    text.insert(1, 'ext')
    const target = new Y.Doc()
    target.getArray<unknown>('log').push(['old'])
    target.getText('chat').insert(0, 'old')
    replayAll(log, target)
    expect(target.getArray('log').toJSON()).toEqual(['a', 'b'])
    expect(target.getText('chat').toString()).toBe('hi')
    expect(target.getMap('m').toJSON()).toEqual({ rows: [{ x: 1 }], note: 'text' })
    expect(log.select((w) => w.path.join('.') === 'm.rows')).toHaveLength(1)
  })
})
