import { Counter, Gauge, type Registry } from 'prom-client'
import type { Peer, PeerStats } from './peer.js'

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
