// What a relay benchmark reader needs of a received update: which writes it holds. Every reader of
// a document receives the same bytes for one fan-out, so a load generator holding many readers
// parses each distinct update once (by its bytes) rather than once per reader: at high rates,
// parsing merged updates per reader was most of a load generator's CPU, and the load generator,
// not the server, would have set the saturation point.
import * as Y from 'yjs'

/** Struct ranges of an update: per Yjs client, the first clock and the one past the last. */
export type ClockRanges = ReadonlyArray<readonly [client: number, from: number, to: number]>

/** A parser of updates' clock ranges that remembers the last `size` distinct updates (cleared when full). */
export const createClockRanges = (size = 256): ((update: Uint8Array) => ClockRanges) => {
  const byBytes = new Map<string, ClockRanges>()
  return (update) => {
    const key = Buffer.from(update.buffer, update.byteOffset, update.byteLength).toString('latin1')
    const cached = byBytes.get(key)
    if (cached !== undefined) return cached
    const meta = Y.parseUpdateMeta(update)
    const ranges: ClockRanges = [...meta.from].map(([client, from]) => [client, from, meta.to.get(client) ?? from] as const)
    if (byBytes.size >= size) byBytes.clear()
    byBytes.set(key, ranges)
    return ranges
  }
}
