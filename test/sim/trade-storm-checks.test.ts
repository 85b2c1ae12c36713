import { describe, expect, it } from 'vitest'
import { runTradeStorm, type TradeStormOptions } from '../../sim/programs/trade-storm.js'

// The case that once read as an "unmatched move": the coordinator's decision to one participant was
// lost and the run was judged before the resend arrived. Small, seeded, with the default lanes
// (critical updates coalesced per event-loop turn).
const small: TradeStormOptions = { seed: 15, peers: 3, players: 9, itemsPerPlayer: 2, durationMs: 900, loss: 0.05, partition: null }

describe('trade-storm checks', () => {
  it('judges a run only once every claim has settled, and then finds nothing wrong', () => {
    const report = runTradeStorm(small)
    expect(report).toMatchObject({ duplicatedItems: 0, lostItems: 0, unmatchedMoves: 0, replicasAgree: true, claimsSettled: true, unanswered: 0, ok: true })
    expect(report.breaks).toEqual([])
    expect(report.crossOwnerCommits).toBeGreaterThan(0)
  })

  it('still reports a lost item', () => {
    const report = runTradeStorm({ ...small, sabotage: (cluster) => cluster.nodes[0]!.world.removeItem('item-0') })
    expect(report.lostItems).toBeGreaterThan(0)
    expect(report.ok).toBe(false)
  })

  it('still reports a move no committed trade made', () => {
    const report = runTradeStorm({
      ...small,
      sabotage: (cluster) => {
        const world = cluster.nodes[0]!.world
        const holder = world.getItem('item-1')!.holder
        world.moveItem('item-1', { type: 'player', id: holder.type === 'player' && holder.id === 'player-0' ? 'player-1' : 'player-0' })
      },
    })
    expect(report.unmatchedMoves).toBeGreaterThan(0)
    expect(report.ok).toBe(false)
  })

  it('still reports an item granted twice from one version', () => {
    const report = runTradeStorm({
      ...small,
      sabotage: (cluster) => {
        // Two replicas that are not the owner each move the item from the same version (a game writing
        // holders beside the resolvers breaks the single-writer rule): two holders at one version.
        const holder = cluster.nodes[1]!.world.getItem('item-2')!.holder
        const held = holder.type === 'player' ? holder.id : ''
        cluster.nodes[1]!.world.moveItem('item-2', { type: 'player', id: held === 'player-3' ? 'player-4' : 'player-3' })
        cluster.nodes[2]!.world.moveItem('item-2', { type: 'player', id: held === 'player-5' ? 'player-6' : 'player-5' })
      },
    })
    expect(report.duplicatedItems).toBeGreaterThan(0)
    expect(report.ok).toBe(false)
  })

  it('still reports a holder written without a version (the unsafe path) as a second holder at one version', () => {
    const report = runTradeStorm({
      ...small,
      sabotage: (cluster) => {
        const world = cluster.nodes[1]!.world
        const holder = world.getItem('item-3')!.holder
        world.setItemHolderUnversioned('item-3', { type: 'player', id: holder.type === 'player' && holder.id === 'player-1' ? 'player-2' : 'player-1' })
      },
    })
    expect(report.duplicatedItems).toBeGreaterThan(0)
    expect(report.ok).toBe(false)
  })
})
