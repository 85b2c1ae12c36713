import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { runCli } from '../../cli/index.js'
import { churnProgram, PROGRAM_SCENARIOS, runEpochWorld, type ChurnReport, type EpochWorldFault } from '../../sim/index.js'

const PEERS = 3
const DURATION = 1200

const faultArb: fc.Arbitrary<EpochWorldFault> = fc.oneof(
  fc.record({
    type: fc.constant('partition' as const),
    at: fc.integer({ min: 100, max: DURATION - 200 }),
    durationMs: fc.integer({ min: 100, max: 800 }),
    groups: fc.constantFrom([[0], [1, 2]], [[0, 1], [2]], [[0, 2], [1]]),
  }),
  fc.record({
    type: fc.constant('crash' as const),
    at: fc.integer({ min: 100, max: DURATION - 200 }),
    peer: fc.integer({ min: 0, max: PEERS - 1 }),
    downMs: fc.integer({ min: 50, max: 600 }),
  }),
)

describe('document epochs under faults (simulator properties)', () => {
  it('random writes, random cuts by any peer, partitions, crashes, loss and duplicated frames: one epoch, one content, nothing lost or duplicated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(faultArb, { maxLength: 2 }),
        fc.array(fc.record({ at: fc.integer({ min: 50, max: DURATION }), peer: fc.integer({ min: 0, max: PEERS - 1 }) }), { maxLength: 4 }),
        fc.constantFrom(0, 0.02),
        fc.constantFrom(0, 0.05),
        (seed, faults, forcedCuts, loss, duplicate) => {
          const result = runEpochWorld({
            seed,
            peers: PEERS,
            durationMs: DURATION,
            updatesPerSecond: 300,
            entities: 20,
            maxSizeRatio: 3,
            minBytes: 2048,
            faults,
            forcedCuts,
            loss,
            duplicate,
            sampleEveryMs: 500,
            settleMs: 5000,
          })
          expect(result.problems).toEqual([])
          expect(result.converged).toBe(true)
          expect(result.lostUpdates).toBe(0)
          expect(result.duplicatedUpdates).toBe(0)
          expect(result.checkedWrites).toBeGreaterThan(0)
        },
      ),
      { numRuns: 8, seed: 7 },
    )
  })

  it('keeps deletes that cross a cut deleted (seeds the property hunt found resurrecting a key)', () => {
    for (const [seed, forcedCuts] of [
      [999989, [{ at: 518, peer: 0 }]],
      [999996, []],
    ] as const) {
      const result = runEpochWorld({ seed, peers: 4, durationMs: 2000, updatesPerSecond: 600, entities: 20, maxSizeRatio: 3, minBytes: 2048, faults: [], forcedCuts, sampleEveryMs: 500 })
      expect(result.problems).toEqual([])
      expect(result.duplicatedUpdates).toBe(0)
    }
  })

  it('the churn scenario keeps the document within its bound through a partition and reports it (realmsync sim churn --json)', async () => {
    expect(PROGRAM_SCENARIOS.churn).toBe(churnProgram)
    const out: string[] = []
    expect(await runCli(['sim', 'churn', '--json', '--seed', '3', '--peers', '2'], { out: (text) => out.push(text), err: () => {} })).toBe(0)
    const report = JSON.parse(out.join('')) as ChurnReport
    expect(report).toMatchObject({ scenario: 'churn', ok: true, converged: true, lostUpdates: 0, duplicatedUpdates: 0 })
    expect(report.epochs).toBeGreaterThan(1)
    expect(report.maxEncodedBytes).toBeLessThanOrEqual(report.boundBytes)
    expect(report.contentBytes).toBeGreaterThan(0)
    expect(report.series.length).toBeGreaterThan(10)
    expect(report.series.some((sample) => sample.epoch > 0)).toBe(true)
    expect(churnProgram.format(report)).toMatch(/lost \/ duplicated\s+0 \/ 0/)
  }, 60_000)
})
