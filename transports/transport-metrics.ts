import { Counter, Gauge, type Registry } from 'prom-client'
import type { EndpointId } from './transport.js'
import type { TransportStats } from './transport-stats.js'

/** What the metrics read from a network transport. */
export interface MeasuredTransport {
  readonly id: EndpointId
  readonly stats: TransportStats
  connectedPeers(): readonly EndpointId[]
  /** Last measured round-trip time to a peer, in ms. */
  rttMs(peer: EndpointId): number | undefined
}

const HELP: Readonly<Record<keyof TransportStats, string>> = {
  framesSent: 'Frames written to peer links',
  framesReceived: 'Frames read from peer links',
  bytesSent: 'Frame bytes written to peer links',
  bytesReceived: 'Frame bytes read from peer links',
  sendsNotConnected: 'Frames not sent: no admitted link to the peer',
  sendsTooLarge: 'Frames not sent: over the frame size limit',
  sendsQueueFull: 'Frames not sent: the peer queue was full under backpressure',
  oversizedFramesReceived: 'Incoming frames over the size limit, dropped',
  malformedLinks: 'Links dropped for a malformed byte stream',
  framesUndelivered: 'Frames that arrived before the owner listened',
  handlerErrors: 'Times the owner handlers threw',
  linksAdmitted: 'Peer links admitted to the cluster',
  linksRefused: 'Peer links refused admission (either side) or timed out',
  duplicateLinksClosed: 'Second links to a connected peer, closed',
  dialFailures: 'Failed dials to bootstrap addresses',
}

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

/** Exposes a transport's counters, connected peers and per-peer RTTs; read at scrape time. */
export const registerTransportMetrics = (transport: MeasuredTransport, registry: Registry, prefix = 'realmsync_transport_'): void => {
  for (const key of Object.keys(HELP) as Array<keyof TransportStats>) {
    new Counter({
      name: `${prefix}${snakeCase(key)}_total`,
      help: HELP[key],
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset()
        this.inc({ peer: transport.id }, transport.stats[key])
      },
    })
  }
  new Gauge({
    name: `${prefix}rtt_seconds`,
    help: 'Last measured round-trip time to each connected peer',
    labelNames: ['peer', 'remote'],
    registers: [registry],
    collect() {
      this.reset()
      for (const remote of transport.connectedPeers()) {
        const rtt = transport.rttMs(remote)
        if (rtt !== undefined) this.set({ peer: transport.id, remote }, rtt / 1000)
      }
    },
  })
}
