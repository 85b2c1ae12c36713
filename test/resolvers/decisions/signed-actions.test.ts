import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Intent, IntentResult, WorldDoc } from '../../../core/index.js'
import { dropItemId, killRule, runRule } from '../../../resolvers/index.js'
import { RULES } from './fixtures.js'
import { makeCluster, PEERS } from './critical-cluster.js'

const attack = (target: string, damage: number, seq = 1, player = 'alice'): Intent => ({ action: 'attack', seq, player, payload: { target, damage } })
const health = (world: WorldDoc, entity: string): unknown => world.getComponent(entity, 'health')?.['value']

describe('critical actions decided, signed and re-validated on the engine path', () => {
  it('confirm-first: answers after k attestations and applies only the decided outcome', async () => {
    const { clock, nodes, close } = makeCluster()
    await clock.advance(10)
    const [n0] = nodes as [(typeof nodes)[0]]
    let answer: IntentResult | undefined
    void n0.gate.submit('s', attack('bob', 40)).then((a) => (answer = a.result))
    // Nothing is written, and nobody answered, before the validators confirmed.
    expect(health(n0.world, 'bob')).toBe(100)
    expect(n0.core.pendingCount()).toBe(1)
    await Promise.resolve()
    expect(answer).toBeUndefined()
    await clock.advance(50)
    expect(answer).toMatchObject({ type: 'ack', result: { target: 'bob', by: 'alice', health: 60, killed: false } })
    await clock.advance(200)
    for (const node of nodes) expect(health(node.world, 'bob')).toBe(60)
    expect(n0.signed.stats).toMatchObject({ decided: 1, confirmed: 1 })
    // A resend gets the first answer; nothing is decided or applied twice.
    expect((await n0.gate.submit('s', attack('bob', 40))).result).toEqual(answer)
    expect(n0.signed.stats.decided).toBe(1)
    expect(health(n0.world, 'bob')).toBe(60)
    // Out of reach: the rule refuses here, nothing is signed.
    const far = await n0.signed.submit(n0.engine, 's', attack('dave', 10, 2))
    expect(far).toMatchObject({ type: 'reject', reason: 'not-permitted' })
    // An intent that bypasses SignedActions is refused by the engine: it has no decision.
    expect(await n0.engine.submit('t', attack('bob', 10, 3))).toMatchObject({ type: 'reject', reason: 'not-permitted' })
    // Other actions pass straight through.
    expect(await n0.signed.submit(n0.engine, 't', { action: 'dance', seq: 4, player: 'alice', payload: null })).toMatchObject({ type: 'reject', reason: 'unknown-action' })
    close()
  })

  it('confirm-first: a compromised decider forging a kill is refused, quarantined, and writes nothing', async () => {
    const { clock, nodes, close } = makeCluster({ compromised: 'n4' })
    await clock.advance(10)
    const answer = nodes[4]!.gate.submit('s', attack('bob', 5))
    await clock.advance(300)
    expect((await answer).result).toMatchObject({ type: 'reject', reason: 'authority-unavailable' })
    expect((await answer).result.type === 'reject' && (await answer).result).toMatchObject({ message: expect.stringMatching(/revalidation-failed/) })
    for (const node of nodes) expect(health(node.world, 'bob')).toBe(100)
    for (const node of nodes.slice(0, 4)) expect(node.core.isQuarantined('n4')).toBe(true)
    close()
  })

  it('optimistic: answers at once, and a rejected kill is reverted on every replica', async () => {
    const { clock, nodes, reverts, close } = makeCluster({ mode: 'optimistic', compromised: 'n4' })
    await clock.advance(10)
    // An honest decision: answered and applied at once, confirmed later, never reverted.
    let honest: IntentResult | undefined
    void nodes[0]!.gate.submit('s', attack('bob', 30)).then((a) => (honest = a.result))
    await clock.advance(0)
    expect(honest).toMatchObject({ type: 'ack', result: { health: 70 } })
    expect(health(nodes[0]!.world, 'bob')).toBe(70)
    // The forged kill: applied and answered at once, then rejected, quarantined and undone everywhere.
    let forged: IntentResult | undefined
    void nodes[4]!.gate.submit('m', attack('carol', 5, 1, 'dave')).then((a) => (forged = a.result))
    expect(health(nodes[4]!.world, 'carol')).toBe(0)
    await clock.advance(0)
    expect(forged).toMatchObject({ type: 'ack', result: { health: 0, killed: true } })
    await clock.advance(500)
    for (const node of nodes) {
      expect(health(node.world, 'carol')).toBe(100)
      expect(health(node.world, 'bob')).toBe(70)
    }
    expect(nodes[0]!.signed.stats.confirmed).toBe(1)
    // Only the forged decision was reverted, never the honest one.
    expect([...reverts.values()].flat().every((r) => r.decider === 'n4')).toBe(true)
    // The decider itself reverts on the rejection; every peer that quarantined it reverts (or finds it done).
    expect(reverts.get('n4')).toMatchObject([{ kind: 'kill', decider: 'n4', reason: 'revalidation-failed' }])
    const results = PEERS.slice(0, 4).flatMap((id) => reverts.get(id)!.map((r) => r.result))
    expect(results).toHaveLength(4)
    expect(results.every((r) => r === 'repaired' || r === 'moved-on')).toBe(true)
    for (const node of nodes) expect(node.signed.pendingReverts()).toBe(0)
    close()
  })

  it('rare drops: decided by the roll, created once, and a forged roll never lands (confirm-first)', async () => {
    const { clock, nodes, close } = makeCluster()
    await clock.advance(10)
    const loot = nodes[1]!.gate.submit('s', { action: 'loot', seq: 1, player: 'carol', payload: { source: 'chest' } })
    await clock.advance(300)
    const result = (await loot).result
    const expected = runRule(RULES['rare-drop']!, { intent: { action: 'loot', seq: 1, player: 'carol', payload: { source: 'chest' } }, preState: { source: 'chest', seed: 7 } })
    expect(expected.ok).toBe(true)
    expect(result).toMatchObject({ type: 'ack', result: expected.ok ? expected.outcome : {} })
    for (const node of nodes) expect(node.world.getItem(dropItemId('chest'))).toMatchObject({ holder: { type: 'player', id: 'carol' } })
    const again = await nodes[2]!.gate.submit('t', { action: 'loot', seq: 1, player: 'dave', payload: { source: 'chest' } })
    expect(again.result).toMatchObject({ type: 'reject', reason: 'conflict' })
    expect(await nodes[2]!.signed.submit(nodes[2]!.engine, 't', { action: 'loot', seq: 2, player: 'dave', payload: { source: 'nowhere' } })).toMatchObject({ reason: 'invalid-intent' })
    close()
  })

  it('reverts an optimistic rare drop rejected for want of validators', async () => {
    const { clock, network, nodes, reverts, close } = makeCluster({ mode: 'optimistic' })
    await clock.advance(10)
    // Validators reachable when deciding but deaf (their decision channels closed): the decision
    // times out. n0 owns `box`, so it decides when its settlement window closes.
    for (const node of nodes.slice(1)) node.channel.close()
    const answer = nodes[0]!.gate.submit('s', { action: 'loot', seq: 1, player: 'alice', payload: { source: 'box' } })
    await clock.advance(20)
    for (const other of PEERS.slice(1)) network.disconnect('n0', other)
    expect((await answer).result.type).toBe('ack')
    expect(nodes[0]!.world.hasItem(dropItemId('box'))).toBe(true)
    await clock.advance(2_600)
    expect(reverts.get('n0')).toMatchObject([{ reason: 'validation-timeout', result: 'repaired' }])
    expect(nodes[0]!.world.hasItem(dropItemId('box'))).toBe(false)
    expect(nodes[0]!.world.getComponent('box', 'loot')).toMatchObject({ claimedBy: null })
    // Too few validators reachable when deciding: refused at once, nothing applied.
    expect((await nodes[0]!.gate.submit('s', attack('bob', 1, 2))).result).toMatchObject({ type: 'reject', reason: 'authority-unavailable' })
    expect(health(nodes[0]!.world, 'bob')).toBe(100)
    close()
  })

  it('applies exactly what killRule decides for random attacks, on every replica (property)', async () => {
    const { clock, nodes, close } = makeCluster()
    await clock.advance(10)
    let seq = 0
    const rule = killRule({ reach: 2, maxDamage: 50 })
    await fc.assert(
      fc.asyncProperty(
        fc.record({ node: fc.nat(PEERS.length - 1), target: fc.constantFrom('bob', 'carol', 'dave'), x: fc.integer({ min: -4, max: 4 }), hp: fc.integer({ min: 0, max: 60 }), damage: fc.integer({ min: -5, max: 70 }) }),
        async ({ node, target, x, hp, damage }) => {
          const writer = nodes[0]!
          writer.world.setComponent(target, 'position', { x, y: 0 })
          writer.world.setComponent(target, 'health', { value: hp })
          await clock.advance(30)
          const intent = attack(target, damage, ++seq)
          const preState = { attacker: { x: 0, y: 0 }, target: { id: target, x, y: 0, health: hp }, damage }
          const expected = runRule(rule, { intent, preState })
          const answer = nodes[node]!.gate.submit('prop', intent)
          await clock.advance(200)
          const { result } = await answer
          if (expected.ok) expect(result).toMatchObject({ type: 'ack', result: expected.outcome })
          else expect(result).toMatchObject({ type: 'reject', reason: expected.reason })
          for (const n of nodes) expect(health(n.world, target)).toBe(expected.ok ? (expected.outcome as { health: number }).health : hp)
        },
      ),
      { numRuns: 25 },
    )
    expect(nodes.every((n) => n.core.quarantine().length === 0)).toBe(true)
    close()
  })
})
