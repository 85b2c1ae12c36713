// Propagation delays split by how close to an epoch cut the update was created, for the epoch
// benchmarks (issue 7: "p99 around a cut no worse than 2x the steady p99"). A delay is known when
// the update lands, but whether a cut came within a window after its creation may not be known yet,
// so delays wait in small histograms per slot of creation time until every cut that could matter
// has been heard of, then go into a "near a cut" or a "steady" histogram per window. Memory stays
// bounded (a few seconds of slots and a minute of cut times), so a long run does not grow from it.
import { LatencyHistogram, type HistogramData } from './latency-histogram.js'

/** A window around each cut: updates created from `beforeMs` before a cut to `afterMs` after it. */
export interface CutWindow {
  readonly name: string
  readonly beforeMs: number
  readonly afterMs: number
}

/** The window (created within 1 s of a cut) and a tight one (100 ms before to 300 ms after, as the churn scenario reports). */
export const DEFAULT_CUT_WINDOWS: readonly CutWindow[] = [
  { name: 'within1s', beforeMs: 1000, afterMs: 1000 },
  { name: 'tight', beforeMs: 100, afterMs: 300 },
]

/** Delays of one window: updates created near a cut and the rest. */
export interface CutWindowData {
  readonly near: HistogramData
  readonly steady: HistogramData
}

/** Everything recorded, with the window split. */
export interface CutWindowSummary {
  readonly overall: HistogramData
  readonly windows: Record<string, CutWindowData>
}

/** Collects delays by creation time and classifies them against cut times. */
export class CutWindowLatency {
  private readonly slots = new Map<number, LatencyHistogram>()
  private readonly cuts: number[] = []
  private readonly overall = new LatencyHistogram()
  private readonly near = new Map<string, LatencyHistogram>()
  private readonly steady = new Map<string, LatencyHistogram>()
  /** Slots below this index are settled: their delays are classified at once. */
  private settledBelow = -Infinity

  constructor(
    private readonly windows: readonly CutWindow[] = DEFAULT_CUT_WINDOWS,
    /** Width of a creation-time slot, ms: the resolution of "near a cut". */
    private readonly slotMs = 100,
    /** How long after a slot ends its delays wait for cuts to be heard of. */
    private readonly settleMs = 5000,
  ) {
    for (const window of windows) {
      this.near.set(window.name, new LatencyHistogram())
      this.steady.set(window.name, new LatencyHistogram())
    }
  }

  /** Notes a cut (or a switch) at `atMs`, on the same clock as creation times. */
  cut(atMs: number): void {
    this.cuts.push(atMs)
    this.cuts.sort((a, b) => a - b)
  }

  /** Records the delay of an update created at `createdMs`. */
  record(createdMs: number, delayMs: number): void {
    this.overall.record(delayMs)
    const slot = Math.floor(createdMs / this.slotMs)
    if (slot < this.settledBelow) {
      // Late: the cuts that matter have long been heard of.
      this.classify(slot).forEach((isNear, name) => (isNear ? this.near : this.steady).get(name)?.record(delayMs))
      return
    }
    let histogram = this.slots.get(slot)
    if (histogram === undefined) this.slots.set(slot, (histogram = new LatencyHistogram()))
    histogram.record(delayMs)
  }

  /** Classifies every slot that ended `settleMs` before `nowMs` (all of them with `all`). */
  settle(nowMs: number, all = false): void {
    const limit = all ? Infinity : Math.floor((nowMs - this.settleMs) / this.slotMs)
    for (const [slot, histogram] of [...this.slots].sort(([a], [b]) => a - b)) {
      if (slot >= limit) break
      const data = histogram.toJSON()
      this.classify(slot).forEach((isNear, name) => (isNear ? this.near : this.steady).get(name)?.merge(data))
      this.slots.delete(slot)
    }
    if (Number.isFinite(limit)) this.settledBelow = Math.max(this.settledBelow, limit)
    // Cut times are needed only as far back as a late update could reach.
    const horizon = nowMs - 60_000
    while (this.cuts.length > 0 && (this.cuts[0] as number) < horizon && !all) this.cuts.shift()
  }

  /** The histograms so far (settle first to include recent delays). */
  summary(): CutWindowSummary {
    const windows: Record<string, CutWindowData> = {}
    for (const window of this.windows) {
      windows[window.name] = { near: (this.near.get(window.name) as LatencyHistogram).toJSON(), steady: (this.steady.get(window.name) as LatencyHistogram).toJSON() }
    }
    return { overall: this.overall.toJSON(), windows }
  }

  /** Per window: whether the slot's middle lies within it around some cut. */
  private classify(slot: number): Map<string, boolean> {
    const middle = (slot + 0.5) * this.slotMs
    const result = new Map<string, boolean>()
    for (const window of this.windows) {
      result.set(window.name, this.cuts.some((cut) => middle >= cut - window.beforeMs && middle <= cut + window.afterMs))
    }
    return result
  }
}

/** Merges summaries from several processes (or phases) into one. */
export const mergeCutWindowSummaries = (summaries: readonly CutWindowSummary[]): { overall: LatencyHistogram; near: Map<string, LatencyHistogram>; steady: Map<string, LatencyHistogram> } => {
  const overall = new LatencyHistogram()
  const near = new Map<string, LatencyHistogram>()
  const steady = new Map<string, LatencyHistogram>()
  for (const summary of summaries) {
    overall.merge(summary.overall)
    for (const [name, data] of Object.entries(summary.windows)) {
      if (!near.has(name)) near.set(name, new LatencyHistogram())
      if (!steady.has(name)) steady.set(name, new LatencyHistogram())
      near.get(name)?.merge(data.near)
      steady.get(name)?.merge(data.steady)
    }
  }
  return { overall, near, steady }
}
