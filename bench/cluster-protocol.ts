// The contract between bench/cluster-bench.ts (the parent) and bench/cluster-worker.ts (one child
// process per node): what a worker is started with, the commands it takes on stdin and the answers
// it writes on stdout, one JSON object per line.
import type * as Y from 'yjs'
import type { HistogramData } from './latency-histogram.js'

/**
 * Which system a worker runs: a realmsync peer with a router, or a plain libp2p gossipsub node.
 * Variants: `-1tree` pins the latency router to one tree (no adaptive redundancy); `-normal` tags
 * writes for the normal priority lane (merged per 5 ms); `-ws` runs the peers over the WebSocket
 * peer transport instead of libp2p. `gossipsub-signed` keeps gossipsub's default message signing.
 * `ws-mesh` is the floor: a bare WebSocket mesh applying merged Yjs updates, nothing else.
 */
export type ClusterSystem =
  | 'realmsync-latency'
  | 'realmsync-flood'
  | 'realmsync-latency-1tree'
  | 'realmsync-latency-per-update'
  | 'realmsync-latency-normal'
  | 'realmsync-latency-coalesced'
  | 'realmsync-latency-ws'
  | 'gossipsub'
  | 'gossipsub-signed'
  | 'ws-mesh'

/**
 * How a realmsync worker's SQLite store is set up: `lean` (in memory, no automatic snapshots, no
 * second decode of updates the peer has already validated), `memory` (in memory, store defaults
 * otherwise), or `file-normal` (a WAL file fsynced only at checkpoints, store defaults otherwise).
 */
export type BenchStoreMode = 'lean' | 'memory' | 'file-normal'

/** What a worker is started with (argv[2], JSON). */
export interface WorkerConfig {
  readonly system: ClusterSystem
  /** This worker's position in the cluster; names the keys it writes. */
  readonly index: number
  /** Its listen multiaddr on loopback. */
  readonly listen: string
  /** Every node's listen multiaddr (realmsync bootstraps from these; its own is skipped). */
  readonly bootstrap: readonly string[]
  /** A fresh directory for the peer key and the SQLite store. */
  readonly dataDir: string
  readonly secret: string
  readonly store: BenchStoreMode
}

/** One load phase: write at `rate` from `startAt`, measure the window after the warm-up. */
export interface RunPlan {
  /** `machineNow()` ms when every worker starts writing. */
  readonly startAt: number
  readonly warmupMs: number
  readonly measureMs: number
  /** Writing goes on this long after the window, so the last measured updates see the same load. */
  readonly cooldownMs: number
  /** Wait after writing stops, for updates still in flight. */
  readonly drainMs: number
  /** Updates per second this worker writes. */
  readonly rate: number
  /**
   * The load generator's tick, like a game server's simulation tick: each tick writes every update
   * due by then, each in its own transaction (so its own Yjs update), stamped when it is made.
   */
  readonly tickMs: number
  /**
   * Whether each tick writes all its updates in one transaction (one Yjs update, one message per
   * tick per system), as a game server that commits its simulation tick at once would.
   */
  readonly tickTransaction?: boolean
  /**
   * This worker's ticks fall this long after `startAt` (default 0). Separate game servers do not
   * tick in lockstep: the bench spreads the workers' ticks over one tick unless asked to align them.
   */
  readonly phaseMs?: number
}

/** Commands on a worker's stdin. */
export type WorkerCommand =
  | { readonly cmd: 'dial'; readonly addresses: readonly string[] }
  | { readonly cmd: 'peers' }
  | { readonly cmd: 'run'; readonly plan: RunPlan }
  | { readonly cmd: 'quit' }

/** What a worker measured in one load phase. */
export interface WorkerReport {
  readonly event: 'report'
  /** Updates this worker wrote whose creation time fell in the window. */
  readonly windowWrites: number
  /** Delays of remote updates created in the window, from creation to application here. */
  readonly histogram: HistogramData
  /** CPU time (user + system) over the window, as % of one core. */
  readonly cpuPercent: number
  /** How long the metered window actually was (the planned one, unless the event loop stalled). */
  readonly windowMs: number
  /** CPU over the whole load phase (warm-up, window, cool-down), as % of one core. */
  readonly phaseCpuPercent: number
  readonly phaseMs: number
  /** Longest delay of a load-generator tick past its planned time in the window: event-loop stalls. */
  readonly maxTickLateMs: number
  /** Event-loop utilisation over the window, in %. */
  readonly eventLoopPercent: number
  readonly rssMiB: number
  /** System-specific counters, as differences over the window. */
  readonly counters: Record<string, number>
  /** System-specific gauges at the end of the window. */
  readonly gauges: Record<string, number>
}

/** Answers on a worker's stdout. */
export type WorkerAnswer =
  | { readonly event: 'ready'; readonly id: string; readonly addresses: readonly string[] }
  | { readonly event: 'dialed' }
  | { readonly event: 'peers'; readonly peers: number }
  | WorkerReport
  | { readonly event: 'error'; readonly message: string }

/** A node as the worker's load generator sees it: one shared document replicated by some system. */
export interface BenchNode {
  readonly id: string
  readonly addresses: readonly string[]
  /** The shared document; local writes to it replicate, remote ones are applied to it. */
  readonly doc: Y.Doc
  /** Transaction origin of local writes (a priority lane), if the system takes one. */
  readonly writeOrigin?: unknown
  /** Connects to the other nodes, if the system does not do so by itself. */
  dial(addresses: readonly string[]): Promise<void>
  /** Peers that would receive an update published now. */
  readyPeers(): number
  /** Cumulative counters (frames, bytes, router events...). */
  counters(): Record<string, number>
  /** Current values (mesh size, trees per update...), read at the end of a window. */
  gauges(): Record<string, number>
  close(): Promise<void>
}

/** The document (realmsync) or topic (gossipsub) every node writes to. */
export const BENCH_DOC = 'world/bench/shared'

/** Keys each worker cycles through: bounded, so the map is overwritten as game state is. */
export const KEYS_PER_WORKER = 1000

/**
 * Ms on the machine's monotonic clock (CLOCK_MONOTONIC), with sub-ms precision: every process on the
 * machine reads the same clock. `performance.timeOrigin + performance.now()` does not: each process
 * pairs its own wall-clock origin with its monotonic start, and under load that pairing was seen
 * 12-20 ms apart between processes (bench/resolution-bench.ts reports it as `wallClockSkewMs`).
 */
export const machineNow = (): number => Number(process.hrtime.bigint()) / 1e6

/** Wall-clock ms with sub-ms precision, per process (see `machineNow` for comparing across processes). */
export const wallNow = (): number => performance.timeOrigin + performance.now()
