import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Intent, IntentResult } from '../../../core/index.js'
import { dropItemId, dropSourceResource, rendezvousOwner } from '../../../resolvers/index.js'
import { makeCluster, PEERS } from './critical-cluster.js'

const loot = (player: string, seq = 1, source = 'chest'): Intent => ({ action: 'loot', seq, player, payload: { source } })
const decidedEverywhere = (nodes: ReturnType<typeof makeCluster>['nodes']): number => nodes.reduce((sum, node) => sum + node.signed.stats.decided, 0)

describe('rare drops are decided by the owner of their source', () => {
  it('the cluster view makes n2 the owner of chest and n0 the owner of box (the tests below rely on it)', () => {
    expect(rendezvousOwner(dropSourceResource('chest'), { epoch: 1, members: PEERS })).toBe('n2')
    expect(rendezvousOwner(dropSourceResource('box'), { epoch: 1, members: PEERS })).toBe('n0')
  })

  it('a loot on a non-owner is forwarded to the owner, which alone decides it', async () => {
    const { clock, nodes, close } = makeCluster()
    await clock.advance(10)
    const answer = nodes[1]!.gate.submit('s', loot('carol'))
    // Pending until the owner settles it.
    expect(nodes[1]!.gate.pendingClaims()).toHaveLength(1)
    await clock.advance(300)
    expect((await answer).result).toMatchObject({ type: 'ack', result: { source: 'chest', player: 'carol' } })
    expect(nodes.map((node) => node.signed.stats.decided)).toEqual([0, 0, 1, 0, 0])
    expect(nodes[1]!.gate.stats.claimsForwarded).toBe(1)
    for (const node of nodes) expect(node.world.getItem(dropItemId('chest'))).toMatchObject({ holder: { type: 'player', id: 'carol' } })
    close()
  })

  it('refuses with authority-unavailable when the owner cannot be reached, deciding nothing', async () => {
    const { clock, network, nodes, close } = makeCluster()
    await clock.advance(10)
    network.disconnect('n1', 'n2')
    await clock.advance(0)
    const answer = await nodes[1]!.gate.submit('s', loot('carol'))
    expect(answer.result).toMatchObject({ type: 'reject', reason: 'authority-unavailable' })
    expect(nodes[1]!.gate.stats.refusedUnavailable).toBe(1)
    await clock.advance(300)
    expect(decidedEverywhere(nodes)).toBe(0)
    for (const node of nodes) expect(node.world.hasItem(dropItemId('chest'))).toBe(false)
    // A payload without a source names no resource: refused before any routing.
    expect((await nodes[3]!.gate.submit('s', { action: 'loot', seq: 2, player: 'dave', payload: {} })).result).toMatchObject({ reason: 'invalid-intent' })
    close()
  })

  it('one SignedActions decides one loot of a source at a time: the second finds it claimed', async () => {
    const { clock, nodes, close } = makeCluster()
    await clock.advance(10)
    const owner = nodes[2]!
    const first = owner.signed.submit(owner.engine, 'a', loot('alice'))
    const second = owner.signed.submit(owner.engine, 'b', loot('bob'))
    await clock.advance(300)
    const results = [await first, await second]
    expect(results.map((r) => r.type)).toEqual(['ack', 'reject'])
    expect(results[1]).toMatchObject({ reason: 'conflict' })
    expect(owner.signed.stats.decided).toBe(1)
    close()
  })

  it('never two drops decided for one source, whoever races for it from wherever, cut off or not (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ node: fc.nat(PEERS.length - 1), player: fc.constantFrom('alice', 'bob', 'carol', 'dave') }), { minLength: 1, maxLength: 8, selector: (c) => `${c.node}/${c.player}` }),
        // At most two peers cut off from the owner, so it still reaches k = 2 validators.
        fc.subarray(['n0', 'n1', 'n3', 'n4'], { maxLength: 2 }),
        fc.constantFrom('confirm-first' as const, 'optimistic' as const),
        async (claimants, cutOff, mode) => {
          const { clock, network, nodes, close } = makeCluster({ mode })
          await clock.advance(10)
          for (const peer of cutOff) network.disconnect(peer, 'n2')
          await clock.advance(0)
          const answers: Array<{ peer: string; player: string; result?: IntentResult }> = []
          claimants.forEach(({ node, player }, i) => {
            const entry: (typeof answers)[number] = { peer: PEERS[node]!, player }
            answers.push(entry)
            void nodes[node]!.gate.submit(`s${i}`, loot(player, i + 1)).then((a) => (entry.result = a.result))
          })
          await clock.advance(400)
          for (const peer of cutOff) network.connect(peer, 'n2')
          await clock.advance(400)
          const acks = answers.filter((a) => a.result?.type === 'ack')
          expect(answers.every((a) => a.result !== undefined)).toBe(true)
          // Only the owner decides, and it decided at most one drop.
          expect(nodes.filter((node) => node.id !== 'n2').every((node) => node.signed.stats.decided === 0)).toBe(true)
          expect(decidedEverywhere(nodes)).toBeLessThanOrEqual(1)
          expect(acks.length).toBeLessThanOrEqual(1)
          // Everyone who could reach the owner competed; exactly one of them won.
          if (answers.some((a) => !cutOff.includes(a.peer))) expect(acks).toHaveLength(1)
          for (const a of answers) {
            if (cutOff.includes(a.peer)) expect(a.result).toMatchObject({ type: 'reject', reason: 'authority-unavailable' })
            else if (a.result?.type === 'reject') expect(a.result.reason).toBe('conflict')
          }
          for (const node of nodes) {
            const item = node.world.getItem(dropItemId('chest'))
            if (acks[0] === undefined) expect(item).toBeUndefined()
            else expect(item?.holder).toEqual({ type: 'player', id: acks[0].player })
          }
          close()
        },
      ),
      { numRuns: 20 },
    )
  })
})
