import type { Logger } from 'pino'
import type { DialOutcome } from './bootstrap-dialer.js'
import { SELF_CONNECTION_REASON, type AdmissionOutcome } from './cluster-admission.js'
import type { LinkOwner, PeerLink } from './peer-link.js'
import type { EndpointId, TransportHandlers } from './transport.js'
import type { TransportStats } from './transport-stats.js'

/**
 * The admitted links of a network transport, one active link per remote peer, and the owner's
 * handlers. Both network transports share it: it decides which of two links to one peer survives
 * (simultaneous dials), turns link events into `onConnect`/`onDisconnect`, and never lets a
 * handler's throw escape.
 */
export class LinkTable implements LinkOwner {
  /** The owner's handlers, once `listen` was called. */
  handlers: TransportHandlers | undefined
  private readonly active = new Map<EndpointId, PeerLink>()
  private readonly all = new Set<PeerLink>()
  /** Peers whose active link closed while another link to them was still in its handshake. */
  private readonly orphaned = new Set<EndpointId>()
  private readonly waiting = new Map<PeerLink, (outcome: DialOutcome) => void>()

  constructor(
    private readonly selfId: EndpointId,
    private readonly logger: Logger,
    private readonly stats: TransportStats,
    /** Called when a peer has no admitted link left (redial it, forget its connection). */
    private readonly peerDown: (peer: EndpointId) => void,
    /** Called for every link that closed. */
    private readonly linkClosed: (link: PeerLink) => void = () => {},
  ) {}

  /** Registers a new link (before its handshake starts). */
  add(link: PeerLink): void {
    this.all.add(link)
  }

  /** Resolves when a link's handshake ends: admitted, refused, or closed first. */
  outcomeOf(link: PeerLink): Promise<DialOutcome> {
    if (link.state === 'open' && link.remoteId) return Promise.resolve({ kind: 'admitted', peer: link.remoteId })
    if (link.state === 'closed') return Promise.resolve({ kind: 'failed', reason: 'link closed' })
    return new Promise((resolve) => this.waiting.set(link, resolve))
  }

  admitted(link: PeerLink, outcome: Extract<AdmissionOutcome, { admitted: true }>): void {
    const peer = outcome.remoteId
    this.stats.linksAdmitted++
    this.settle(link, { kind: 'admitted', peer })
    const current = this.active.get(peer)
    if (current && current !== link && current.state === 'open') {
      // Two links to one peer (both dialed at once): both sides keep the one dialed by the smaller
      // peer id, so they agree without talking about it; ties keep the older link.
      const keepNew = this.dialerOf(link) < this.dialerOf(current)
      const loser = keepNew ? current : link
      if (keepNew) this.active.set(peer, link)
      this.stats.duplicateLinksClosed++
      this.logger.debug({ peer, keptOutbound: (keepNew ? link : current).outbound }, 'closing duplicate link')
      loser.close('duplicate link')
      return
    }
    this.active.set(peer, link)
    // A successor to a link that closed while this one was in its handshake: the owner never saw
    // the peer leave, so it must not see it join again.
    if (this.orphaned.delete(peer)) return
    this.logger.info({ peer, by: outcome.by, outbound: link.outbound }, 'peer admitted')
    this.notify((handlers) => handlers.onConnect(peer))
  }

  refused(link: PeerLink, reason: string, remoteId: string | undefined): void {
    const self = reason === SELF_CONNECTION_REASON || reason.endsWith(SELF_CONNECTION_REASON)
    this.settle(link, self ? { kind: 'self' } : { kind: 'failed', reason })
    if (self) return
    this.stats.linksRefused++
    this.logger.warn({ peer: remoteId, outbound: link.outbound, reason }, 'peer refused')
  }

  frame(link: PeerLink, frame: Uint8Array): void {
    const from = link.remoteId as EndpointId
    this.stats.framesReceived++
    this.stats.bytesReceived += frame.length
    if (!this.handlers) {
      this.stats.framesUndelivered++
      return
    }
    this.notify((handlers) => handlers.onFrame(from, frame))
  }

  closed(link: PeerLink): void {
    this.all.delete(link)
    this.settle(link, { kind: 'failed', reason: 'link closed during the handshake' })
    this.linkClosed(link)
    const peer = link.remoteId
    if (!peer) return
    const wasActive = this.active.get(peer) === link
    if (!wasActive && !this.orphaned.has(peer)) return
    const others = [...this.all].filter((other) => other.remoteId === peer)
    const successor = others.find((other) => other.state === 'open')
    if (successor) {
      this.active.set(peer, successor)
      this.orphaned.delete(peer)
      return
    }
    this.active.delete(peer)
    // Two links to one peer, each side closing the loser: the winner may still be finishing its
    // handshake here. Wait for it rather than report a disconnect and a reconnect.
    if (others.some((other) => other.state === 'handshake')) {
      this.orphaned.add(peer)
      return
    }
    this.orphaned.delete(peer)
    this.logger.info({ peer }, 'peer disconnected')
    this.notify((handlers) => handlers.onDisconnect(peer))
    this.peerDown(peer)
  }

  /** Sends a frame on the active link to `to`; false if dropped. */
  send(to: EndpointId, frame: Uint8Array): boolean {
    const link = this.active.get(to)
    if (!link) {
      this.stats.sendsNotConnected++
      return false
    }
    return link.send(frame)
  }

  /** Peers with an admitted link. */
  connectedPeers(): EndpointId[] {
    return [...this.active.keys()]
  }

  /** Whether `peer` has an admitted link. */
  isConnected(peer: EndpointId): boolean {
    return this.active.has(peer)
  }

  /** The active link to `peer`, if any. */
  linkTo(peer: EndpointId): PeerLink | undefined {
    return this.active.get(peer)
  }

  /** Closes every link to `peer`. */
  disconnect(peer: EndpointId, reason: string): void {
    for (const link of [...this.all]) if (link.remoteId === peer) link.close(reason)
  }

  /** Closes every link. */
  closeAll(reason: string): void {
    for (const link of [...this.all]) link.close(reason)
  }

  private dialerOf(link: PeerLink): string {
    return link.outbound ? this.selfId : (link.remoteId as string)
  }

  private settle(link: PeerLink, outcome: DialOutcome): void {
    const resolve = this.waiting.get(link)
    if (!resolve) return
    this.waiting.delete(link)
    resolve(outcome)
  }

  private notify(call: (handlers: TransportHandlers) => void): void {
    if (!this.handlers) return
    try {
      call(this.handlers)
    } catch (error) {
      this.stats.handlerErrors++
      this.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'transport handler threw')
    }
  }
}
