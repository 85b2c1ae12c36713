import { describe, expect, it } from 'vitest'
import { RESPONSE_LEVELS } from '../../../resolvers/index.js'
import { CHEAT_KINDS, cheatersScenario, PROGRAM_SCENARIOS, runCheaters, timePercentiles } from '../../../sim/index.js'

// The population simulation lives in sim/programs/cheaters.ts (the `cheaters` scenario); these tests
// hold it to the targets and check the evidence it leaves.

describe('CheatDetector and validators in a simulated population (the cheaters scenario)', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: catches >= 95% of cheaters of every kind within 5 s with <= 1% false positives among 200 honest bots`, () => {
      const { report } = runCheaters({ seed })
      console.log(`cheaters seed ${seed}: ${JSON.stringify({ detectionRate: report.detectionRate, falsePositiveRate: report.falsePositiveRate, timeToDetectMs: report.timeToDetectMs })}`)
      expect(report.ok).toBe(true)
      expect(report.detectionRate).toBeGreaterThanOrEqual(0.95)
      expect(report.falsePositiveRate).toBeLessThanOrEqual(0.01)
      for (const kind of CHEAT_KINDS) {
        expect(report.perType[kind].bots).toBe(10)
        expect(report.perType[kind].detectionRate).toBeGreaterThanOrEqual(0.9)
        expect(report.perType[kind].timeToDetectMs.max ?? Infinity).toBeLessThanOrEqual(5_000)
      }
      // Teleports are stopped by the speed validator on the first jump; duplication by ownership strikes.
      expect(report.perType.teleport.caughtBy.validator).toBe(10)
      expect(report.perType.duplication.caughtBy.strikes).toBe(10)
      expect(report.perType['rate-abuse'].refusals['rate-limited']).toBeGreaterThan(0)
      expect(report.intents.accepted).toBeLessThan(report.intents.submitted)
    })
  }

  it('leaves an evidence record for every escalation, each one step up and readable by tools', () => {
    const result = runCheaters({ seed: 4, durationMs: 4_000, honest: 100, perKind: 4 })
    expect(result.steps.length).toBeGreaterThan(0)
    for (const bot of result.bots) {
      const records = result.detector.evidence(bot.id)
      expect(records).toEqual(result.steps.filter((step) => step.player === bot.id))
      // Replaying the records from `observe` reaches the level the detector reports now.
      let level: (typeof RESPONSE_LEVELS)[number] = 'observe'
      for (const record of records) {
        expect(record.from).toBe(level)
        expect(Math.abs(RESPONSE_LEVELS.indexOf(record.to) - RESPONSE_LEVELS.indexOf(record.from))).toBe(1)
        expect(record.eventIds.length).toBeGreaterThan(0)
        expect(record.eventIds.every((id) => id.startsWith(`${bot.id}:`))).toBe(true)
        expect(Object.keys(record.features).length).toBeGreaterThan(0)
        expect(record.confidence).toBeGreaterThanOrEqual(0)
        expect(record.confidence).toBeLessThanOrEqual(1)
        level = record.to
      }
      expect(result.detector.levelOf(bot.id)).toBe(level)
    }
    expect(result.detector.evidence().map((record) => record.seq)).toEqual(result.steps.map((record) => record.seq))
  })

  it('is deterministic: the same seed gives the same report and evidence; registered as `cheaters`', () => {
    const options = { seed: 5, durationMs: 2_000, honest: 60, perKind: 2 }
    const a = runCheaters(options)
    const b = runCheaters(options)
    expect(b.report).toEqual(a.report)
    expect(b.steps).toEqual(a.steps)
    expect(PROGRAM_SCENARIOS['cheaters']).toBe(cheatersScenario)
    const text = cheatersScenario.format(a.report)
    expect(text).toMatch(/detection/)
    expect(text).toMatch(/duplication/)
    expect(timePercentiles([])).toEqual({ p50: null, p90: null, p99: null, max: null })
    expect(timePercentiles([3, 1, 2])).toEqual({ p50: 2, p90: 3, p99: 3, max: 3 })
  })
})
