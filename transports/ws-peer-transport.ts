import type { AddressInfo } from 'node:net'
import pino, { type Logger } from 'pino'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import type { DialOutcome } from './bootstrap-dialer.js'
import { AdmissionHandshake, resolveAdmissionPolicy, type AdmissionPolicy } from './cluster-admission.js'
import { TransportConfigError } from './errors.js'
import { LinkedPeerTransport, resolvePeerIdentity, type LinkedPeerOptions } from './linked-peer-transport.js'
import type { PeerIdentity } from './peer-identity.js'
import { DEFAULT_LINK_LIMITS, PeerLink, type LinkWire } from './peer-link.js'
import type { EndpointId } from './transport.js'

/** Settings of a WebSocket peer transport. */
export interface WsPeerTransportOptions extends LinkedPeerOptions {
  /** Where to accept peers; default 127.0.0.1 on a free port. `false`: dial out only. */
  readonly listen?: { readonly host?: string; readonly port?: number } | false
  /** `ws://host:port` URLs of peers to keep connected; this peer's own URL is skipped. */
  readonly peers?: readonly string[]
  /** WebSocket ping interval; a peer silent for two intervals is dropped. Default 5000 ms. */
  readonly heartbeatMs?: number
}

// Writes past this much unsent data make the link queue instead (its queue is bounded).
const HIGH_WATER_BYTES = 1024 * 1024

const toBytes = (data: RawData): Uint8Array => {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * A `Transport` between peers over WebSockets (`ws`): a server for incoming peers plus outgoing
 * connections to listed URLs, each carrying the same admission handshake and frames as the libp2p
 * transport, one WebSocket message per frame. Plain `ws://` does not encrypt: run it inside a
 * private network or behind TLS; the handshake still authenticates both ends.
 */
export class WsPeerTransport extends LinkedPeerTransport {
  /** Open sockets and their heartbeat state. */
  private readonly sockets = new Map<WebSocket, { alive: boolean; pingSentAt: number; link: PeerLink }>()
  private readonly rtts = new Map<EndpointId, number>()
  private heartbeat: ReturnType<typeof setInterval> | undefined

  /** @internal Use `createWsPeerTransport`. */
  constructor(
    identity: PeerIdentity,
    private readonly admission: AdmissionPolicy,
    private readonly server: WebSocketServer | undefined,
    options: WsPeerTransportOptions,
    logger: Logger,
  ) {
    super(identity, logger, { addresses: options.peers ?? [], limits: options.limits, backoff: options.backoff })
    server?.on('connection', (socket) => {
      if (this.closing) socket.terminate()
      else this.attach(socket, false)
    })
    const heartbeatMs = options.heartbeatMs ?? 5000
    this.heartbeat = setInterval(() => this.beat(), heartbeatMs)
    this.heartbeat.unref?.()
  }

  /** The URL peers dial to reach this one, if it listens. */
  url(): string | undefined {
    const address = this.server?.address() as AddressInfo | undefined
    if (!address) return undefined
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    return `ws://${host}:${address.port}`
  }

  /** Round-trip time of the last WebSocket ping to `peer`, in ms. */
  rttMs(peer: EndpointId): number | undefined {
    return this.rtts.get(peer)
  }

  /** @internal */
  start(): void {
    this.dialer.start()
  }

  protected override peerDown(peer: EndpointId): void {
    this.rtts.delete(peer)
    super.peerDown(peer)
  }

  /** Stops dialing, closes every link and the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat)
      this.dialer.stop()
      this.table.closeAll('transport closing')
      for (const socket of this.sockets.keys()) socket.terminate()
      if (this.server) await new Promise<void>((resolve) => (this.server as WebSocketServer).close(() => resolve()))
    })()
    return this.closing
  }

  protected dial(url: string): Promise<DialOutcome> {
    return new Promise((resolve) => {
      const socket = new WebSocket(url, { maxPayload: this.maxPayload(), handshakeTimeout: this.limits.handshakeTimeoutMs })
      const failed = (error: Error): void => {
        this.stats.dialFailures++
        resolve({ kind: 'failed', reason: error.message })
      }
      socket.once('error', failed)
      socket.once('open', () => {
        socket.off('error', failed)
        resolve(this.table.outcomeOf(this.attach(socket, true)))
      })
    })
  }

  // ws buffers a whole message before it can be judged; a little slack over the frame limit lets
  // an oversized frame be dropped on its own, anything beyond closes the connection (code 1009).
  private maxPayload(): number {
    return this.limits.maxFrameBytes + 64 * 1024
  }

  private attach(socket: WebSocket, outbound: boolean): PeerLink {
    let lastWrite: Promise<void> = Promise.resolve()
    const wire: LinkWire = {
      write: (message) => {
        if (socket.readyState !== WebSocket.OPEN) return true
        lastWrite = new Promise((resolve, reject) => socket.send(message, { binary: true }, (error) => (error ? reject(error) : resolve())))
        lastWrite.catch(() => {}) // a failed write closes the socket; its close event ends the link
        return socket.bufferedAmount < HIGH_WATER_BYTES
      },
      // The callback of the last write fires once everything before it left the process.
      drained: () => lastWrite,
      close: (reason) => {
        if (socket.readyState === WebSocket.OPEN) socket.close(1000, reason.slice(0, 100))
        const timer = setTimeout(() => socket.terminate(), 1000)
        timer.unref?.()
      },
    }
    const handshake = new AdmissionHandshake(this.identity, this.admission)
    const link = new PeerLink(wire, handshake, outbound, this.table, this.limits, this.stats)
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.stats.malformedLinks++
        this.logger.warn({ peer: link.remoteId }, 'dropping link: text message on a binary protocol')
        link.close('text message')
        return
      }
      const bytes = toBytes(data)
      if (bytes.length > link.maxIncomingBytes) link.oversized(bytes.length)
      else link.receive(bytes)
    })
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.stats.oversizedFramesReceived++
      this.logger.debug({ peer: link.remoteId, err: error.message }, 'websocket error')
    })
    const beat = { alive: true, pingSentAt: 0, link }
    this.sockets.set(socket, beat)
    socket.on('pong', () => {
      beat.alive = true
      if (link.remoteId && beat.pingSentAt > 0) this.rtts.set(link.remoteId, Date.now() - beat.pingSentAt)
    })
    socket.on('ping', () => (beat.alive = true))
    socket.once('close', () => {
      this.sockets.delete(socket)
      // Not channelClosed(): a refusal verdict may still be in the handshake inbox, unread.
      link.remoteEnded()
    })
    this.table.add(link)
    link.start()
    return link
  }

  private beat(): void {
    for (const [socket, beat] of this.sockets) {
      if (!beat.alive) {
        this.logger.warn({ peer: beat.link.remoteId }, 'dropping a websocket peer that stopped answering pings')
        socket.terminate()
        continue
      }
      beat.alive = false
      beat.pingSentAt = Date.now()
      if (socket.readyState === WebSocket.OPEN) socket.ping()
    }
  }
}

/** Starts a WebSocket peer transport: a server (unless `listen: false`) and links to the listed peers. */
export const createWsPeerTransport = async (options: WsPeerTransportOptions): Promise<WsPeerTransport> => {
  resolveAdmissionPolicy(options.admission)
  for (const url of options.peers ?? []) {
    if (!/^wss?:\/\//.test(url)) throw new TransportConfigError(`peer URL ${url} is not a ws:// or wss:// URL`)
  }
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ transport: 'ws' })
  const identity = await resolvePeerIdentity(options, logger)
  let server: WebSocketServer | undefined
  if (options.listen !== false) {
    const limits = { ...DEFAULT_LINK_LIMITS, ...options.limits }
    server = await new Promise<WebSocketServer>((resolve, reject) => {
      const wss = new WebSocketServer({ host: options.listen ? options.listen.host ?? '127.0.0.1' : '127.0.0.1', port: options.listen ? options.listen.port ?? 0 : 0, maxPayload: limits.maxFrameBytes + 64 * 1024 })
      wss.once('listening', () => resolve(wss))
      wss.once('error', reject)
    })
  }
  const transport = new WsPeerTransport(identity, options.admission, server, options, logger)
  transport.start()
  logger.info({ id: identity.id, url: transport.url(), createdKey: identity.created }, 'websocket peer transport listening')
  return transport
}
