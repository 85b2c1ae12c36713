import type { Millis } from '../core/index.js'

/** When a document moves to a new epoch. Any bound that is reached triggers a cut. */
export interface EpochOptions {
  /** Cut when the epoch's encoded size passes this multiple of its live content's encoded size. Default 4. */
  readonly maxSizeRatio?: number
  /** Never cut an epoch smaller than this many encoded bytes (tiny documents are cheap anyway). Default 4096. */
  readonly minBytes?: number
  /** Also cut an epoch older than this (ms of the injected clock), if it is past `minBytes`. Default: no age bound. */
  readonly maxAgeMs?: Millis
  /** How often the coordinator checks its bounds. Default 250 ms. */
  readonly checkIntervalMs?: Millis
  /** Least time between two announcements to one peer for one document (answers to stale frames). Default 200 ms. */
  readonly announceIntervalMs?: Millis
  /**
   * How long a lower-id replica whose link went down still counts as the coordinator, in ms. A
   * link that flaps (an event loop stalled past a keep-alive) must not hand the cut to a second
   * peer, which would fork the epoch; a peer that is really gone delays cuts by this much. Default 5000.
   */
  readonly coordinatorGraceMs?: Millis
}

/** Epoch options with every default filled in. */
export interface EpochSettings {
  readonly maxSizeRatio: number
  readonly minBytes: number
  readonly maxAgeMs: Millis | undefined
  readonly checkIntervalMs: Millis
  readonly announceIntervalMs: Millis
  readonly coordinatorGraceMs: Millis
}

/** Fills in defaults and checks ranges; throws `RangeError` on nonsense. */
export const resolveEpochSettings = (options: EpochOptions): EpochSettings => {
  const settings: EpochSettings = {
    maxSizeRatio: options.maxSizeRatio ?? 4,
    minBytes: options.minBytes ?? 4096,
    maxAgeMs: options.maxAgeMs,
    checkIntervalMs: options.checkIntervalMs ?? 250,
    announceIntervalMs: options.announceIntervalMs ?? 200,
    coordinatorGraceMs: options.coordinatorGraceMs ?? 5000,
  }
  if (!(settings.maxSizeRatio > 1)) throw new RangeError('epochs: maxSizeRatio must be above 1')
  if (!(settings.minBytes >= 0) || !(settings.checkIntervalMs > 0) || !(settings.announceIntervalMs >= 0) || !(settings.coordinatorGraceMs >= 0)) throw new RangeError('epochs: sizes and intervals must be positive')
  if (settings.maxAgeMs !== undefined && !(settings.maxAgeMs > 0)) throw new RangeError('epochs: maxAgeMs must be positive')
  return settings
}
