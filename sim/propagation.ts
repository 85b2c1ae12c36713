import * as Y from 'yjs'
import type { Millis } from '../core/index.js'

interface Write {
  readonly clock: number
  readonly origin: number
  readonly createdAt: Millis
  /** Arrival time per peer index; NaN until it arrives. */
  readonly arrivals: Float64Array
}

/**
 * Tracks each write from its creation at the origin to its application at every other replica, by
 * the write's Yjs struct id: an update's `parseUpdateMeta` ranges name exactly which writes it
 * carries, whether it came as an incremental update or inside an anti-entropy step 2.
 */
export class PropagationTracker {
  private readonly writes = new Map<string, Map<number, Write[]>>()
  private count = 0

  constructor(private readonly peers: number) {}

  /** Number of writes recorded. */
  get recorded(): number {
    return this.count
  }

  /** Records a local write at `origin` covering struct clocks [clockStart, clockEnd) of `client`. */
  recordWrite(doc: string, client: number, clockStart: number, origin: number, createdAt: Millis): void {
    let byClient = this.writes.get(doc)
    if (!byClient) this.writes.set(doc, (byClient = new Map()))
    let list = byClient.get(client)
    if (!list) byClient.set(client, (list = []))
    const arrivals = new Float64Array(this.peers).fill(Number.NaN)
    arrivals[origin] = createdAt
    list.push({ clock: clockStart, origin, createdAt, arrivals })
    this.count++
  }

  /** Marks every tracked write carried by `update` as arrived at peer `at` (first arrival counts). */
  recordApplied(doc: string, update: Uint8Array, at: number, now: Millis): void {
    const byClient = this.writes.get(doc)
    if (!byClient) return
    const meta = Y.parseUpdateMeta(update)
    for (const [client, to] of meta.to) {
      const list = byClient.get(client)
      if (!list) continue
      const from = meta.from.get(client) ?? 0
      for (let i = lowerBound(list, from); i < list.length; i++) {
        const write = list[i] as Write
        if (write.clock >= to) break
        if (Number.isNaN(write.arrivals[at] as number)) write.arrivals[at] = now
      }
    }
  }

  /** Propagation samples (ms) and the matching stretch samples, over writes and receiving replicas. */
  samples(baseLatency: (from: number, to: number) => number): { propagation: number[]; stretch: number[]; undelivered: number } {
    const propagation: number[] = []
    const stretch: number[] = []
    let undelivered = 0
    for (const byClient of this.writes.values()) {
      for (const list of byClient.values()) {
        for (const write of list) {
          for (let peer = 0; peer < this.peers; peer++) {
            if (peer === write.origin) continue
            const arrived = write.arrivals[peer] as number
            if (Number.isNaN(arrived)) {
              undelivered++
              continue
            }
            const delay = arrived - write.createdAt
            propagation.push(delay)
            const direct = baseLatency(write.origin, peer)
            if (direct > 0) stretch.push(delay / direct)
          }
        }
      }
    }
    return { propagation, stretch, undelivered }
  }
}

const lowerBound = (list: readonly Write[], clock: number): number => {
  let low = 0
  let high = list.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((list[mid] as Write).clock < clock) low = mid + 1
    else high = mid
  }
  return low
}

/** Percentiles of a sample (nearest rank); zeros when empty. */
export const percentiles = (values: number[]): { p50: number; p95: number; p99: number; max: number } => {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0 }
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted[sorted.length - 1] as number }
}
