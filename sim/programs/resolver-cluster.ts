import * as Y from 'yjs'
import pino from 'pino'
import { createRandom, WorldDoc, type ItemHolder, type Random } from '../../core/index.js'
import { Peer } from '../../replication/index.js'
import {
  IntentEngine,
  Membership,
  ResolverGate,
  ResolverRegistry,
  damageResolver,
  dropResolver,
  healResolver,
  pickupResolver,
  tradeResolver,
  claimSlotResolver,
  releaseSlotResolver,
  type OwnershipFunction,
  type ResolverGateOptions,
} from '../../resolvers/index.js'
import { uniformLatencyMatrix, type LatencyMatrix } from '../latency.js'
import { SimNetwork, type LinkFaults } from '../sim-network.js'
import { SimScheduler } from '../scheduler.js'

/** The world document every node of a resolver cluster replicates. */
export const RESOLVER_WORLD_DOC = 'world/sim/resolvers'

/** One peer of a simulated resolver cluster: the real Peer, its world view, engine and gate. */
export interface ResolverNode {
  readonly id: string
  readonly peer: Peer
  readonly world: WorldDoc
  readonly engine: IntentEngine
  readonly gate: ResolverGate
}

/** Settings of `createResolverCluster`. */
export interface ResolverClusterOptions {
  readonly seed: number
  readonly peers: number
  /** Builds the initial world (items, slots, stocks) every replica starts from. */
  readonly seedWorld: (world: WorldDoc) => void
  /** Link faults (jitter, loss, ...). Default none. */
  readonly faults?: Partial<LinkFaults>
  /** One-way base latency matrix. Default 10 ms between every pair. */
  readonly latency?: LatencyMatrix
  /** Settlement timing. */
  readonly settlement?: ResolverGateOptions['settlement']
  /**
   * Ownership function per peer. Default rendezvous hashing everywhere. (Giving peers different
   * functions breaks the single-owner rule on purpose: tests use it to show the checkers catch it.)
   */
  readonly ownershipFor?: (peer: string) => OwnershipFunction
  /** Anti-entropy interval of the peers. Default 200 ms. */
  readonly antiEntropyIntervalMs?: number
}

/** A simulated cluster of peers running the claims protocol on virtual time. */
export interface ResolverCluster {
  readonly scheduler: SimScheduler
  readonly network: SimNetwork
  readonly nodes: readonly ResolverNode[]
  readonly random: Random
  /** Closes every gate and peer. */
  close(): void
}

/**
 * Builds `peers` real `Peer`s on a `SimNetwork`, each with a `WorldDoc`, an unjournaled
 * `IntentEngine` and a `ResolverGate` over the built-in resolvers (pickup, drop, trade, slots,
 * damage, heal), all starting from the same seeded world under one membership view.
 */
export const createResolverCluster = (options: ResolverClusterOptions): ResolverCluster => {
  const random = createRandom(options.seed)
  const scheduler = new SimScheduler()
  const latency = options.latency ?? uniformLatencyMatrix(options.peers, 10)
  const network = new SimNetwork(scheduler, random.fork(), latency, { jitterMs: 0, loss: 0, duplicate: 0, reorder: false, ...options.faults })
  const ids = Array.from({ length: options.peers }, (_, i) => `peer-${i}`)
  const seedDoc = new Y.Doc()
  options.seedWorld(new WorldDoc(seedDoc))
  const initial = Y.encodeStateAsUpdate(seedDoc)
  const logger = pino({ level: 'silent' })
  const nodes = ids.map((id, index): ResolverNode => {
    const peer = new Peer({ id, transport: network.endpoint(id, index), clock: scheduler, random: random.fork(), antiEntropyIntervalMs: options.antiEntropyIntervalMs ?? 200, logger })
    const world = new WorldDoc(peer.openDoc(RESOLVER_WORLD_DOC, initial))
    const registry = new ResolverRegistry()
      .register(pickupResolver())
      .register(dropResolver())
      .register(tradeResolver())
      .register(claimSlotResolver())
      .register(releaseSlotResolver())
      .register(damageResolver({ peer: id }))
      .register(healResolver({ peer: id }))
    const engine = IntentEngine.createUnjournaled({ world, worldName: 'sim', clock: scheduler, seed: options.seed + index, handlers: registry.handlers() })
    const membership = new Membership({ epoch: 1, members: ids }, options.ownershipFor?.(id))
    const gate = new ResolverGate({ link: peer, world, engine, registry, membership, clock: scheduler, ...(options.settlement ? { settlement: options.settlement } : {}) })
    peer.start()
    return { id, peer, world, engine, gate }
  })
  network.connectAll()
  return {
    scheduler,
    network,
    nodes,
    random,
    close: () => {
      for (const node of nodes) {
        node.gate.close()
        node.peer.close()
      }
    },
  }
}

/** A player's holder value. */
export const playerHolder = (player: string): ItemHolder => ({ type: 'player', id: player })
