// The contract between the relay benchmarks (bench/relay-bench.ts, bench/gateway-scale-bench.ts),
// their server processes (bench/relay-server.ts) and their load-generator processes
// (bench/relay-load.ts): start configurations, stdin commands and stdout answers, one JSON object
// per line, as in cluster-protocol.ts.
import type { HistogramData } from './latency-histogram.js'

/**
 * The servers compared: realmsync's gateway, the y-websocket reference server, Hocuspocus (its
 * defaults: updates arriving in one event-loop turn go out merged, `flushDelay: 0`), and, on
 * request, Hocuspocus sending every update on its own (`flushDelay: false`), to show what merging buys,
 * and `floor`, a bare ws forwarder without Yjs on the update path (relay-floor-server.ts): the
 * least a relay can do on this machine, a measuring stick rather than a competitor (`floor-corked`:
 * the same with one socket write per client per event-loop turn).
 */
export type RelaySystem = 'realmsync' | 'y-websocket-server' | 'hocuspocus' | 'hocuspocus-unbatched' | 'floor' | 'floor-corked'

/** Which framing a load generator speaks: plain y-websocket, or Hocuspocus (document name first, then auth). */
export type RelayFlavour = 'y-websocket' | 'hocuspocus'

/** The wire flavour each system's clients speak. */
export const FLAVOUR: Record<RelaySystem, RelayFlavour> = {
  realmsync: 'y-websocket',
  'y-websocket-server': 'y-websocket',
  hocuspocus: 'hocuspocus',
  'hocuspocus-unbatched': 'hocuspocus',
  floor: 'y-websocket',
  'floor-corked': 'y-websocket',
}

/** The one document every client of a relay benchmark syncs: wholly the writer's, so writable by it under realmsync's rules. */
export const RELAY_DOC = 'player/w/relay'

/** The player whose document it is; every writer connection authenticates as this player. */
export const RELAY_WRITER = 'w'

/** Shared HS256 secret of the benchmark's realmsync gateways (development only). */
export const RELAY_SECRET = 'relay-bench-secret-0123456789abcdef0123456789'

/** Cluster secret of two realmsync peers serving one world. */
export const RELAY_CLUSTER_SECRET = 'relay-bench-cluster-secret'

/** What a server process is started with (argv[2], JSON). */
export interface RelayServerConfig {
  readonly system: RelaySystem
  /** Loopback host the client endpoint binds. */
  readonly host: string
  /** realmsync only: a fresh data directory. */
  readonly dataDir?: string
  /** realmsync only: peer-to-peer listen address (ws transport), `ws://127.0.0.1:<port>`. */
  readonly peerListen?: string
  /** realmsync only: peers to keep connected. */
  readonly peerBootstrap?: readonly string[]
  /** realmsync only: the gateway's per-connection message rate (default 200/s), so a few writers can carry a high rate. */
  readonly messagesPerSecond?: number
}

/** Commands on a server process's stdin. */
export type RelayServerCommand =
  | { readonly cmd: 'stats'; readonly gc?: boolean }
  | { readonly cmd: 'peers' }
  | { readonly cmd: 'quit' }

/** A server process's resource use at one moment. */
export interface ServerStats {
  readonly event: 'stats'
  /** CPU time (user + system) since start, ms. */
  readonly cpuMs: number
  /** Event-loop active time since start, ms (`performance.eventLoopUtilization().active`). */
  readonly loopActiveMs: number
  readonly rssBytes: number
  readonly heapUsedBytes: number
  /** Open client connections, where the system counts them. */
  readonly connections: number
  /** Process uptime, ms, to turn the cumulative figures into rates. */
  readonly uptimeMs: number
}

/** Answers on a server process's stdout. */
export type RelayServerAnswer =
  | { readonly event: 'ready'; readonly port: number; readonly peerUrl?: string }
  | ServerStats
  | { readonly event: 'peers'; readonly peers: number }
  | { readonly event: 'error'; readonly message: string }

/** What a load-generator process is started with (argv[2], JSON). */
export interface RelayLoadConfig {
  readonly flavour: RelayFlavour
  /** This process's position among the load generators; names its players. */
  readonly index: number
  /** Server endpoints, `ws://host:port`; readers are spread over them round-robin. */
  readonly readerUrls: readonly string[]
  /** The endpoint the writers connect to. */
  readonly writerUrl: string
  /** Reader connections this process opens. */
  readonly readers: number
  /** Writer connections this process opens; the write rate is split over them. */
  readonly writers: number
  /** Local address to connect from (127.0.0.x), to widen the ephemeral port space. */
  readonly localAddress?: string
  /** realmsync's JWT secret; when set, every connection carries a signed token. */
  readonly secret?: string
  /** Connections opened at once while connecting. */
  readonly connectConcurrency: number
}

/** One load phase of a load generator. */
export interface RelayRunPlan {
  /** Wall-clock ms (epoch) when the writers start. */
  readonly startAt: number
  readonly warmupMs: number
  readonly measureMs: number
  readonly cooldownMs: number
  readonly drainMs: number
  /** Updates per second all load generators' writers send together. */
  readonly rate: number
  /**
   * This process's share: of the writes numbered 0, 1, 2... at times n / rate, it sends those with
   * n % of === index, so writes of all processes interleave evenly even at rates below one per
   * process and window.
   */
  readonly share: { readonly index: number; readonly of: number }
  /** The writers' tick in ms. */
  readonly tickMs: number
}

/** Commands on a load generator's stdin. */
export type RelayLoadCommand =
  | { readonly cmd: 'connect' }
  | { readonly cmd: 'run'; readonly plan: RelayRunPlan }
  | { readonly cmd: 'quit' }

/** How connecting went in one load generator. */
export interface ConnectReport {
  readonly event: 'connected'
  readonly connected: number
  readonly failed: number
  /** The first few failure reasons. */
  readonly failures: readonly string[]
  /** Per connection, from dialling to holding the document's state (sync step 2), ms. */
  readonly connectHistogram: HistogramData
  /** Wall time to open every connection of this process, ms. */
  readonly elapsedMs: number
  readonly rssBytes: number
}

/** What one load generator measured in one phase. */
export interface RelayLoadReport {
  readonly event: 'report'
  /** Updates this process's writers sent within the window. */
  readonly windowWrites: number
  /** Fan-out delays of this process's window writes to this process's readers, send to receipt. */
  readonly histogram: HistogramData
  /** The same delays split by the server the reader is connected to (readerUrls order). */
  readonly histogramsByServer: readonly HistogramData[]
  /** Deliveries expected of those: window writes x open readers. */
  readonly expected: number
  /** Every update delivery any reader of this process received inside the window, whoever wrote it. */
  readonly windowDeliveries: number
  /** Window length as metered, ms. */
  readonly windowMs: number
  /** This process's CPU over the window, % of one core. */
  readonly cpuPercent: number
  /** Longest delay of a writer tick past its planned time in the window. */
  readonly maxTickLateMs: number
  /** Readers open at the end of the phase. */
  readonly openReaders: number
  /** Readers closed by the server during the phase (slow reader, rate limit...). */
  readonly closedReaders: number
  readonly closedWriters: number
  /** Protocol refusals heard (permission denied). */
  readonly refusals: number
}

/** Answers on a load generator's stdout. */
export type RelayLoadAnswer =
  | { readonly event: 'ready' }
  | ConnectReport
  | RelayLoadReport
  | { readonly event: 'error'; readonly message: string }
