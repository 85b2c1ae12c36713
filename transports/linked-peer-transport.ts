import type { Logger } from 'pino'
import { BootstrapDialer, type DialOutcome } from './bootstrap-dialer.js'
import type { AdmissionPolicy } from './cluster-admission.js'
import { LinkTable } from './link-table.js'
import { ephemeralIdentity, loadOrCreateIdentity, type PeerIdentity } from './peer-identity.js'
import { DEFAULT_LINK_LIMITS, type LinkLimits, type PeerLink } from './peer-link.js'
import { DEFAULT_BACKOFF, type BackoffPolicy } from './redial-backoff.js'
import type { EndpointId, Transport, TransportHandlers } from './transport.js'
import { createTransportStats, type TransportStats } from './transport-stats.js'

/** Options the libp2p and WebSocket peer transports share. */
export interface LinkedPeerOptions {
  /** The peer key lives in `<dataDir>/peer-key` (created on first start; both transports read the same key, so a peer has one id). */
  readonly dataDir?: string
  /** An identity held elsewhere; wins over `dataDir`. Without either, a fresh one per start. */
  readonly identity?: PeerIdentity
  /** Who may join; required (a secret, an allow-list, or explicitly open). */
  readonly admission: AdmissionPolicy
  /** Frame size, queue and handshake limits. */
  readonly limits?: Partial<LinkLimits>
  /** Redial backoff for the listed peers. */
  readonly backoff?: Partial<BackoffPolicy>
  /** Structured logger; default silent. */
  readonly logger?: Logger
}

/** The identity a peer transport runs as: the given one, else the key in `dataDir`, else a fresh one; warns when the key file is readable by others. */
export const resolvePeerIdentity = async (options: LinkedPeerOptions, logger: Logger): Promise<PeerIdentity> => {
  const identity = options.identity ?? (options.dataDir ? await loadOrCreateIdentity(options.dataDir) : await ephemeralIdentity())
  if (identity.looseFileMode) logger.warn({ path: identity.keyPath }, 'peer key file is readable by others; it should be mode 0600')
  return identity
}

/** What a linked peer transport is built from, beside its identity and logger. */
export interface LinkedPeerSettings {
  /** Addresses of peers to keep connected (redialled with backoff). */
  readonly addresses: readonly string[]
  readonly limits?: Partial<LinkLimits> | undefined
  readonly backoff?: Partial<BackoffPolicy> | undefined
}

/**
 * What the libp2p and WebSocket peer transports share: admitted links in a `LinkTable` behind the
 * `Transport` surface, a `BootstrapDialer` that keeps listed peers connected, counters, and the
 * closing latch after which nothing is sent. A subclass supplies the wire: how to dial an address
 * (`dial`) and how to close (`close`).
 */
export abstract class LinkedPeerTransport implements Transport {
  /** This peer's id (the libp2p peer id of its key). */
  readonly id: EndpointId
  /** Streams over TCP: in order or not at all. */
  readonly reliable = true
  /** Counters. */
  readonly stats: TransportStats = createTransportStats()
  protected readonly table: LinkTable
  protected readonly dialer: BootstrapDialer
  protected readonly limits: LinkLimits
  /** Set once `close` began: sends are refused from then on. */
  protected closing: Promise<void> | undefined

  protected constructor(
    readonly identity: PeerIdentity,
    protected readonly logger: Logger,
    settings: LinkedPeerSettings,
  ) {
    this.id = identity.id
    this.limits = { ...DEFAULT_LINK_LIMITS, ...settings.limits }
    this.table = new LinkTable(this.id, logger, this.stats, (peer) => this.peerDown(peer), (link) => this.linkClosed(link))
    this.dialer = new BootstrapDialer(settings.addresses, (address) => this.dial(address), (peer) => this.table.isConnected(peer), logger, {
      ...DEFAULT_BACKOFF,
      ...settings.backoff,
    })
  }

  /** Connects to one listed address; the dialer retries failures with backoff. */
  protected abstract dial(address: string): Promise<DialOutcome>

  /** A peer has no admitted link left: the dialer redials it if it is listed. */
  protected peerDown(peer: EndpointId): void {
    this.dialer.peerDown(peer)
  }

  /** A link closed (whether or not it was admitted). */
  protected linkClosed(_link: PeerLink): void {}

  /** Listed addresses and the peer each leads to. */
  bootstrapStatus(): Array<{ address: string; peer: string | undefined; failures: number }> {
    return this.dialer.status()
  }

  listen(handlers: TransportHandlers): void {
    this.table.handlers = handlers
  }

  send(to: EndpointId, frame: Uint8Array): boolean {
    if (this.closing) {
      this.stats.sendsNotConnected++
      return false
    }
    return this.table.send(to, frame)
  }

  connectedPeers(): readonly EndpointId[] {
    return this.table.connectedPeers()
  }

  disconnect(peer: EndpointId): void {
    this.table.disconnect(peer, 'disconnected by the owner')
  }

  /** Stops dialing, closes every link and the wire underneath. Idempotent. */
  abstract close(): Promise<void>
}
