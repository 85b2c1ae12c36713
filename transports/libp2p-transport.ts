// The polyfill must be installed before libp2p runs (Node 20 lacks Promise.withResolvers).
import './promise-with-resolvers.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import pino, { type Logger } from 'pino'
import type { DialOutcome } from './bootstrap-dialer.js'
import { AdmissionHandshake, resolveAdmissionPolicy, type AdmissionPolicy } from './cluster-admission.js'
import { MalformedLengthPrefixError, TransportConfigError } from './errors.js'
import { CoalescingWriter } from './coalescing-writer.js'
import { LengthPrefixedDecoder } from './length-prefixed-frames.js'
import { LinkedPeerTransport, resolvePeerIdentity, type LinkedPeerOptions } from './linked-peer-transport.js'
import type { PeerIdentity } from './peer-identity.js'
import { PeerLink, type LinkWire } from './peer-link.js'
import type { EndpointId } from './transport.js'

/** The protocol of the one long-lived frames stream per peer (it opens with the admission handshake). */
export const FRAMES_PROTOCOL = '/realmsync/frames/1.0.0'

/** How long a connection whose last link closed stays up so the remote can read the last bytes. */
const CONNECTION_CLOSE_GRACE_MS = 500

/** Settings of a libp2p transport. */
export interface Libp2pTransportOptions extends LinkedPeerOptions {
  /** Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`. Default: loopback, a free port. */
  readonly listen?: readonly string[]
  /** Multiaddrs of peers to keep connected (with or without `/p2p/<id>`); this peer's own is skipped. */
  readonly bootstrap?: readonly string[]
}

/** A `Transport` over libp2p (TCP, noise, yamux), created by `createLibp2pTransport`. Its id is this peer's libp2p peer id. */
export class Libp2pTransport extends LinkedPeerTransport {
  private readonly linksByConnection = new Map<string, Set<PeerLink>>()

  /** @internal Use `createLibp2pTransport`. */
  constructor(
    /** The libp2p node, for callers that need more of it (addresses, metrics). */
    readonly node: Libp2p,
    identity: PeerIdentity,
    private readonly admission: AdmissionPolicy,
    options: Libp2pTransportOptions,
    logger: Logger,
  ) {
    super(identity, logger, { addresses: options.bootstrap ?? [], limits: options.limits, backoff: options.backoff })
  }

  /** @internal Registers the protocol and starts dialing bootstrap peers. */
  async start(): Promise<void> {
    await this.node.handle(FRAMES_PROTOCOL, (stream, connection) => void this.attach(stream, connection, false), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    })
    this.node.addEventListener('connection:open', (event) => this.watchAdmission(event.detail))
    this.dialer.start()
  }

  /** Addresses this peer listens on, with its `/p2p/<id>` suffix. */
  multiaddrs(): string[] {
    return this.node.getMultiaddrs().map((address) => address.toString())
  }

  /** Round-trip time libp2p's connection monitor last measured to `peer`, in ms. */
  rttMs(peer: EndpointId): number | undefined {
    const connection = this.connectionOf(peer)
    return connection?.rtt
  }

  /** Stops dialing, closes every link and stops libp2p. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.dialer.stop()
      this.table.closeAll('transport closing')
      await this.node.stop()
    })()
    return this.closing
  }

  private connectionOf(peer: EndpointId): Connection | undefined {
    const link = this.table.linkTo(peer)
    if (!link) return undefined
    for (const [connectionId, links] of this.linksByConnection) {
      if (links.has(link)) return this.node.getConnections().find((connection) => connection.id === connectionId)
    }
    return undefined
  }

  protected async dial(address: string): Promise<DialOutcome> {
    let connection: Connection
    try {
      connection = await this.node.dial(multiaddr(address))
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      if (error instanceof Error && error.name === 'InvalidPeerIdError' && /dial self/i.test(message)) return { kind: 'self' }
      this.stats.dialFailures++
      return { kind: 'failed', reason: message }
    }
    const peer = connection.remotePeer.toString()
    if (this.table.isConnected(peer)) return { kind: 'admitted', peer }
    const pending = [...(this.linksByConnection.get(connection.id) ?? [])].find((link) => !link.isClosed)
    if (pending) return this.table.outcomeOf(pending)
    let stream: Stream
    try {
      stream = await connection.newStream(FRAMES_PROTOCOL)
    } catch (error) {
      this.stats.dialFailures++
      return { kind: 'failed', reason: `frames stream not opened: ${error instanceof Error ? error.message : String(error)}` }
    }
    const link = this.attach(stream, connection, true)
    return this.table.outcomeOf(link)
  }

  /** Closes a connection that carries no admitted link once the handshake time is up. */
  private watchAdmission(connection: Connection): void {
    const timer = setTimeout(() => {
      const links = this.linksByConnection.get(connection.id)
      if ([...(links ?? [])].some((link) => link.state === 'open') || connection.status !== 'open') return
      this.stats.linksRefused++
      this.logger.warn({ peer: connection.remotePeer.toString() }, 'peer refused: no admission handshake on its connection')
      void connection.close({ signal: AbortSignal.timeout(CONNECTION_CLOSE_GRACE_MS) }).catch(() => connection.abort(new Error('no admission handshake')))
    }, this.limits.handshakeTimeoutMs * 2)
    timer.unref?.()
  }

  private attach(stream: Stream, connection: Connection, outbound: boolean): PeerLink {
    const remote = connection.remotePeer.toString()
    const handshake = new AdmissionHandshake(this.identity, this.admission, remote)
    let link: PeerLink | undefined
    const writer = new CoalescingWriter(stream)
    const wire: LinkWire = {
      write: (message) => writer.write(message),
      drained: () => writer.drained(),
      close: (reason) => {
        writer.flush()
        void stream.close().catch(() => stream.abort(new Error(reason)))
        this.closeConnectionIfUnused(connection, link)
      },
    }
    link = new PeerLink(wire, handshake, outbound, this.table, this.limits, this.stats)
    const current = link
    current.remoteId = remote
    const decoder = new LengthPrefixedDecoder(
      { frame: (bytes) => current.receive(bytes), oversized: (size) => current.oversized(size) },
      () => current.maxIncomingBytes,
      remote,
    )
    stream.addEventListener('message', (event) => {
      try {
        const data = event.data
        if (data instanceof Uint8Array) decoder.push(data)
        else for (const chunk of data) decoder.push(chunk)
      } catch (error) {
        if (!(error instanceof MalformedLengthPrefixError)) throw error
        this.stats.malformedLinks++
        this.logger.warn({ peer: remote, err: error.message }, 'dropping link: malformed byte stream')
        current.close(error.message)
        stream.abort(error)
      }
    })
    stream.addEventListener('remoteCloseWrite', () => current.remoteEnded())
    stream.addEventListener('close', () => current.channelClosed())
    this.table.add(current)
    let links = this.linksByConnection.get(connection.id)
    if (!links) {
      links = new Set()
      this.linksByConnection.set(connection.id, links)
      // A connection going away takes its links with it, even if a stream close event is missed.
      const onClose = (event: CustomEvent<Connection>): void => {
        if (event.detail.id !== connection.id) return
        this.node.removeEventListener('connection:close', onClose)
        for (const each of [...(this.linksByConnection.get(connection.id) ?? [])]) each.channelClosed()
        this.linksByConnection.delete(connection.id)
      }
      this.node.addEventListener('connection:close', onClose)
    }
    links.add(current)
    current.start()
    return current
  }

  protected override linkClosed(link: PeerLink): void {
    for (const [connectionId, links] of this.linksByConnection) {
      if (links.delete(link) && links.size === 0) this.linksByConnection.delete(connectionId)
    }
  }

  /**
   * Closes a connection once no live link uses it. Not at once: the remote should first read what
   * was flushed (a refusal verdict, the last frames of a duplicate link) and close its side itself.
   */
  private closeConnectionIfUnused(connection: Connection, closing: PeerLink | undefined): void {
    const timer = setTimeout(() => {
      const others = [...(this.linksByConnection.get(connection.id) ?? [])].filter((link) => link !== closing && !link.isClosed)
      if (others.length > 0 || connection.status !== 'open') return
      // A graceful close waits for the remote to close its streams; a hostile one never will.
      void connection.close({ signal: AbortSignal.timeout(CONNECTION_CLOSE_GRACE_MS) }).catch(() => connection.abort(new Error('link closed')))
    }, this.closing ? 0 : CONNECTION_CLOSE_GRACE_MS)
    timer.unref?.()
  }
}

/** Starts a libp2p node (TCP, noise, yamux) and returns it as a realmsync `Transport`. */
export const createLibp2pTransport = async (options: Libp2pTransportOptions): Promise<Libp2pTransport> => {
  resolveAdmissionPolicy(options.admission)
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ transport: 'libp2p' })
  const identity = await resolvePeerIdentity(options, logger)
  let listen: string[]
  try {
    listen = (options.listen ?? ['/ip4/127.0.0.1/tcp/0']).map((address) => multiaddr(address).toString())
    for (const address of options.bootstrap ?? []) multiaddr(address)
  } catch (error) {
    throw new TransportConfigError(`bad multiaddr: ${error instanceof Error ? error.message : String(error)}`)
  }
  const node = await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
  const transport = new Libp2pTransport(node, identity, options.admission, options, logger)
  await transport.start()
  logger.info({ id: identity.id, addresses: transport.multiaddrs(), createdKey: identity.created }, 'libp2p transport listening')
  return transport
}
