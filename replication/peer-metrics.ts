import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { RouterStats } from './gossip-router.js'
import type { Peer, PeerStats } from './peer.js'
import type { LaneStats } from './priority-lanes.js'

/** The counters exported per peer, with their Prometheus help text. */
const COUNTERS: ReadonlyArray<[keyof PeerStats, string]> = [
  ['framesSent', 'Frames sent to other peers'],
  ['framesReceived', 'Frames received from other peers'],
  ['bytesSent', 'Bytes sent to other peers'],
  ['bytesReceived', 'Bytes received from other peers'],
  ['malformedFrames', 'Frames dropped because they failed strict decoding or validation'],
  ['droppedSends', 'Frames not sent (peer gone or frame over the size limit)'],
  ['peersDisconnectedForMalformedFrames', 'Connections dropped after repeated malformed frames'],
  ['updatesApplied', 'Remote document updates that changed a document'],
  ['duplicateUpdates', 'Remote document updates that were already known'],
  ['pendingUpdates', 'Remote document updates waiting for missing dependencies'],
  ['invalidUpdates', 'Remote document updates refused as invalid'],
  ['unknownDocumentFrames', 'Frames for documents this peer does not hold'],
  ['updatesForwarded', 'Document updates forwarded to peers'],
  ['antiEntropyRounds', 'Anti-entropy rounds run'],
  ['ephemeralSent', 'Ephemeral registers sent'],
  ['ephemeralReceived', 'Ephemeral registers received'],
  ['ephemeralForwarded', 'Ephemeral registers forwarded'],
]

/** Gossip router counters, exported when the peer routes by `random` or `latency`. */
const ROUTER_COUNTERS: ReadonlyArray<[keyof RouterStats, string]> = [
  ['eagerSent', 'Update-carrying gossip frames sent (first copies and relays)'],
  ['duplicateGossip', 'Gossip frames received on a tree this peer had already relayed them on'],
  ['childrenAdopted', 'Tree children skipped for a down link, their subtree adopted'],
  ['digestsSent', 'Lazy digests (clock ranges of updates newly seen) sent'],
  ['digestRanges', 'Clock ranges named in the lazy digests sent'],
  ['grafts', 'Pulls after a digest showed updates the eager path had not brought'],
  ['gapPulls', 'Pulls because an arriving update could not integrate'],
  ['pingsSent', 'Round-trip probes sent'],
  ['pingsLost', 'Round-trip probes never answered'],
  ['treeRebuilds', 'Dissemination trees rebuilt after the latency map changed'],
  ['eagerSetChanges', 'Changes of this peer own first-hop set'],
]

/** Priority-lane counters. */
const LANE_COUNTERS: ReadonlyArray<[keyof LaneStats, string]> = [
  ['criticalUpdates', 'Local updates in the critical lane (sent at once)'],
  ['normalUpdates', 'Local updates in the normal lane (batched)'],
  ['bulkUpdates', 'Local updates in the bulk lane (coalesced)'],
  ['sends', 'Messages the lanes handed on (single or merged updates)'],
  ['promoted', 'Queued updates sent early with a more urgent one'],
  ['overloadFlushes', 'Times the lane queue bound forced every batch out'],
]

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

/**
 * Exposes a peer's counters on a prom-client registry. Values are read at scrape time, so the hot
 * path pays nothing for metrics.
 */
export const registerPeerMetrics = (peer: Peer, registry: Registry, prefix = 'realmsync_'): void => {
  for (const [key, help] of COUNTERS) {
    new Counter({
      name: `${prefix}${snakeCase(key)}_total`,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset()
        this.inc({ peer: peer.id }, peer.stats()[key])
      },
    })
  }
  for (const [key, help] of ROUTER_COUNTERS) {
    new Counter({
      name: `${prefix}router_${snakeCase(key)}_total`,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset()
        const stats = peer.routerStats()
        if (stats !== undefined) this.inc({ peer: peer.id }, stats[key])
      },
    })
  }
  for (const [key, help] of LANE_COUNTERS) {
    new Counter({
      name: `${prefix}lane_${snakeCase(key)}_total`,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset()
        const stats = peer.laneStats()
        if (stats !== undefined) this.inc({ peer: peer.id }, stats[key])
      },
    })
  }
  new Gauge({
    name: `${prefix}peer_rtt_seconds`,
    help: 'Smoothed round-trip time to each connected peer, as the router measures it',
    labelNames: ['peer', 'remote'],
    registers: [registry],
    collect() {
      this.reset()
      const router = peer.router
      if (router === undefined) return
      for (const remote of peer.connectedPeers()) {
        const rtt = router.rttTo(remote)
        if (rtt !== undefined) this.set({ peer: peer.id, remote }, rtt / 1000)
      }
    },
  })
  const propagation = new Histogram({
    name: `${prefix}propagation_seconds`,
    help: 'Delay from an update leaving its origin to its first arrival here (origin clock to ours)',
    labelNames: ['peer'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5],
    registers: [registry],
  })
  peer.onPropagation((_doc, _origin, delayMs) => propagation.observe({ peer: peer.id }, Math.max(0, delayMs) / 1000))
  new Gauge({
    name: `${prefix}connected_peers`,
    help: 'Peers currently connected',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.set({ peer: peer.id }, peer.connectedPeers().length)
    },
  })
  new Gauge({
    name: `${prefix}ephemeral_registers`,
    help: 'Ephemeral registers held',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.set({ peer: peer.id }, peer.ephemeral.size)
    },
  })
}
