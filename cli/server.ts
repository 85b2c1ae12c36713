import { randomInt } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import pino, { type Level, type Logger } from 'pino'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { createRandom, createSystemClock } from '../core/index.js'
import { Peer, registerPeerMetrics, type PeerOptions } from '../replication/index.js'
import { defaultAuthenticate, startGateway, type DrainReport, type Gateway, type IntentChannelOptions, type KeySource, type SessionOptions } from '../gateway/index.js'
import { registerSpectatorMetrics, SpectatorHub } from '../spectator/index.js'
import { openSqliteStore, type SqliteDocumentStore, type SqliteStoreOptions } from '../storage/index.js'
import {
  createLibp2pTransport,
  createWsPeerTransport,
  registerTransportMetrics,
  TransportConfigError,
  type AdmissionPolicy,
  type BackoffPolicy,
  type Libp2pTransport,
  type LinkLimits,
  type WsPeerTransport,
} from '../transports/index.js'

/** Which network transport a server speaks to other peers. */
export type ServerTransportKind = 'libp2p' | 'ws'

/** Settings of a game-server peer process (what `realmsync serve` parses its flags into). */
export interface ServerOptions {
  /** Listen addresses: multiaddrs (`/ip4/0.0.0.0/tcp/4001`); with `ws`, a multiaddr or `ws://host:port`. */
  readonly listen: readonly string[]
  /** Peers to keep connected: multiaddrs, or `ws://` URLs with `ws`. */
  readonly bootstrap: readonly string[]
  /** Data directory: peer key, SQLite document store. Created if absent. */
  readonly dataDir: string
  /** Cluster admission: the shared secret, an allow-list, or both. */
  readonly admission: AdmissionPolicy
  /** Network transport; default `libp2p`. */
  readonly transport?: ServerTransportKind
  /** Region label, attached to every log line and metric. */
  readonly region?: string
  /** Documents accepted from peers, by name; default every valid name. */
  readonly acceptDocuments?: RegExp
  /** Port of the Prometheus endpoint (`/metrics`); 0 picks a free one; absent: no endpoint. */
  readonly metricsPort?: number
  /** Host the metrics endpoint binds; default 127.0.0.1. */
  readonly metricsHost?: string
  /** Logger; default pino to stdout at `logLevel`. */
  readonly logger?: Logger
  /** Log level of the default logger; default `info`. */
  readonly logLevel?: Level | 'silent'
  /** Frame, queue and handshake limits of the transport. */
  readonly limits?: Partial<LinkLimits>
  /** Redial backoff of bootstrap addresses. */
  readonly backoff?: Partial<BackoffPolicy>
  /** Settings of the document store. */
  readonly store?: SqliteStoreOptions
  /** The client WebSocket gateway (y-websocket protocol, JWT auth); absent: no gateway. */
  readonly gateway?: {
    readonly port: number
    readonly host?: string
    readonly key: KeySource
    readonly intents?: IntentChannelOptions
    /** Player sessions (registry, affinity, handoff on drain, resume); default on with default settings. */
    readonly sessions?: SessionOptions
    /** Delayed, filtered spectator views on `/.realmsync/spectate/<doc>` (docs/spectator.md); absent: none. */
    readonly spectators?: { readonly minDelayMs?: number }
  }
  /** Further peer settings (anti-entropy interval, routing, ...). */
  readonly peer?: Partial<Omit<PeerOptions, 'id' | 'transport' | 'clock' | 'random' | 'store' | 'logger' | 'acceptDocument'>>
}

/** A running server. */
export interface ServerHandle {
  /** The replicating peer. */
  readonly peer: Peer
  /** Its transport. */
  readonly transport: Libp2pTransport | WsPeerTransport
  /** Its document store. */
  readonly store: SqliteDocumentStore
  /** Where other peers reach it (multiaddrs with `/p2p/<id>`, or the ws URL). */
  readonly addresses: readonly string[]
  /** The client gateway, when enabled: `ws://host:port/<document>`. */
  readonly gatewayUrl: string | undefined
  /** The metrics endpoint, when enabled: `http://host:port/metrics`. */
  readonly metricsUrl: string | undefined
  /** Documents that failed to load from the store at start (corrupt rows), not served. */
  readonly unreadableDocs: ReadonlyArray<{ doc: string; error: Error }>
  /**
   * Drains the client gateway for maintenance: every player session homed here is handed to another
   * peer (`target`, or spread over the live ones) and new sessions are sent elsewhere; the peer
   * keeps replicating until `close()`. `realmsync serve` does this on SIGUSR2.
   */
  drain(target?: string): Promise<DrainReport>
  /** Stops the peer, flushes pending writes, closes the transport, the store and the endpoint. Idempotent. */
  close(): Promise<void>
}

/** A ws listen address from a multiaddr (`/ip4/h/tcp/p[/ws]`) or a `ws://host:port` URL. */
export const wsListenAddress = (address: string): { host: string; port: number } => {
  if (/^wss?:\/\//.test(address)) {
    const url = new URL(address)
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) }
  }
  let components: ReturnType<ReturnType<typeof multiaddr>['getComponents']>
  try {
    components = multiaddr(address).getComponents()
  } catch (error) {
    throw new TransportConfigError(`bad address ${address}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const host = components.find((component) => ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(component.name))?.value
  const port = components.find((component) => component.name === 'tcp')?.value
  if (host === undefined || port === undefined) throw new TransportConfigError(`address ${address} names no host and TCP port`)
  return { host, port: Number(port) }
}

/** A ws peer URL from a multiaddr or a URL. */
export const wsPeerUrl = (address: string): string => {
  if (/^wss?:\/\//.test(address)) return address
  const { host, port } = wsListenAddress(address)
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}`
}

const startMetricsEndpoint = async (registry: Registry, host: string, port: number, health: () => unknown): Promise<Server> => {
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      )
    } else if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(health()))
    } else {
      response.writeHead(404).end('not found: try /metrics or /healthz\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return server
}

/**
 * Starts a game-server peer: its identity and documents from the data directory, a network
 * transport with cluster admission, a `Peer` replicating every stored document (restored before
 * any peer is heard), structured logs, and optionally a Prometheus endpoint.
 */
export const startServer = async (options: ServerOptions): Promise<ServerHandle> => {
  const baseLogger = options.logger ?? pino({ level: options.logLevel ?? 'info' })
  const logger = options.region ? baseLogger.child({ region: options.region }) : baseLogger
  const kind = options.transport ?? 'libp2p'
  const transport =
    kind === 'libp2p'
      ? await createLibp2pTransport({
          listen: options.listen,
          bootstrap: options.bootstrap,
          dataDir: options.dataDir,
          admission: options.admission,
          logger,
          ...(options.limits ? { limits: options.limits } : {}),
          ...(options.backoff ? { backoff: options.backoff } : {}),
        })
      : await createWsPeerTransport({
          listen: options.listen[0] ? wsListenAddress(options.listen[0]) : { host: '127.0.0.1', port: 0 },
          peers: options.bootstrap.map(wsPeerUrl),
          dataDir: options.dataDir,
          admission: options.admission,
          logger,
          ...(options.limits ? { limits: options.limits } : {}),
          ...(options.backoff ? { backoff: options.backoff } : {}),
        })
  let store: SqliteDocumentStore
  try {
    store = openSqliteStore(options.dataDir, options.store)
  } catch (error) {
    await transport.close()
    throw error
  }
  const accept = options.acceptDocuments
  const peer = new Peer({
    ...options.peer,
    id: transport.id,
    transport,
    clock: createSystemClock(),
    // Seeds document client ids: fresh per process start, as a restarted peer must never reuse one.
    random: createRandom(randomInt(1, 2 ** 31)),
    store,
    logger,
    acceptDocument: accept ? (doc) => accept.test(doc) : () => true,
  })
  const unreadableDocs = await peer.openStoredDocs()
  peer.start()
  const spectatorOptions = options.gateway?.spectators
  const spectators =
    spectatorOptions === undefined
      ? undefined
      : new SpectatorHub({ peer, clock: createSystemClock(), ...(spectatorOptions.minDelayMs !== undefined ? { minDelayMs: spectatorOptions.minDelayMs } : {}) })
  const addresses = 'multiaddrs' in transport ? transport.multiaddrs() : [transport.url() ?? '']

  let metricsServer: Server | undefined
  let metricsUrl: string | undefined
  if (options.metricsPort !== undefined) {
    const registry = new Registry()
    if (options.region) registry.setDefaultLabels({ region: options.region })
    collectDefaultMetrics({ register: registry })
    registerPeerMetrics(peer, registry)
    registerTransportMetrics(transport, registry)
    if (spectators) registerSpectatorMetrics(spectators, registry, peer.id)
    const host = options.metricsHost ?? '127.0.0.1'
    metricsServer = await startMetricsEndpoint(registry, host, options.metricsPort, () => ({
      id: peer.id,
      region: options.region ?? null,
      connectedPeers: peer.connectedPeers(),
      documents: peer.docNames().length,
    }))
    metricsUrl = `http://${host}:${(metricsServer.address() as AddressInfo).port}/metrics`
  }
  let gateway: Gateway | undefined
  let gatewayUrl: string | undefined
  if (options.gateway !== undefined) {
    const host = options.gateway.host ?? '127.0.0.1'
    const { intents } = options.gateway
    gateway = await startGateway({
      peer,
      port: options.gateway.port,
      host,
      authenticate: defaultAuthenticate(options.gateway.key),
      logger,
      sessions: options.gateway.sessions ?? {},
      ...(intents ? { intents } : {}),
      ...(spectators ? { spectators } : {}),
    })
    gatewayUrl = `ws://${host.includes(':') ? `[${host}]` : host}:${gateway.port}`
  }
  logger.info({ id: peer.id, transport: kind, addresses, metricsUrl, gatewayUrl, documents: peer.docNames().length, unreadable: unreadableDocs.length }, 'realmsync peer started')

  let closing: Promise<void> | undefined
  return {
    peer,
    transport,
    store,
    addresses,
    metricsUrl,
    gatewayUrl,
    unreadableDocs,
    drain: async (target) => {
      if (gateway === undefined) throw new TransportConfigError('drain needs the client gateway (--port)')
      const report = await gateway.drain(target)
      // The handed-off records must reach the store and the wire before anyone stops this process.
      await peer.flushed()
      logger.info({ handedOff: report.handedOff.length }, 'gateway drained')
      return report
    },
    close: () => {
      closing ??= (async () => {
        // Clients first, so no write arrives at a peer that is closing.
        await gateway?.close()
        spectators?.close()
        peer.close()
        await transport.close()
        await peer.flushed()
        await store.close()
        if (metricsServer) await new Promise<void>((resolve) => (metricsServer as Server).close(() => resolve()))
        logger.info({ id: peer.id }, 'realmsync peer stopped')
      })()
      return closing
    },
  }
}
