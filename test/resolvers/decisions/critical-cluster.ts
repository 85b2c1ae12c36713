import * as Y from 'yjs'
import { createRandom, WorldDoc } from '../../../core/index.js'
import { MemoryNetwork } from '../../../transports/index.js'
import { Peer } from '../../../replication/index.js'
import { bindDecisions, DecisionCore, IntentEngine, killAction, Membership, rareDropAction, ResolverGate, ResolverRegistry, SignedActions, type CriticalMode, type DecisionRules, type RevertRecord } from '../../../resolvers/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { keysOf, registryOf, RULES } from './fixtures.js'

// A five-peer cluster over an in-memory network whose gates decide kills (`attack`) and rare drops
// (`loot`) as signed critical actions. Loot sources: `chest` (owned by n2 under the view), `box` (n0).

export const PEERS = ['n0', 'n1', 'n2', 'n3', 'n4']
export const ENTITIES = ['alice', 'bob', 'carol', 'dave']

/** Every kill kills: the rule of a compromised server. */
export const forgedRules: DecisionRules = { ...RULES, kill: ({ intent }) => ({ ok: true, outcome: { target: (intent.payload as { target: string }).target, by: intent.player, health: 0, killed: true } }) }

export const makeCluster = (options: { mode?: CriticalMode; compromised?: string } = {}) => {
  const network = new MemoryNetwork()
  const clock = new ManualClock()
  const keys = registryOf(PEERS)
  const seedDoc = new Y.Doc()
  const seed = new WorldDoc(seedDoc)
  for (const [i, id] of ENTITIES.entries()) seed.createEntity(id, 'player', { position: { x: i, y: 0 }, health: { value: 100 } })
  seed.createEntity('chest', 'chest', { loot: { seed: 7 } })
  seed.createEntity('box', 'chest', { loot: { seed: 11 } })
  const initial = Y.encodeStateAsUpdate(seedDoc)
  const reverts = new Map<string, RevertRecord[]>()
  const nodes = PEERS.map((id, i) => {
    const peer = new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(i + 1), antiEntropyIntervalMs: 100 })
    const world = new WorldDoc(peer.openDoc('world/critical', initial))
    const core = new DecisionCore({ self: id, privateKey: keysOf(id).privateKey, keys, rules: id === options.compromised ? forgedRules : RULES, now: () => clock.now() })
    const channel = bindDecisions({ peer, core, clock })
    reverts.set(id, [])
    const signed = new SignedActions({
      channel,
      world,
      clock,
      actions: { attack: killAction(), loot: rareDropAction() },
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
      onRevert: (record) => reverts.get(id)!.push(record),
    })
    const registry = new ResolverRegistry()
    const engine = IntentEngine.createUnjournaled({ world, worldName: 'critical', clock, seed: i, handlers: { ...registry.handlers(), ...signed.handlers() } })
    const gate = new ResolverGate({ link: peer, world, engine, registry, clock, membership: new Membership({ epoch: 1, members: PEERS }), decisions: { channel, core, signed } })
    peer.start()
    return { id, peer, world, core, channel, signed, engine, gate }
  })
  network.connectAll()
  const close = () => {
    for (const node of nodes) {
      node.gate.close()
      node.signed.close()
      node.channel.close()
      node.peer.close()
    }
  }
  return { network, clock, nodes, reverts, close }
}

