// The realmsync side of the resolution benchmark: a peer as `realmsync serve` runs it (libp2p on
// loopback, or the WebSocket peer transport), a world document seeded identically everywhere, an
// IntentEngine and a ResolverGate over the built-in pickup resolver.
import pino from 'pino'
import * as Y from 'yjs'
import { startServer } from '../cli/index.js'
import { createSystemClock, WorldDoc } from '../core/index.js'
import { IntentEngine, Membership, ResolverGate, ResolverRegistry, pickupResolver } from '../resolvers/index.js'
import type { ResolutionNode, ResolutionWorkerConfig, VisibleListener } from './resolution-protocol.js'

/** Starts a realmsync peer with a pickup resolver; the gate is built at `setup`, once the membership is known. */
export const startRealmsyncResolutionNode = async (config: ResolutionWorkerConfig, onVisible: VisibleListener): Promise<ResolutionNode> => {
  const server = await startServer({
    ...(config.system === 'realmsync-ws' ? { transport: 'ws' as const } : {}),
    listen: [config.listen],
    bootstrap: config.bootstrap,
    dataDir: config.dataDir,
    admission: { clusterSecret: config.secret },
    logger: pino({ level: 'warn' }, pino.destination(2)),
    backoff: { initialMs: 100, maxMs: 1000 },
    store: { durability: 'memory', snapshotEvery: 0, validateAppends: false },
    // `realmsync serve` routes by latency by default (startServer alone floods); its round-trip
    // estimates also size an `auto` settlement window.
    peer: { router: { kind: 'latency' } },
  })
  // Every node starts from the same bytes: a seed document written by one fixed client id.
  const seed = new Y.Doc()
  seed.clientID = 1
  const seedWorld = new WorldDoc(seed)
  for (let i = 0; i < config.items; i++) seedWorld.createItem(`item-${i}`, 'loot')
  const world = new WorldDoc(server.peer.openDoc('world/bench/resolution', Y.encodeStateAsUpdate(seed)))
  const clock = createSystemClock()
  const registry = new ResolverRegistry().register(pickupResolver())
  const engine = IntentEngine.createUnjournaled({ world, worldName: 'bench', clock, seed: config.index, handlers: registry.handlers() })
  world.observe((change) => {
    for (const moved of change.holders) if (moved.to?.type === 'player') onVisible(moved.item, moved.to.id)
  })
  let gate: ResolverGate | undefined
  return {
    id: server.peer.id,
    addresses: server.addresses,
    connectedPeers: () => server.peer.connectedPeers().length,
    setup: (members, windowMs) => {
      gate = new ResolverGate({ link: server.peer, world, engine, registry, clock, membership: new Membership({ epoch: 1, members }), settlement: { windowMs } })
    },
    claim: (item, player, _owner, answer) => {
      if (gate === undefined) throw new Error('claim before setup')
      void gate.submit(player, { action: 'pickup', seq: 1, player, payload: { item } }, (result) => answer(result.result.type === 'ack'))
    },
    stats: () => ({ ...(gate?.stats ?? {}) }),
    close: async () => {
      gate?.close()
      await server.close()
    },
  }
}
