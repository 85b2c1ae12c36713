import type { LinkReport, NetworkCoordinate } from '../core/index.js'
import { coordinateDistance } from './vivaldi.js'

// Latencies are compared in buckets about 10% wide, so two peers that measured 41.2 and 41.9 ms
// build the same trees, and a tree changes only when a link really moved.
const BUCKET = Math.log(1.1)
/** A latency's bucket (about 10% wide): the value trees are built from. */
export const quantizeLatency = (ms: number): number => Math.exp(Math.round(Math.log(Math.max(0.1, ms)) / BUCKET) * BUCKET)

/**
 * The latency map every peer keeps of the whole cluster: each peer's measured one-way latencies to
 * the peers it talks to (its own, and those reported in pings), and network coordinates to estimate
 * pairs nobody measured. `version` changes whenever a latency moves to another bucket or a link goes
 * up or down, which is when dissemination trees must be rebuilt.
 */
export class LatencyMap {
  private readonly reports = new Map<string, Map<string, number | null>>()
  private readonly coordinates = new Map<string, NetworkCoordinate>()
  private readonly cache = new Map<string, number>()
  /** Bumped whenever an answer of `oneWay` may have changed. */
  version = 0

  /**
   * Records what `reporter` measured: a `full` report replaces its previous one, a partial one
   * (a delta ping, replication/link-report-ledger.ts) changes only the links it names.
   */
  report(reporter: string, links: readonly LinkReport[], full = true): void {
    const previous = this.reports.get(reporter)
    const next = full || previous === undefined ? new Map<string, number | null>() : new Map(previous)
    for (const link of links) if (link.peer !== reporter) next.set(link.peer, link.oneWayMs === null ? null : quantizeLatency(link.oneWayMs))
    let changed = previous === undefined || previous.size !== next.size
    if (!changed) for (const [peer, value] of next) if (previous!.get(peer) !== value) changed = true
    this.reports.set(reporter, next)
    if (changed) this.invalidate()
  }

  /** Records a peer's network coordinate. */
  coordinate(peer: string, coordinate: NetworkCoordinate): void {
    this.coordinates.set(peer, coordinate)
    // Estimates from coordinates move with them; measured pairs are re-read cheaply. Trees are
    // rebuilt only on `version` changes (measurements), so a drifting estimate does not shake them.
    this.cache.clear()
  }

  /** Forgets a peer entirely (it left the cluster). */
  forget(peer: string): void {
    if (this.reports.delete(peer)) this.invalidate()
    this.coordinates.delete(peer)
  }

  /**
   * One-way latency between two peers: the mean of what each side measured, Infinity if either side
   * reports the link down, otherwise the coordinates' estimate, otherwise `fallbackMs`.
   */
  oneWay(a: string, b: string, fallbackMs = 100): number {
    if (a === b) return 0
    const key = a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`
    const cached = this.cache.get(key)
    if (cached !== undefined) return cached
    const ab = this.reports.get(a)?.get(b)
    const ba = this.reports.get(b)?.get(a)
    let value: number
    if (ab === null || ba === null) value = Infinity
    else if (ab !== undefined && ba !== undefined) value = quantizeLatency((ab + ba) / 2)
    else if (ab !== undefined || ba !== undefined) value = (ab ?? ba) as number
    else {
      const ca = this.coordinates.get(a)
      const cb = this.coordinates.get(b)
      value = ca && cb ? quantizeLatency(coordinateDistance(ca, cb)) : fallbackMs
    }
    this.cache.set(key, value)
    return value
  }

  private invalidate(): void {
    this.cache.clear()
    this.version++
  }
}
