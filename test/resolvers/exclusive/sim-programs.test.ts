import { describe, expect, it } from 'vitest'
import { PROGRAM_SCENARIOS } from '../../../sim/index.js'
import { runPickupRace } from '../../../sim/programs/pickup-race.js'
import { runTradeStorm } from '../../../sim/programs/trade-storm.js'

const small = { peers: 3, players: 24, items: 10, durationMs: 1200, partition: { split: 1, at: 300, durationMs: 500 } }

describe('pickup-race', () => {
  it('is registered, deterministic per seed, and finds no double hold while refusing across the partition', () => {
    expect(PROGRAM_SCENARIOS['pickup-race']).toBeDefined()
    const report = runPickupRace({ seed: 7, ...small })
    expect(runPickupRace({ seed: 7, ...small })).toEqual(report)
    expect(report.doubleHolds).toBe(0)
    expect(report.ok).toBe(true)
    expect(report.replicasAgree).toBe(true)
    expect(report.unanswered).toBe(0)
    expect(report.itemsResolved).toBeGreaterThan(0)
    expect(report.refusals['authority-unavailable']).toBeGreaterThan(0)
    expect(report.refusals.conflict).toBeGreaterThan(0)
    expect(report.resolutionMs.samples).toBeGreaterThan(0)
    expect(PROGRAM_SCENARIOS['pickup-race']!.format(report)).toMatch(/double holds\s+0/)
  })

  it('settles with an auto window sized from the routers\' round trips without a double hold', () => {
    const auto = runPickupRace({ seed: 7, ...small, settlement: { windowMs: 'auto' } })
    expect(auto).toMatchObject({ doubleHolds: 0, ok: true, replicasAgree: true, unanswered: 0 })
    expect(auto.itemsResolved).toBeGreaterThan(0)
    expect(auto.refusals.conflict).toBeGreaterThan(0)
  })

  it('catches double holds when every peer wrongly believes it owns every item (the checker is not vacuous)', () => {
    const report = runPickupRace({ seed: 7, ...small, partition: null, ownershipFor: (peer) => () => peer })
    expect(report.doubleHolds).toBeGreaterThan(0)
    expect(report.ok).toBe(false)
    expect(report.breaks.length).toBeGreaterThan(0)
  })
})

describe('trade-storm', () => {
  it('is registered and conserves items across owners', () => {
    expect(PROGRAM_SCENARIOS['trade-storm']).toBeDefined()
    const report = runTradeStorm({ seed: 3, peers: 3, players: 12, itemsPerPlayer: 2, durationMs: 1000, partition: { split: 1, at: 300, durationMs: 400 } })
    expect(report).toMatchObject({ duplicatedItems: 0, lostItems: 0, unmatchedMoves: 0, replicasAgree: true, ok: true, unanswered: 0 })
    expect(report.committed).toBeGreaterThan(0)
    expect(report.crossOwnerCommits).toBeGreaterThan(0)
    expect(PROGRAM_SCENARIOS['trade-storm']!.format(report)).toMatch(/lost items\s+0/)
  })

  it('catches duplicated or unmatched moves when ownership is split', () => {
    const report = runTradeStorm({ seed: 3, peers: 3, players: 12, itemsPerPlayer: 2, durationMs: 800, partition: null, ownershipFor: (peer) => () => peer })
    expect(report.duplicatedItems + report.unmatchedMoves).toBeGreaterThan(0)
    expect(report.ok).toBe(false)
  })
})
