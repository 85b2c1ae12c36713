import type { Millis } from '../core/index.js'

/** Settings of round-trip estimation, with defaults in `DEFAULT_RTT_SETTINGS`. */
export interface RttSettings {
  /** Gain of the smoothed RTT (RFC 6298's alpha). */
  readonly alpha: number
  /** Gain of the RTT variation (RFC 6298's beta). */
  readonly beta: number
  /** Probes the loss rate is measured over (a sliding window). */
  readonly lossWindow: number
  /** A probe with no answer after this long counts as lost, at least; otherwise srtt + 4 x rttvar. */
  readonly minTimeoutMs: Millis
  /** Probes lost in a row before the link counts as down. */
  readonly downAfterLosses: number
}

/** Defaults: RFC 6298 gains, loss over the last 20 probes, down after three silent probes. */
export const DEFAULT_RTT_SETTINGS: RttSettings = { alpha: 1 / 8, beta: 1 / 4, lossWindow: 20, minTimeoutMs: 200, downAfterLosses: 3 }

/**
 * Round-trip estimate of one link from ping/pong samples: smoothed RTT and variation as TCP keeps
 * them (RFC 6298), an average loss rate over probes, and whether the link answers at all.
 */
export class RttEstimator {
  /** Smoothed round-trip time in ms, or undefined before the first sample. */
  srtt: Millis | undefined
  /** Round-trip variation in ms. */
  rttvar: Millis = 0
  /** Fraction of the last `lossWindow` probes that were lost. */
  lossRate = 0
  private readonly outcomes: boolean[] = []
  private lostInWindow = 0
  /** Probes lost since the last answer. */
  lostInARow = 0
  /** Samples taken. */
  samples = 0

  constructor(private readonly settings: RttSettings = DEFAULT_RTT_SETTINGS) {}

  /** Feeds an answered probe's round trip. */
  sample(rttMs: Millis): void {
    const rtt = Math.max(0, rttMs)
    if (this.srtt === undefined) {
      this.srtt = rtt
      this.rttvar = rtt / 2
    } else {
      this.rttvar = (1 - this.settings.beta) * this.rttvar + this.settings.beta * Math.abs(this.srtt - rtt)
      this.srtt = (1 - this.settings.alpha) * this.srtt + this.settings.alpha * rtt
    }
    this.samples++
    this.lostInARow = 0
    this.record(false)
  }

  /** Feeds a probe that was never answered. */
  lost(): void {
    this.lostInARow++
    this.record(true)
  }

  /**
   * A probe counted lost was answered after all, only late (a busy peer, a long pause): take the
   * loss back, so an overloaded cluster is not mistaken for a lossy one.
   */
  recovered(): void {
    const index = this.outcomes.lastIndexOf(true)
    if (index === -1) return
    this.outcomes[index] = false
    this.lostInWindow--
    this.lostInARow = 0
    this.lossRate = this.lostInWindow / this.outcomes.length
  }

  /** Probes counted in the current loss window. */
  get probes(): number {
    return this.outcomes.length
  }

  private record(lost: boolean): void {
    this.outcomes.push(lost)
    if (lost) this.lostInWindow++
    if (this.outcomes.length > this.settings.lossWindow && this.outcomes.shift() === true) this.lostInWindow--
    this.lossRate = this.lostInWindow / this.outcomes.length
  }

  /** How long to wait for an answer before counting a probe lost. */
  timeoutMs(): Millis {
    if (this.srtt === undefined) return Math.max(this.settings.minTimeoutMs, 1000)
    return Math.max(this.settings.minTimeoutMs, this.srtt + 4 * this.rttvar)
  }

  /**
   * Whether the link answers: measured, and not silent for `downAfterLosses` probes in a row, or
   * more on a lossy link (as many as make a run of chance losses rarer than 1 in 1000), so a lossy
   * but working link does not flap and shake every tree that uses it.
   */
  get up(): boolean {
    if (this.srtt === undefined) return false
    // The loss rate before the current silence: a dead link's own losses must not excuse it.
    const streak = Math.min(this.lostInARow, this.outcomes.length)
    const before = this.outcomes.length - streak
    const rate = before === 0 ? 0 : Math.min(0.9, (this.lostInWindow - streak) / before)
    const needed = rate > 0 ? Math.max(this.settings.downAfterLosses, Math.ceil(Math.log(0.001) / Math.log(rate))) : this.settings.downAfterLosses
    return this.lostInARow < needed
  }

  /**
   * Estimated one-way loss: a probe is lost if either the ping or the pong is, so with one-way loss
   * p the probe loss is 1 - (1 - p)^2; inverted here.
   */
  oneWayLoss(): number {
    return 1 - Math.sqrt(Math.max(0, 1 - this.lossRate))
  }

  /** One-way latency estimate (half the smoothed RTT), or undefined before the first sample. */
  oneWayMs(): Millis | undefined {
    return this.srtt === undefined ? undefined : this.srtt / 2
  }
}
