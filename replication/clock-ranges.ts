import * as Y from 'yjs'
import type { ClockRange } from '../core/index.js'

/** A replica's state vector as a map: each Yjs client's next clock (everything below it is integrated). */
export const stateVectorOf = (doc: Y.Doc): Map<number, number> => {
  const vector = new Map<number, number>()
  for (const client of doc.store.clients.keys()) vector.set(client, Y.getState(doc.store, client))
  return vector
}

/**
 * What of `wanted` (per client, the clock a peer said it holds up to) this replica still lacks, as
 * ranges from its own clock: a pull asks for exactly these. Yjs integrates a client's structs only
 * in clock order, so everything from our own clock on is missing, never a hole in the middle.
 */
export const missingRanges = (doc: Y.Doc, wanted: ReadonlyMap<number, number>): ClockRange[] => {
  const ranges: ClockRange[] = []
  for (const [client, to] of wanted) {
    const own = Y.getState(doc.store, client)
    if (to > own) ranges.push({ client, from: own, to })
  }
  return ranges
}

/**
 * The ranges a replica waits on: the clients whose earlier updates it lacks, so that updates it
 * already holds cannot integrate (Yjs keeps them pending), and the clients whose structs pending
 * deletions target (Yjs keeps a delete of a struct it has not seen until the struct arrives).
 * Undefined when nothing is pending.
 */
export const pendingRanges = (doc: Y.Doc): ClockRange[] | undefined => {
  const ranges = new Map<number, ClockRange>()
  const need = (client: number, to: number): void => {
    const own = Y.getState(doc.store, client)
    const known = ranges.get(client)
    const end = Math.max(to, own + 1, known?.to ?? 0)
    ranges.set(client, { client, from: own, to: end })
  }
  // Yjs records the last clock it needs (or, for a reference to an unknown client, our own clock).
  for (const [client, clock] of doc.store.pendingStructs?.missing ?? []) need(client, clock + 1)
  const pendingDeletes = doc.store.pendingDs
  if (pendingDeletes !== null) {
    // Yjs keeps them as an update with no structs (format v2); its delete set names the targets.
    for (const [client, deletions] of Y.decodeUpdateV2(pendingDeletes).ds.clients) {
      let end = 0
      for (const deletion of deletions) end = Math.max(end, deletion.clock + deletion.len)
      if (end > Y.getState(doc.store, client)) need(client, end)
    }
  }
  return ranges.size === 0 ? undefined : [...ranges.values()]
}

/** Whether `holder` (per client, the clock it holds up to) holds every listed range. */
export const holdsRanges = (holder: ReadonlyMap<number, number> | undefined, ranges: readonly ClockRange[]): boolean =>
  ranges.every((range) => (holder?.get(range.client) ?? 0) >= range.to)

/** Two range lists as one, a client at most once (from the lowest start to the furthest end). */
export const mergeRangeLists = (a: readonly ClockRange[], b: readonly ClockRange[]): ClockRange[] => {
  const byClient = new Map<number, ClockRange>()
  for (const range of [...a, ...b]) {
    const known = byClient.get(range.client)
    byClient.set(range.client, known === undefined ? range : { client: range.client, from: Math.min(known.from, range.from), to: Math.max(known.to, range.to) })
  }
  return [...byClient.values()]
}
