import { createRandom, createSystemClock, openWorldDoc, type WorldDoc } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { IntentEngine } from '../../resolvers/index.js'
import { defaultAuthenticate, startGateway, type Gateway, type GatewayOptions } from '../../gateway/index.js'
import { handlers, secret } from './intent-fixture.js'

// Two peers replicating over an in-memory network, each with a world, an intent engine over its own
// replica, and a gateway with sessions on: the smallest cluster a handoff can happen in.

/** One peer of the session cluster. */
export interface SessionNode {
  readonly peer: Peer
  readonly world: WorldDoc
  readonly engine: IntentEngine
  readonly gateway: Gateway
  readonly url: string
}

const startNode = async (network: MemoryNetwork, id: string, seed: number, options: Partial<GatewayOptions>): Promise<SessionNode> => {
  const peer = new Peer({ id, transport: network.endpoint(id), clock: createSystemClock(), random: createRandom(seed), antiEntropyIntervalMs: 200 })
  peer.start()
  const world = openWorldDoc(peer.openDoc('world/1'))
  const engine = await IntentEngine.start({ world, worldName: 'world/1', clock: createSystemClock(), seed, handlers })
  const gateway = await startGateway({
    peer,
    port: 0,
    host: '127.0.0.1',
    authenticate: defaultAuthenticate({ kind: 'secret', secret }),
    closeGraceMs: 500,
    intents: { engine },
    sessions: { intentDocuments: ['world/1'], handoffWaitMs: 2000 },
    ephemeralIntervalMs: 10,
    ...options,
  })
  return { peer, world, engine, gateway, url: `ws://127.0.0.1:${gateway.port}` }
}

/** Peers `a` and `b`, connected, gateways announced to each other. */
export const startSessionCluster = async (options: Partial<GatewayOptions> = {}) => {
  const network = new MemoryNetwork()
  const a = await startNode(network, 'a', 1, options)
  const b = await startNode(network, 'b', 2, options)
  network.connect('a', 'b')
  return {
    network,
    a,
    b,
    close: async () => {
      for (const node of [a, b]) {
        await node.gateway.close()
        node.peer.close()
      }
    },
  }
}
