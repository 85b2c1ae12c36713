import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { mergeUpdatesInGroups } from '../../core/index.js'

describe('mergeUpdatesInGroups', () => {
  it('merges in groups to the same document state as one merge', () => {
    const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
    const updates: Uint8Array[] = []
    for (const doc of docs) doc.on('update', (update: Uint8Array) => updates.push(update))
    for (let i = 0; i < 100; i++) {
      const doc = docs[i % 3] as Y.Doc
      if (i % 7 === 6) doc.getMap('m').delete(`k${(i - 3) % 10}`)
      else doc.getMap('m').set(`k${i % 10}`, i)
    }
    const grouped = new Y.Doc()
    Y.applyUpdate(grouped, mergeUpdatesInGroups(updates))
    const whole = new Y.Doc()
    Y.applyUpdate(whole, Y.mergeUpdates(updates))
    expect(grouped.getMap('m').toJSON()).toEqual(whole.getMap('m').toJSON())
    expect(Y.encodeStateVector(grouped)).toEqual(Y.encodeStateVector(whole))
    expect(mergeUpdatesInGroups([updates[0] as Uint8Array])).toBe(updates[0])
  })

  it('merges thousands of updates (several levels of groups) to what applying each gives', () => {
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (update: Uint8Array) => updates.push(update))
    for (let i = 0; i < 5000; i++) doc.getMap('m').set(`k${i % 300}`, i)
    const merged = new Y.Doc()
    Y.applyUpdate(merged, mergeUpdatesInGroups(updates))
    expect(merged.getMap('m').toJSON()).toEqual(doc.getMap('m').toJSON())
    expect(Y.encodeStateVector(merged)).toEqual(Y.encodeStateVector(doc))
  })
})
