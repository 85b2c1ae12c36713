// Messages between the interest-scale benchmark (bench/gateway-scale-bench.ts) and its child
// processes: servers (bench/interest-scale-server.ts: a peer with its gateway, sessions and an
// intent engine whose `move` writes the mover's ephemeral position) and load generators
// (bench/interest-scale-load.ts: realmsync clients that subscribe to the area around them, send
// moves, and time each move from its send to its arrival at every client that sees it).
import type { HistogramData } from './latency-histogram.js'
import type { ServerStats } from './relay-protocol.js'

/** Configuration of one server process. */
export interface InterestServerConfig {
  readonly host: string
  readonly peerBootstrap?: readonly string[]
  readonly dataDir: string
  /** Interest fan-out tick, ms. */
  readonly intervalMs: number
  /** Cell side of the fan-out's spatial index. */
  readonly cellSize: number
}

export type InterestServerCommand = { readonly cmd: 'stats'; readonly gc?: boolean } | { readonly cmd: 'peers' } | { readonly cmd: 'quit' }

export type InterestServerAnswer =
  | { readonly event: 'ready'; readonly port: number; readonly peerUrl?: string }
  | (ServerStats & {
      readonly intents: number
      readonly batches: number
      /** Read and write system calls so far (Linux `/proc/self/io`; 0 elsewhere): a socket write is most of what a delivery costs. */
      readonly readCalls: number
      readonly writeCalls: number
      /** User-mode CPU so far, ms (the rest of `cpuMs` is the kernel's, socket writes mostly). */
      readonly userCpuMs: number
    })
  | { readonly event: 'peers'; readonly peers: number }
  | { readonly event: 'error'; readonly message: string }

/** Configuration of one load generator. */
export interface InterestLoadConfig {
  readonly index: number
  /** Its clients, by global index from `first`. */
  readonly first: number
  readonly clients: number
  /** Gateway base URL per server; client `i` connects to `urls[i % urls.length]`. */
  readonly urls: readonly string[]
  readonly localAddress: string
  readonly secret: string
  /** Side of the square world, and the interest radius. */
  readonly worldSize: number
  readonly radius: number
  readonly connectConcurrency: number
}

/** One measured phase: this generator's share of the total intent rate. */
export interface InterestPlan {
  readonly startAt: number
  readonly warmupMs: number
  readonly measureMs: number
  readonly drainMs: number
  readonly intentsPerSecond: number
}

export type InterestLoadCommand = { readonly cmd: 'connect' } | { readonly cmd: 'run'; readonly plan: InterestPlan } | { readonly cmd: 'quit' }

export interface InterestLoadReport {
  readonly event: 'report'
  /** Intent-to-visible delays of moves sent in the window, as seen by every client whose area covers them. */
  readonly histogram: HistogramData
  /** Intent send-to-ack delays (the mover's own answer). */
  readonly ackHistogram: HistogramData
  readonly windowIntents: number
  readonly windowAcks: number
  readonly windowDeliveries: number
  readonly cpuPercent: number
  /** CPU spent in the measured window, ms (its deliveries are those of moves sent in it). */
  readonly windowCpuMs: number
  readonly closed: number
  readonly rejects: number
}

export type InterestLoadAnswer =
  | { readonly event: 'ready' }
  | { readonly event: 'connected'; readonly connected: number; readonly failed: number; readonly elapsedMs: number; readonly failures: readonly string[] }
  | InterestLoadReport
  | { readonly event: 'error'; readonly message: string }

/** The shared secret of the benchmark's tokens (never a real one). */
export const INTEREST_SECRET = 'interest-scale-bench-secret-0123456789abcdef'

/** Where global client `i` lives: a seeded spot in the square world (every process computes the same). */
export const homeOf = (i: number, worldSize: number): { x: number; y: number } => ({ x: (mix(2 * i) / 2 ** 32) * worldSize, y: (mix(2 * i + 1) / 2 ** 32) * worldSize })

/** A 32-bit integer hash with full avalanche (plain multiplicative hashes put the points on a few lattice lines). */
const mix = (value: number): number => {
  let h = value | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x7feb352d)
  h ^= h >>> 15
  h = Math.imul(h, 0x846ca68b)
  h ^= h >>> 16
  return h >>> 0
}
