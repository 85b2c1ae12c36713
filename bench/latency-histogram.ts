// A latency histogram that crosses process boundaries: cluster-bench workers record delays, send
// the buckets to the parent as JSON, and the parent merges them into cluster-wide percentiles.
// Buckets are logarithmic, 1% wide, from 1 us up: percentiles are within 1% of the exact value.

const GROWTH = Math.log(1.01)
const MIN_US = 1

/** The serialised form: sparse bucket counts plus exact count, sum, min, max. */
export interface HistogramData {
  /** Bucket index -> samples in it. */
  readonly buckets: Record<string, number>
  readonly count: number
  readonly sumMs: number
  readonly minMs: number
  readonly maxMs: number
  /** Samples below zero (clock disagreement between processes); counted in the lowest bucket too. */
  readonly negative: number
}

/** A mergeable log-bucket histogram of millisecond delays. */
export class LatencyHistogram {
  private readonly buckets = new Map<number, number>()
  private count = 0
  private sumMs = 0
  private minMs = Infinity
  private maxMs = -Infinity
  private negative = 0

  /** Records one delay in milliseconds. */
  record(ms: number): void {
    if (ms < 0) this.negative++
    const us = Math.max(MIN_US, ms * 1000)
    const index = Math.floor(Math.log(us) / GROWTH)
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1)
    this.count++
    this.sumMs += ms
    if (ms < this.minMs) this.minMs = ms
    if (ms > this.maxMs) this.maxMs = ms
  }

  /** Adds another histogram's samples (for example one received from a worker). */
  merge(data: HistogramData): void {
    for (const [index, n] of Object.entries(data.buckets)) this.buckets.set(Number(index), (this.buckets.get(Number(index)) ?? 0) + n)
    this.count += data.count
    this.sumMs += data.sumMs
    this.negative += data.negative
    if (data.count > 0) {
      this.minMs = Math.min(this.minMs, data.minMs)
      this.maxMs = Math.max(this.maxMs, data.maxMs)
    }
  }

  /** Samples recorded. */
  get size(): number {
    return this.count
  }

  /** The delay below which `p` (0..100) percent of samples fall, in ms; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    let seen = 0
    for (const index of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(index) ?? 0
      // The bucket's geometric middle, clamped to what was actually seen.
      if (seen >= rank) return Math.min(this.maxMs, Math.max(this.minMs, Math.exp((index + 0.5) * GROWTH) / 1000))
    }
    return this.maxMs
  }

  /** Mean delay in ms; NaN when empty. */
  mean(): number {
    return this.count === 0 ? Number.NaN : this.sumMs / this.count
  }

  /** The JSON form `merge` takes. */
  toJSON(): HistogramData {
    return {
      buckets: Object.fromEntries(this.buckets),
      count: this.count,
      sumMs: this.sumMs,
      minMs: this.count === 0 ? 0 : this.minMs,
      maxMs: this.count === 0 ? 0 : this.maxMs,
      negative: this.negative,
    }
  }
}
