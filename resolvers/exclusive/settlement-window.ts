// How long an owner collects competing claims before settling them (lag compensation).
//
// Claims made at the same instant on a near peer and a far one reach the owner one-way delays
// apart; the window opens when the first arrives, so it must last about the largest one-way delay
// from any member for the far claim to still compete. A fixed window is either unfair on a wide
// cluster or slow on a tight one (20 ms on loopback, where one way is a tenth of a millisecond).
// `auto` sizes it from the measured round trips instead, and falls back to its upper bound for any
// member not measured yet, so not knowing never makes it less fair than the fixed default.
import type { Millis } from '../../core/index.js'

/** Bounds and margin of the measured window. */
export interface AutoWindowOptions {
  /** Never shorter than this, ms. Default 1 (a real timer's granularity). */
  readonly minMs?: Millis
  /** Never longer than this, ms; also the window while some member's round trip is unknown. Default 20. */
  readonly maxMs?: Millis
  /** The largest one-way delay is multiplied by this, for jitter. Default 1.5. */
  readonly factor?: number
}

/** A fixed window in ms, or `auto` (optionally with bounds): sized from measured round trips. */
export type SettlementWindow = Millis | 'auto' | { readonly auto: AutoWindowOptions }

/** Resolves a window setting to a function of the members' round trips (ms; undefined: not measured). */
export const settlementWindow = (setting: SettlementWindow | undefined): ((roundTrips: ReadonlyArray<Millis | undefined>) => Millis) => {
  if (setting === undefined) return () => 20
  if (typeof setting === 'number') {
    if (!(setting >= 0)) throw new RangeError('settlement window must be a non-negative number of ms')
    return () => setting
  }
  const options = setting === 'auto' ? {} : setting.auto
  const minMs = options.minMs ?? 1
  const maxMs = options.maxMs ?? 20
  const factor = options.factor ?? 1.5
  if (!(minMs >= 0) || !(maxMs >= minMs) || !(factor >= 1)) throw new RangeError('auto settlement window: need 0 <= minMs <= maxMs and factor >= 1')
  return (roundTrips) => {
    let oneWay = 0
    for (const rtt of roundTrips) {
      if (rtt === undefined || !Number.isFinite(rtt)) return maxMs
      oneWay = Math.max(oneWay, rtt / 2)
    }
    return Math.min(maxMs, Math.max(minMs, oneWay * factor))
  }
}
