import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openWorldDoc, type Intent } from '../../../core/index.js'
import {
  addSample,
  CheatDetector,
  confidenceOf,
  DEFAULT_CHANGE_DETECTION,
  emptyStats,
  emptyTrack,
  IntentEngine,
  ownershipValidator,
  rateLimitGuard,
  responseGuard,
  speedGuard,
  standardDeviation,
  trackStrength,
  updateTrack,
  withGuards,
  type EvidenceRecord,
} from '../../../resolvers/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { gameHandlers } from '../game-handlers.js'

/** A population of steady players around speed 5 (sd about 1), deterministic without a random source. */
const warm = (detector: CheatDetector, players = 50, rounds = 10): number => {
  let t = 0
  for (let round = 0; round < rounds; round++) {
    for (let p = 0; p < players; p++) {
      const wobble = (((p * 7 + round * 13) % 11) - 5) / 5
      detector.observe({ eventId: `e${round}-${p}`, player: `honest-${p}`, atMs: t++, features: { speed: 5 + wobble } })
    }
  }
  return t
}

describe('running statistics and change detectors', () => {
  it('Welford matches the two-pass mean and sample variance', () => {
    const values = [2, 4, 4, 4, 5, 5, 7, 9]
    const stats = values.reduce(addSample, emptyStats)
    expect(stats.mean).toBeCloseTo(5)
    expect(standardDeviation(stats)).toBeCloseTo(Math.sqrt(32 / 7))
    expect(standardDeviation(addSample(emptyStats, 3))).toBe(0)
  })

  it('EWMA and two-sided CUSUM move on the right side, capped and clipped', () => {
    const tuning = DEFAULT_CHANGE_DETECTION
    let track = emptyTrack
    for (let i = 0; i < 8; i++) track = updateTrack(track, 0, 3, tuning)
    expect(track.cusumHigh).toBeCloseTo(8 * (3 - tuning.cusumSlack))
    expect(track.cusumLow).toBe(0)
    expect(trackStrength(track, 'high', tuning)).toBeGreaterThan(1)
    expect(trackStrength(track, 'low', tuning)).toBe(0)
    expect(trackStrength(track, 'both', tuning)).toBe(trackStrength(track, 'high', tuning))
    for (let i = 0; i < 100; i++) track = updateTrack(track, 0, -1000, tuning)
    expect(track.cusumLow).toBe(tuning.cusumThreshold * tuning.cusumCap)
    expect(track.cusumHigh).toBe(0)
    expect(track.ewma).toBeGreaterThanOrEqual(-tuning.zClip)
    expect(trackStrength(track, 'low', tuning)).toBeGreaterThan(1)
    expect(confidenceOf(0)).toBe(0)
    expect(confidenceOf(1)).toBe(0.5)
    expect(confidenceOf(Infinity)).toBe(1)
  })
})

describe('CheatDetector', () => {
  it('judges no one before the population and the player have their minimum samples', () => {
    const detector = new CheatDetector({ minPopulationSamples: 100, minPlayerSamples: 5 })
    // The first 100 samples only build the baseline, however odd they are.
    for (let i = 0; i < 99; i++) expect(detector.observe({ eventId: `e${i}`, player: `p${i % 10}`, atMs: i, features: { speed: 5 + (i % 3) } }).judged).toBe(false)
    const judgements = [1, 2, 3, 4, 5, 6].map((n) => detector.observe({ eventId: `c${n}`, player: 'cheater', atMs: 100 + n, features: { speed: 500 } }))
    expect(judgements.slice(0, 4).every((j) => !j.judged && j.level === 'observe')).toBe(true)
    expect(judgements[5]?.judged).toBe(true)
  })

  it('escalates one step per observation with evidence, and kick is final', () => {
    const records: EvidenceRecord[] = []
    const detector = new CheatDetector({ minPopulationSamples: 100, onAction: (record) => records.push(record) })
    let t = warm(detector)
    for (let i = 0; i < 40; i++) detector.observe({ eventId: `hack-${i}`, player: 'speedy', atMs: t++, features: { speed: 15 } })
    expect(records.map((r) => r.to)).toEqual(['flag', 'throttle', 'quarantine', 'kick'])
    expect(detector.levelOf('speedy')).toBe('kick')
    expect(detector.playersAtLeast('flag')).toEqual(['speedy'])
    const first = records[0] as EvidenceRecord
    expect(first).toMatchObject({ player: 'speedy', from: 'observe', to: 'flag', leading: 'speed' })
    expect(first.eventIds.at(-1)).toMatch(/^hack-/)
    expect(first.features.speed?.z).toBeGreaterThan(5)
    expect(first.features.speed?.populationMean).toBeCloseTo(5, 0)
    expect(detector.evidence()).toEqual(records)
    expect(detector.confidenceFor('speedy')).toBeGreaterThan(0.97)
    // The cheater never entered the baseline.
    expect(detector.baseline('speed').mean).toBeLessThan(5.5)
  })

  it('steps back down only with hysteresis and after the dwell time', () => {
    const records: EvidenceRecord[] = []
    const detector = new CheatDetector({ minPopulationSamples: 100, stepDownAfterMs: 1000, thresholds: { throttle: 0.99, quarantine: 0.995, kick: 0.999 }, onAction: (r) => records.push(r) })
    let t = warm(detector)
    let i = 0
    while (detector.levelOf('drifter') === 'observe') detector.observe({ eventId: `d${i++}`, player: 'drifter', atMs: t++, features: { speed: 9 } })
    expect(detector.levelOf('drifter')).toBe('flag')
    // Back to normal: the CUSUM drains, but the level holds for the dwell time even once confidence is low.
    const flaggedAt = t
    while (detector.levelOf('drifter') === 'flag') {
      detector.observe({ eventId: `d${i++}`, player: 'drifter', atMs: (t += 50), features: { speed: 5 } })
      expect(t).toBeLessThan(flaggedAt + 60_000)
    }
    expect(t - flaggedAt).toBeGreaterThanOrEqual(1000)
    const down = records.at(-1) as EvidenceRecord
    expect(down).toMatchObject({ from: 'flag', to: 'observe' })
    expect(down.confidence).toBeLessThan(0.5 - 0.15)
  })

  it('ignores non-finite measurements and forgets players on request', () => {
    const detector = new CheatDetector({ minPopulationSamples: 10 })
    warm(detector, 10, 2)
    const before = detector.baseline('speed')
    detector.observe({ eventId: 'x', player: 'p', atMs: 0, features: { speed: Number.NaN, accuracy: Infinity } })
    expect(detector.baseline('speed')).toEqual(before)
    expect(detector.baseline('accuracy').count).toBe(0)
    expect(detector.levelOf('p')).toBe('observe')
    detector.forget('p')
    expect(detector.evidence('p')).toEqual([])
    expect(detector.confidenceFor('nobody')).toBe(0)
  })
})

describe('guards in the IntentEngine', () => {
  it('refuse impossible moves, rate abuse, foreign items and quarantined players through withGuards', async () => {
    const world = openWorldDoc(new Y.Doc())
    const clock = new ManualClock()
    const detector = new CheatDetector({ minPopulationSamples: 100 })
    const response = responseGuard({ levelOf: (player) => detector.levelOf(player) })
    const handlers = {
      ...gameHandlers,
      move: withGuards(gameHandlers.move!, [response, speedGuard({ maxSpeed: 10, tolerance: 0.1 })]),
      drop: withGuards(gameHandlers.drop!, [response, ownershipValidator()]),
      spawn: withGuards(gameHandlers.spawn!, [rateLimitGuard({ burst: 2, perSecond: 1 })]),
    }
    const engine = await IntentEngine.start({ world, worldName: 'w', clock, seed: 1, handlers })
    let seq = 0
    const send = (action: string, payload: Intent['payload'], player = 'p1') => engine.submit(player, { action, seq: ++seq, player, payload })
    expect(await send('move', { x: 0 })).toMatchObject({ type: 'ack' })
    await clock.advance(1000)
    expect(await send('move', { x: 10 })).toMatchObject({ type: 'ack' })
    expect(await send('move', { x: 200 })).toMatchObject({ type: 'reject', reason: 'cheat-suspected' })
    expect(world.getComponent('p1', 'position')).toMatchObject({ x: 10 })
    expect(await send('spawn', { item: 'a' })).toMatchObject({ type: 'ack' })
    expect(await send('spawn', { item: 'b' })).toMatchObject({ type: 'ack' })
    expect(await send('spawn', { item: 'c' })).toMatchObject({ type: 'reject', reason: 'rate-limited' })
    // A spawn the handler refuses (the item exists) spends no token.
    await clock.advance(1000)
    expect(await send('spawn', { item: 'a' })).toMatchObject({ type: 'reject', reason: 'conflict' })
    expect(await send('spawn', { item: 'c' })).toMatchObject({ type: 'ack' })
    expect(await send('drop', { item: 'a' })).toMatchObject({ type: 'reject', reason: 'not-permitted' })
    expect(await send('drop', { item: 'zzz' })).toMatchObject({ type: 'reject', reason: 'invalid-intent' })
    let t = warm(detector)
    for (let i = 0; i < 40; i++) detector.observe({ eventId: `h${i}`, player: 'p1', atMs: t++, features: { speed: 20 } })
    expect(detector.levelOf('p1')).toBe('kick')
    await clock.advance(1000)
    expect(await send('move', { x: 11 })).toMatchObject({ type: 'reject', reason: 'cheat-suspected' })
    expect(await send('move', { x: 0 }, 'p2')).toMatchObject({ type: 'ack' })
  })
})
