import type { Millis } from '../../core/index.js'
import {
  addSample,
  CHEAT_FEATURES,
  confidenceOf,
  DEFAULT_CHANGE_DETECTION,
  emptyStats,
  emptyTrack,
  standardDeviation,
  trackStrength,
  updateTrack,
  type ChangeDetection,
  type CheatFeature,
  type FeatureTrack,
  type RunningStats,
  type Suspicion,
} from './player-stats.js'

/** The graduated response, mildest first. */
export const RESPONSE_LEVELS = ['observe', 'flag', 'throttle', 'quarantine', 'kick'] as const

/** One step of the graduated response. */
export type ResponseLevel = (typeof RESPONSE_LEVELS)[number]

/** Confidence at which each step above `observe` is reached. */
export type ResponseThresholds = Readonly<Record<Exclude<ResponseLevel, 'observe'>, number>>

/** One player's behaviour at one moment; features it did not measure are left out. */
export interface BehaviourObservation {
  /** Id of the event the features were measured from (an intent, a shot), kept as evidence. */
  readonly eventId: string
  readonly player: string
  /** Injected-clock time of the event. */
  readonly atMs: Millis
  readonly features: Readonly<Partial<Record<CheatFeature, number>>>
}

/** What the evidence says about one feature at the moment of a step. */
export interface FeatureEvidence {
  readonly value: number
  readonly z: number
  readonly ewma: number
  readonly cusumHigh: number
  readonly cusumLow: number
  readonly spikesHigh: number
  readonly spikesLow: number
  readonly strength: number
  readonly samples: number
  /** Population baseline the z was taken against. */
  readonly populationMean: number
  readonly populationStdDev: number
}

/** The record of one response step, for tools and for an audit ledger. */
export interface EvidenceRecord {
  /** Position in the detector's sequence of steps, from 1. */
  readonly seq: number
  readonly player: string
  readonly atMs: Millis
  readonly from: ResponseLevel
  readonly to: ResponseLevel
  readonly confidence: number
  /** The feature that drove the confidence. */
  readonly leading: CheatFeature
  readonly features: Readonly<Partial<Record<CheatFeature, FeatureEvidence>>>
  /** Ids of the player's most recent events, newest last. */
  readonly eventIds: readonly string[]
  /** The observations this player had made when the step was taken. */
  readonly samples: number
}

/** The detector's view of one player after an observation. */
export interface Judgement {
  readonly player: string
  readonly level: ResponseLevel
  readonly confidence: number
  /** Whether the population and the player have enough samples for a judgement yet. */
  readonly judged: boolean
  /** The step taken by this observation, if any. */
  readonly step?: EvidenceRecord
}

/** Settings of a `CheatDetector`; every field has a default. */
export interface CheatDetectorOptions {
  /** Suspicious side per feature. Default: low reaction time, everything else high. */
  readonly suspicion?: Readonly<Partial<Record<CheatFeature, Suspicion>>>
  readonly changeDetection?: Partial<ChangeDetection>
  /** Population samples per feature before any z is taken. Default 200. */
  readonly minPopulationSamples?: number
  /** Samples of a player before it can leave `observe`. Default 5. */
  readonly minPlayerSamples?: number
  /** Default flag 0.5, throttle 0.75, quarantine 0.875, kick 0.97. */
  readonly thresholds?: Partial<ResponseThresholds>
  /** Confidence must fall this far below a step's threshold before the player steps back down. Default 0.15. */
  readonly hysteresis?: number
  /** Least time at a level before stepping down. Default 2000 ms. */
  readonly stepDownAfterMs?: Millis
  /** Once warm, samples farther than this many standard deviations out are kept out of the baseline. Default 3.5. */
  readonly baselineRejectZ?: number
  /** Event ids remembered per player for evidence. Default 16. */
  readonly eventIdsKept?: number
  /** Evidence records kept per player (the oldest are dropped). Default 256. */
  readonly evidenceKept?: number
  /** Called with the evidence record of every step, so an audit ledger can record it. */
  readonly onAction?: (record: EvidenceRecord) => void
}

interface PlayerState {
  level: ResponseLevel
  levelSinceMs: Millis
  confidence: number
  samples: number
  readonly tracks: Map<CheatFeature, FeatureTrack>
  readonly eventIds: string[]
  readonly evidence: EvidenceRecord[]
}

const DEFAULT_SUSPICION: Readonly<Record<CheatFeature, Suspicion>> = { speed: 'high', actionRate: 'high', accuracy: 'high', reactionTime: 'low', resourceGain: 'high' }
const DEFAULT_THRESHOLDS: ResponseThresholds = { flag: 0.5, throttle: 0.75, quarantine: 0.875, kick: 0.97 }

const rank = (level: ResponseLevel): number => RESPONSE_LEVELS.indexOf(level)

/**
 * Statistical cheat detection per player: each feature is compared with a population baseline
 * (Welford running mean and variance across players), and its z scores feed an EWMA and a two-sided
 * CUSUM. The strongest alarm becomes a confidence in [0, 1]; the confidence moves the player along
 * observe -> flag -> throttle -> quarantine -> kick one step per observation, with hysteresis on the
 * way down, and every step leaves an evidence record. Sans-IO and deterministic: time arrives with
 * each observation, and the same observations in the same order give the same records.
 */
export class CheatDetector {
  private readonly players = new Map<string, PlayerState>()
  private readonly population = new Map<CheatFeature, RunningStats>()
  private readonly suspicion: Readonly<Record<CheatFeature, Suspicion>>
  private readonly tuning: ChangeDetection
  private readonly thresholds: ResponseThresholds
  private readonly minPopulationSamples: number
  private readonly minPlayerSamples: number
  private readonly hysteresis: number
  private readonly stepDownAfterMs: Millis
  private readonly baselineRejectZ: number
  private readonly eventIdsKept: number
  private readonly evidenceKept: number
  private stepCount = 0

  constructor(private readonly options: CheatDetectorOptions = {}) {
    this.suspicion = { ...DEFAULT_SUSPICION, ...options.suspicion }
    this.tuning = { ...DEFAULT_CHANGE_DETECTION, ...options.changeDetection }
    this.thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds }
    this.minPopulationSamples = options.minPopulationSamples ?? 200
    this.minPlayerSamples = options.minPlayerSamples ?? 5
    this.hysteresis = options.hysteresis ?? 0.15
    this.stepDownAfterMs = options.stepDownAfterMs ?? 2000
    this.baselineRejectZ = options.baselineRejectZ ?? 3.5
    this.eventIdsKept = options.eventIdsKept ?? 16
    this.evidenceKept = options.evidenceKept ?? 256
  }

  /** Takes one observation, updates baseline and the player's detectors, and steps the response if due. */
  observe(observation: BehaviourObservation): Judgement {
    const { player, atMs } = observation
    const state = this.stateOf(player, atMs)
    state.samples++
    state.eventIds.push(String(observation.eventId))
    if (state.eventIds.length > this.eventIdsKept) state.eventIds.shift()
    for (const feature of CHEAT_FEATURES) {
      const value = observation.features[feature]
      // A non-finite measurement is bad input from somewhere upstream: skip it, never poison the baseline.
      if (typeof value !== 'number' || !Number.isFinite(value)) continue
      this.observeFeature(state, feature, value)
    }
    const judged = state.samples >= this.minPlayerSamples && this.isWarm()
    const { confidence, leading } = this.confidenceOf(state)
    state.confidence = judged ? confidence : 0
    const step = judged ? this.maybeStep(player, state, atMs, leading) : undefined
    return { player, level: state.level, confidence: state.confidence, judged, ...(step ? { step } : {}) }
  }

  /** A player's current response level (`observe` for players never seen). */
  levelOf(player: string): ResponseLevel {
    return this.players.get(player)?.level ?? 'observe'
  }

  /** A player's current confidence score in [0, 1]. */
  confidenceFor(player: string): number {
    return this.players.get(player)?.confidence ?? 0
  }

  /** Evidence records of one player, or of every player ordered by step, oldest first. */
  evidence(player?: string): EvidenceRecord[] {
    if (player !== undefined) return [...(this.players.get(player)?.evidence ?? [])]
    return [...this.players.values()].flatMap((state) => state.evidence).sort((a, b) => a.seq - b.seq)
  }

  /** Players at or above a level, sorted. */
  playersAtLeast(level: ResponseLevel): string[] {
    return [...this.players.entries()]
      .filter(([, state]) => rank(state.level) >= rank(level))
      .map(([player]) => player)
      .sort()
  }

  /** The population baseline of a feature (count, mean, standard deviation). */
  baseline(feature: CheatFeature): { count: number; mean: number; stdDev: number } {
    const stats = this.population.get(feature) ?? emptyStats
    return { count: stats.count, mean: stats.mean, stdDev: standardDeviation(stats) }
  }

  /** Drops a player's state (it left); its evidence goes with it, so read it first. */
  forget(player: string): void {
    this.players.delete(player)
  }

  private stateOf(player: string, atMs: Millis): PlayerState {
    let state = this.players.get(player)
    if (state === undefined) {
      state = { level: 'observe', levelSinceMs: atMs, confidence: 0, samples: 0, tracks: new Map(), eventIds: [], evidence: [] }
      this.players.set(player, state)
    }
    return state
  }

  private isWarm(): boolean {
    // Judgement waits until at least one feature has a baseline worth comparing against.
    for (const stats of this.population.values()) if (stats.count >= this.minPopulationSamples) return true
    return false
  }

  private observeFeature(state: PlayerState, feature: CheatFeature, value: number): void {
    const stats = this.population.get(feature) ?? emptyStats
    if (stats.count < this.minPopulationSamples) {
      this.population.set(feature, addSample(stats, value))
      return
    }
    const sd = standardDeviation(stats)
    // A feature with no spread yet (everyone identical) gives no meaningful z; a tiny floor keeps it finite.
    const z = (value - stats.mean) / Math.max(sd, 1e-9)
    state.tracks.set(feature, updateTrack(state.tracks.get(feature) ?? emptyTrack, value, z, this.tuning))
    // Suspects and outliers stay out of the baseline, so cheaters cannot drag the population towards themselves.
    if (state.level === 'observe' && Math.abs(z) <= this.baselineRejectZ) this.population.set(feature, addSample(stats, value))
  }

  private confidenceOf(state: PlayerState): { confidence: number; leading: CheatFeature } {
    let best = 0
    let leading: CheatFeature = CHEAT_FEATURES[0]
    for (const [feature, track] of state.tracks) {
      if (track.samples < this.minPlayerSamples) continue
      const strength = trackStrength(track, this.suspicion[feature], this.tuning)
      if (strength > best) {
        best = strength
        leading = feature
      }
    }
    return { confidence: confidenceOf(best), leading }
  }

  private targetLevel(confidence: number): ResponseLevel {
    let target: ResponseLevel = 'observe'
    for (const level of RESPONSE_LEVELS) if (level !== 'observe' && confidence >= this.thresholds[level]) target = level
    return target
  }

  private maybeStep(player: string, state: PlayerState, atMs: Millis, leading: CheatFeature): EvidenceRecord | undefined {
    if (state.level === 'kick') return undefined
    const current = rank(state.level)
    const target = rank(this.targetLevel(state.confidence))
    let next = current
    if (target > current) next = current + 1
    else if (current > 0 && target < current) {
      const threshold = this.thresholds[state.level as Exclude<ResponseLevel, 'observe'>]
      if (state.confidence < threshold - this.hysteresis && atMs - state.levelSinceMs >= this.stepDownAfterMs) next = current - 1
    }
    if (next === current) return undefined
    const record = this.record(player, state, atMs, RESPONSE_LEVELS[next] as ResponseLevel, leading)
    state.level = record.to
    state.levelSinceMs = atMs
    state.evidence.push(record)
    if (state.evidence.length > this.evidenceKept) state.evidence.shift()
    this.options.onAction?.(record)
    return record
  }

  private record(player: string, state: PlayerState, atMs: Millis, to: ResponseLevel, leading: CheatFeature): EvidenceRecord {
    const features: Partial<Record<CheatFeature, FeatureEvidence>> = {}
    for (const [feature, track] of state.tracks) {
      const stats = this.population.get(feature) ?? emptyStats
      features[feature] = {
        value: track.value,
        z: track.z,
        ewma: track.ewma,
        cusumHigh: track.cusumHigh,
        cusumLow: track.cusumLow,
        spikesHigh: track.spikesHigh,
        spikesLow: track.spikesLow,
        strength: trackStrength(track, this.suspicion[feature], this.tuning),
        samples: track.samples,
        populationMean: stats.mean,
        populationStdDev: standardDeviation(stats),
      }
    }
    return { seq: ++this.stepCount, player, atMs, from: state.level, to, confidence: state.confidence, leading, features, eventIds: [...state.eventIds], samples: state.samples }
  }
}
