import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { InvalidUpdateError, validateUpdate } from '../../core/index.js'

describe('validateUpdate', () => {
  it('reports the clocks an update carries exactly as Y.parseUpdateMeta does, merged updates with gaps included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 30 }),
        fc.array(fc.boolean(), { maxLength: 30 }),
        (writes, keep) => {
          const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
          const updates: Uint8Array[] = []
          for (const doc of docs) doc.on('update', (update: Uint8Array) => updates.push(update))
          for (const [writer, key] of writes) docs[writer]!.getMap('m').set(`k${key}`, writer)
          const chosen = updates.filter((_, index) => keep[index] ?? true)
          const sorted = (map: ReadonlyMap<number, number>) => [...map].sort(([a], [b]) => a - b)
          for (const update of chosen.length > 0 ? [Y.mergeUpdates(chosen), ...chosen] : []) {
            const clocks = validateUpdate('d', update)
            const meta = Y.parseUpdateMeta(update)
            expect(sorted(clocks.from)).toEqual(sorted(meta.from))
            expect(sorted(clocks.to)).toEqual(sorted(meta.to))
            // Nothing it carries is needed before it; what it skips is.
            for (const [client, first] of clocks.from) expect(clocks.needs.get(client) ?? 0).toBeGreaterThanOrEqual(first)
            // Deletions reach exactly as far as the delete set says (overwrites delete the old value).
            const reach = new Map<number, number>()
            for (const [client, ranges] of Y.decodeUpdate(update).ds.clients) reach.set(client, Math.max(...ranges.map((range) => range.clock + range.len)))
            expect(sorted(clocks.deletes)).toEqual(sorted(reach))
          }
        },
      ),
    )
  })

  it('needs the clocks a merged update skips', () => {
    const doc = new Y.Doc()
    doc.clientID = 4
    const updates: Uint8Array[] = []
    doc.on('update', (update: Uint8Array) => updates.push(update))
    for (let i = 0; i < 3; i++) doc.getMap('m').set(`k${i}`, i)
    const gapped = Y.mergeUpdates([updates[0]!, updates[2]!])
    expect(validateUpdate('d', gapped).needs.get(4)).toBe(2)
    expect(validateUpdate('d', updates[2]!).needs.get(4)).toBe(2)
    expect(() => validateUpdate('d', new Uint8Array([1, 2, 3]))).toThrow(InvalidUpdateError)
  })
})
