/** The behaviour features the detector tracks per player. */
export const CHEAT_FEATURES = ['speed', 'actionRate', 'accuracy', 'reactionTime', 'resourceGain'] as const

/** One tracked feature. */
export type CheatFeature = (typeof CHEAT_FEATURES)[number]

/** Which side of the population is suspicious: fast movers are, slow ones are not; both sides for anything odd. */
export type Suspicion = 'high' | 'low' | 'both'

/** Running mean and variance by Welford's method: numerically stable, one pass, O(1) state. */
export interface RunningStats {
  readonly count: number
  readonly mean: number
  /** Sum of squared deviations from the mean. */
  readonly m2: number
}

/** Statistics of no samples. */
export const emptyStats: RunningStats = Object.freeze({ count: 0, mean: 0, m2: 0 })

/** Adds one sample (Welford's update); pure. */
export const addSample = (stats: RunningStats, value: number): RunningStats => {
  const count = stats.count + 1
  const delta = value - stats.mean
  const mean = stats.mean + delta / count
  return { count, mean, m2: stats.m2 + delta * (value - mean) }
}

/** Sample standard deviation (0 below two samples). */
export const standardDeviation = (stats: RunningStats): number => (stats.count < 2 ? 0 : Math.sqrt(stats.m2 / (stats.count - 1)))

/** Tuning of the per-feature change detectors, in units of population standard deviations (z). */
export interface ChangeDetection {
  /** EWMA weight of the newest z. Default 0.1. */
  readonly ewmaLambda: number
  /** EWMA level counted as a full alarm. Default 2. */
  readonly ewmaLimit: number
  /** CUSUM slack k: drift per sample tolerated as normal, above an honest player's own offset from the population (people differ). Default 1.5. */
  readonly cusumSlack: number
  /** CUSUM decision threshold h. Default 10. */
  readonly cusumThreshold: number
  /** CUSUM sums stop at this multiple of h, so a reformed player's score can come back down. Default 4. */
  readonly cusumCap: number
  /** z values are clipped to +-this before entering EWMA and CUSUM, so one glitch cannot alarm alone. Default 8. */
  readonly zClip: number
  /** A sample farther out than this many standard deviations counts as a spike. Default 6. */
  readonly spikeZ: number
  /** Spike counts decay by this factor per sample (0.95: half-life about 14 samples). Default 0.95. */
  readonly spikeDecay: number
  /** Decayed spike count counted as a full alarm. Default 1.5: two spikes close together. */
  readonly spikeLimit: number
}

/** Default change detection tuning. */
export const DEFAULT_CHANGE_DETECTION: ChangeDetection = Object.freeze({ ewmaLambda: 0.1, ewmaLimit: 2, cusumSlack: 1.5, cusumThreshold: 10, cusumCap: 4, zClip: 8, spikeZ: 6, spikeDecay: 0.95, spikeLimit: 1.5 })

/** One player's change detectors for one feature. */
export interface FeatureTrack {
  readonly samples: number
  /** Last raw value and its z against the population. */
  readonly value: number
  readonly z: number
  /** Exponentially weighted mean of z. */
  readonly ewma: number
  /** Two-sided CUSUM (Page, 1954): evidence that the player's mean sits above / below the population's. */
  readonly cusumHigh: number
  readonly cusumLow: number
  /**
   * Decayed counts of samples beyond `spikeZ` above / below: a mean-shift detector misses a cheat that
   * is normal most of the time and impossible now and then (teleports), a spike count does not.
   */
  readonly spikesHigh: number
  readonly spikesLow: number
}

/** A track with no samples. */
export const emptyTrack: FeatureTrack = Object.freeze({ samples: 0, value: 0, z: 0, ewma: 0, cusumHigh: 0, cusumLow: 0, spikesHigh: 0, spikesLow: 0 })

/** Feeds one z score into a feature's EWMA and two-sided CUSUM; pure. */
export const updateTrack = (track: FeatureTrack, value: number, z: number, tuning: ChangeDetection): FeatureTrack => {
  const clipped = Math.max(-tuning.zClip, Math.min(tuning.zClip, z))
  const cap = tuning.cusumThreshold * tuning.cusumCap
  return {
    samples: track.samples + 1,
    value,
    z,
    ewma: tuning.ewmaLambda * clipped + (1 - tuning.ewmaLambda) * track.ewma,
    cusumHigh: Math.min(cap, Math.max(0, track.cusumHigh + clipped - tuning.cusumSlack)),
    cusumLow: Math.min(cap, Math.max(0, track.cusumLow - clipped - tuning.cusumSlack)),
    spikesHigh: track.spikesHigh * tuning.spikeDecay + (z > tuning.spikeZ ? 1 : 0),
    spikesLow: track.spikesLow * tuning.spikeDecay + (z < -tuning.spikeZ ? 1 : 0),
  }
}

/**
 * How alarming a track is on its suspicious side(s): 1 means one detector reached its limit, 2 twice
 * over. The largest of CUSUM / h, EWMA / limit and spikes / limit, so shifts, slow drifts and
 * repeated impossible samples all count.
 */
export const trackStrength = (track: FeatureTrack, side: Suspicion, tuning: ChangeDetection): number => {
  const high = Math.max(track.cusumHigh / tuning.cusumThreshold, track.ewma / tuning.ewmaLimit, track.spikesHigh / tuning.spikeLimit)
  const low = Math.max(track.cusumLow / tuning.cusumThreshold, -track.ewma / tuning.ewmaLimit, track.spikesLow / tuning.spikeLimit)
  const strength = side === 'high' ? high : side === 'low' ? low : Math.max(high, low)
  return Math.max(0, strength)
}

/** Maps a strength to a confidence in [0, 1): 0 at no evidence, 0.5 at one full alarm, 0.75 at two. */
export const confidenceOf = (strength: number): number => (strength > 0 && Number.isFinite(strength) ? 1 - 2 ** -strength : strength > 0 ? 1 : 0)
