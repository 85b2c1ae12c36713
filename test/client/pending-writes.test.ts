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
})
