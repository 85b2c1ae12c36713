import { describe, expect, it } from 'vitest'
import { createRandom } from '../../../core/index.js'
import { MemoryNetwork } from '../../../transports/index.js'
import { Peer } from '../../../replication/index.js'
import { bindDecisions, DecisionCore, DECISIONS_CHANNEL, type DecisionChannel, type DecisionSettlement, type QuarantineRecord } from '../../../resolvers/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { keysOf, killInputs, registryOf, RULES } from './fixtures.js'

const PEERS = ['s0', 's1', 's2', 's3', 's4']

const makeCluster = (compromised?: string) => {
  const network = new MemoryNetwork()
  const clock = new ManualClock()
  const keys = registryOf(PEERS)
  const quarantines = new Map<string, QuarantineRecord[]>()
  const nodes = PEERS.map((id, i) => {
    const peer = new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(i + 1) })
    // The compromised server runs a modified kill rule: every attack kills.
    const rules = id === compromised ? { ...RULES, kill: () => ({ ok: true as const, outcome: { target: 'bob', by: 'alice', health: 0, killed: true } }) } : RULES
    const core = new DecisionCore({ self: id, privateKey: keysOf(id).privateKey, keys, rules, now: () => clock.now() })
    quarantines.set(id, [])
    const channel = bindDecisions({ peer, core, clock, onQuarantine: (record) => quarantines.get(id)!.push(record) })
    peer.start()
    return { id, peer, core, channel }
  })
  network.connectAll()
  return { network, clock, nodes, quarantines }
}

const settleAll = async (clock: ManualClock, promises: Array<Promise<DecisionSettlement>>): Promise<DecisionSettlement[]> => {
  await clock.advance(20)
  return Promise.all(promises)
}

describe('distributed validation over real peers on a memory network', () => {
  it('confirms honest decisions, and flags and quarantines a compromised peer that forges a kill', async () => {
    const { clock, nodes, quarantines } = makeCluster('s4')
    await clock.advance(5)
    const honest = await settleAll(
      clock,
      nodes.slice(0, 4).map((node, i) => node.channel.decide('kill', killInputs(i + 1).intent, killInputs(i + 1).preState)),
    )
    expect(honest.map((s) => s.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed'])
    for (const settlement of honest) {
      if (settlement.status !== 'confirmed') continue
      expect(settlement.attestations).toHaveLength(2)
      for (const node of nodes) expect(node.core.verifyConfirmation(settlement.decision, settlement.attestations).ok).toBe(true)
    }

    // s4 forges a kill: the target is out of reach and at full health.
    const forgedInputs = { intent: killInputs(9).intent, preState: { attacker: { x: 0, y: 0 }, target: { id: 'bob', x: 80, y: 0, health: 100 }, damage: 3 } }
    const [forged] = await settleAll(clock, [nodes[4]!.channel.decide('kill', forgedInputs.intent, forgedInputs.preState)])
    expect(forged).toMatchObject({ status: 'rejected', reason: 'revalidation-failed' })
    await clock.advance(20)
    for (const node of nodes.slice(0, 4)) {
      expect(node.core.isQuarantined('s4')).toBe(true)
      expect(quarantines.get(node.id)).toMatchObject([{ peer: 's4', reason: 'revalidation-failed' }])
      expect(quarantines.get(node.id)![0]!.decision?.decision.inputs.preState).toEqual(forgedInputs.preState)
    }

    // Its later decisions are refused (and counted) by everyone; they never confirm.
    const later = nodes[4]!.channel.decide('kill', killInputs(10).intent, killInputs(10).preState)
    await clock.advance(2_500)
    expect(await later).toMatchObject({ status: 'rejected', reason: 'validation-timeout' })
    const refusals = nodes.slice(0, 4).reduce((sum, node) => sum + node.core.stats.quarantinedRefusals, 0)
    expect(refusals).toBe(2)
    expect(nodes[4]!.core.stats).toMatchObject({ decided: 2, confirmed: 0, rejected: 2 })
    for (const node of nodes) node.channel.close()
  })

  it('refuses when too few validators are reachable, and rejects pending decisions on close', async () => {
    const { clock, network, nodes } = makeCluster()
    await clock.advance(5)
    for (const other of PEERS.slice(1)) network.disconnect('s0', other)
    await clock.advance(5)
    expect(await nodes[0]!.channel.decide('kill', killInputs().intent, killInputs().preState)).toMatchObject({ status: 'rejected', reason: 'authority-unavailable' })
    network.connectAll()
    await clock.advance(5)
    const pending = nodes[0]!.channel.decide('kill', killInputs(2).intent, killInputs(2).preState)
    nodes[0]!.channel.close()
    expect(await pending).toMatchObject({ status: 'rejected', reason: 'closed' })
    expect(await nodes[0]!.channel.decide('kill', killInputs(3).intent, killInputs(3).preState)).toMatchObject({ status: 'rejected', reason: 'closed' })
    // A malformed payload on the channel is dropped and reported, never a crash.
    const dropped: string[] = []
    const core = new DecisionCore({ self: 'x', privateKey: keysOf('x').privateKey, keys: registryOf(['x']), rules: RULES, now: () => clock.now() })
    const peer = new Peer({ id: 'x', transport: network.endpoint('x'), clock, random: createRandom(9) })
    const channel = bindDecisions({ peer, core, clock, onDropped: (_from, reason) => dropped.push(reason) })
    peer.start()
    network.connect('x', 's1')
    await clock.advance(5)
    nodes[1]!.peer.sendChannel('x', DECISIONS_CHANNEL, Uint8Array.of(1, 200))
    await clock.advance(5)
    expect(dropped).toEqual(['malformed'])
    channel.close()
    for (const node of nodes.slice(1)) node.channel.close()
  })
})
