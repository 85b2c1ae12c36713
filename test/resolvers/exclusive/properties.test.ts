import * as fc from 'fast-check'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { WorldDoc } from '../../../core/index.js'
import { createEscrow, escrowTotals, spendEscrow, transferEscrow, type GateAnswer } from '../../../resolvers/index.js'
import { HolderWatch, replicasAgree, settleUntilAgreed } from '../../../sim/programs/holder-checks.js'
import { createResolverCluster } from '../../../sim/programs/resolver-cluster.js'
import { runTradeStorm } from '../../../sim/programs/trade-storm.js'

const PEERS = 3
const ITEMS = 4
const PLAYERS = 6

const claimArb = fc.record({
  at: fc.integer({ min: 0, max: 600 }),
  player: fc.integer({ min: 0, max: PLAYERS - 1 }),
  item: fc.integer({ min: 0, max: ITEMS - 1 }),
  drop: fc.boolean(),
})

const faultArb = fc.record({
  loss: fc.constantFrom(0, 0.05, 0.2),
  jitterMs: fc.integer({ min: 0, max: 30 }),
  partition: fc.option(
    fc.record({ at: fc.integer({ min: 0, max: 400 }), durationMs: fc.integer({ min: 50, max: 800 }), minority: fc.integer({ min: 0, max: PEERS - 1 }) }),
    { nil: undefined },
  ),
})

describe('exclusive resolution properties', () => {
  it('for random claim interleavings and fault schedules, no item ever has two holders on any replica, and all replicas agree after heal', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.array(claimArb, { minLength: 1, maxLength: 40 }), faultArb, (seed, claims, faults) => {
        const cluster = createResolverCluster({
          seed,
          peers: PEERS,
          faults: { loss: faults.loss, jitterMs: faults.jitterMs },
          settlement: { claimTimeoutMs: 3000 },
          seedWorld: (world) => {
            for (let i = 0; i < ITEMS; i++) world.createItem(`item-${i}`, 'loot')
          },
        })
        const { scheduler, nodes, network } = cluster
        const watch = new HolderWatch(cluster)
        const grants = new Map<string, string>()
        const doubleGrants: string[] = []
        let answered = 0
        claims.forEach((claim, seq) => {
          scheduler.at(claim.at, () => {
            const player = `player-${claim.player}`
            const item = `item-${claim.item}`
            nodes[claim.player % PEERS]!.gate.submit(player, { action: claim.drop ? 'drop' : 'pickup', seq, player, payload: { item } }, (answer: GateAnswer) => {
              answered++
              if (claim.drop || answer.result.type !== 'ack') return
              const key = `${item}#${(answer.result.result as { version: number }).version}`
              if (grants.has(key) && grants.get(key) !== player) doubleGrants.push(key)
              grants.set(key, player)
            })
          })
        })
        if (faults.partition) {
          const { at, durationMs, minority } = faults.partition
          const ids = nodes.map((n) => n.id)
          scheduler.at(at, () => network.partition([[ids[minority]!], ids.filter((_, i) => i !== minority)]))
          scheduler.at(at + durationMs, () => network.heal())
        }
        scheduler.runUntil(1500)
        settleUntilAgreed(cluster, scheduler.now() + 10_000)
        scheduler.runUntil(scheduler.now() + 3500)
        watch.sweep()
        watch.stop()
        expect(watch.breaks).toEqual([])
        expect(doubleGrants).toEqual([])
        expect(answered).toBe(claims.length)
        expect(replicasAgree(cluster)).toBe(true)
        cluster.close()
      }),
      { numRuns: 16 },
    )
  })

  it('escrow never oversells, whatever the interleaving of spends, transfers and partial syncs', () => {
    const op = fc.oneof(
      fc.record({ type: fc.constant('spend' as const), peer: fc.integer({ min: 0, max: 2 }), amount: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ type: fc.constant('send' as const), peer: fc.integer({ min: 0, max: 2 }), to: fc.integer({ min: 0, max: 2 }), amount: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ type: fc.constant('sync' as const), peer: fc.integer({ min: 0, max: 2 }), to: fc.integer({ min: 0, max: 2 }) }),
    )
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 3, maxLength: 3 }), fc.array(op, { maxLength: 60 }), (shares, ops) => {
        const origin = new WorldDoc(new Y.Doc())
        createEscrow(origin, 'stock', { p0: shares[0]!, p1: shares[1]!, p2: shares[2]! })
        const stock = shares[0]! + shares[1]! + shares[2]!
        // Replica i is peer pi's: each peer writes only its own replica.
        const replicas = [0, 1, 2].map(() => {
          const world = new WorldDoc(new Y.Doc())
          Y.applyUpdate(world.doc, Y.encodeStateAsUpdate(origin.doc))
          return world
        })
        let sold = 0
        const check = (): void => {
          for (const replica of replicas) {
            const totals = escrowTotals(replica, 'stock')
            expect(totals.spent).toBeLessThanOrEqual(stock)
            for (const available of Object.values(totals.available)) expect(available).toBeGreaterThanOrEqual(0)
          }
        }
        for (const step of ops) {
          const replica = replicas[step.peer]!
          if (step.type === 'spend') {
            if (spendEscrow(replica, 'stock', `p${step.peer}`, step.amount)) sold += step.amount
          } else if (step.type === 'send') {
            transferEscrow(replica, 'stock', `p${step.peer}`, `p${step.to}`, step.amount)
          } else {
            Y.applyUpdate(replicas[step.to]!.doc, Y.encodeStateAsUpdate(replica.doc))
          }
          check()
        }
        for (const a of replicas) for (const b of replicas) Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc))
        check()
        expect(sold).toBeLessThanOrEqual(stock)
        expect(escrowTotals(replicas[0]!, 'stock').spent).toBe(sold)
      }),
      { numRuns: 100 },
    )
  })

  it('trades conserve items: nothing duplicated, lost or half-applied under random faults', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(0, 0.05),
        fc.option(fc.record({ split: fc.integer({ min: 1, max: 2 }), at: fc.integer({ min: 100, max: 600 }), durationMs: fc.integer({ min: 100, max: 700 }) }), { nil: null }),
        (seed, loss, partition) => {
          const report = runTradeStorm({ seed, peers: 3, players: 9, itemsPerPlayer: 2, durationMs: 900, loss, partition })
          expect(report.breaks).toEqual([])
          expect(report.duplicatedItems).toBe(0)
          expect(report.lostItems).toBe(0)
          expect(report.unmatchedMoves).toBe(0)
          expect(report.replicasAgree).toBe(true)
          expect(report.ok).toBe(true)
        },
      ),
      { numRuns: 6 },
    )
  })
})
