// The relay load generator counts deliveries from an update's clock ranges; parsing each distinct
// update once must give what parsing it for every reader gave.
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createClockRanges } from '../../bench/relay-clock-ranges.js'

const updatesOf = (writes: number): Uint8Array[] => {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  for (let index = 0; index < writes; index++) doc.getMap('kv').set(`k${index % 3}`, index)
  return updates
}

describe('relay clock ranges', () => {
  it('match Y.parseUpdateMeta, for the same bytes in another buffer too, and stay bounded', () => {
    const ranges = createClockRanges(2)
    const [first, second, third] = updatesOf(3) as [Uint8Array, Uint8Array, Uint8Array]
    const merged = Y.mergeUpdates([first, second, third])
    const meta = Y.parseUpdateMeta(merged)
    const expected = [...meta.from].map(([client, from]) => [client, from, meta.to.get(client)])
    expect(ranges(merged)).toEqual(expected)
    const copy = new Uint8Array(merged.length + 3).subarray(3)
    copy.set(merged)
    expect(ranges(copy)).toBe(ranges(merged))
    // Past its size the cache starts over, and still answers correctly.
    expect(ranges(first)[0]?.slice(1)).toEqual([0, 1])
    expect(ranges(second)[0]?.slice(1)).toEqual([1, 2])
    expect(ranges(merged)).toEqual(expected)
  })
})
