// A cluster-bench node running the alternative a user would pick: a plain libp2p 3 node (the same
// TCP, noise and yamux stack realmsync's transport uses) with @libp2p/gossipsub, publishing every
// local Yjs update on one topic and applying every received one to its own Y.Doc.
// transports/index.js first: it installs the Promise.withResolvers polyfill libp2p 3 needs on Node 20.
import '../transports/index.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, StrictSign } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import * as Y from 'yjs'
import { BENCH_DOC, type BenchNode, type WorkerConfig } from './cluster-protocol.js'

/** Transaction origin of updates that arrived over gossipsub, so they are not published again. */
const FROM_GOSSIPSUB = Symbol('gossipsub')

/**
 * Starts a gossipsub node on the worker's listen address, subscribed to the shared topic.
 * `signed`: gossipsub's default StrictSign (every message signed and verified, Ed25519); otherwise
 * StrictNoSign, the cheaper setting for a closed cluster whose connections noise already
 * authenticates (message ids are then SHA-256 of the data).
 */
export const startGossipsubNode = async (config: WorkerConfig, signed: boolean): Promise<BenchNode> => {
  const node = await createLibp2p({
    addresses: { listen: [config.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // Defaults otherwise (D=6, flood publish, 1 s heartbeat): with 5 nodes the mesh is everyone.
      pubsub: gossipsub({
        globalSignaturePolicy: signed ? StrictSign : StrictNoSign,
        allowPublishToZeroTopicPeers: true,
      }),
    },
  })
  const pubsub = node.services.pubsub
  const doc = new Y.Doc({ gc: true })
  const counters = { published: 0, publishErrors: 0, received: 0, applyErrors: 0 }
  pubsub.subscribe(BENCH_DOC)
  pubsub.addEventListener('message', (event) => {
    if (event.detail.topic !== BENCH_DOC) return
    counters.received++
    try {
      Y.applyUpdate(doc, event.detail.data, FROM_GOSSIPSUB)
    } catch {
      counters.applyErrors++
    }
  })
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin === FROM_GOSSIPSUB) return
    counters.published++
    pubsub.publish(BENCH_DOC, update).catch(() => counters.publishErrors++)
  })
  return {
    id: node.peerId.toString(),
    addresses: node.getMultiaddrs().map((address) => address.toString()),
    doc,
    dial: async (addresses) => {
      await Promise.all(addresses.map((address) => node.dial(multiaddr(address))))
    },
    readyPeers: () => pubsub.getSubscribers(BENCH_DOC).length,
    counters: () => ({ ...counters }),
    gauges: () => ({ topicPeers: pubsub.getSubscribers(BENCH_DOC).length }),
    close: async () => {
      doc.destroy()
      await node.stop()
    },
  }
}
