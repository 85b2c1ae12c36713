// The contract between bench/epoch-cluster-bench.ts (the parent) and bench/epoch-cluster-worker.ts
// (one child process per peer): what a worker is started with, the commands it takes on stdin and
// the answers it writes on stdout, one JSON object per line (read through json-line-child.ts).
import type { BenchStoreMode } from './cluster-protocol.js'
import type { CutWindowSummary } from './cut-window-latency.js'
import type { HistogramData } from './latency-histogram.js'

/** What a worker is started with (argv[2], JSON). */
export interface EpochWorkerConfig {
  /** This worker's position in the cluster; names the keys it writes. */
  readonly index: number
  /** Workers in the cluster (its keys are its share of the document's). */
  readonly workers: number
  /** Its listen multiaddr on loopback. */
  readonly listen: string
  /** The other workers' listen multiaddrs: the peer keeps them connected. */
  readonly bootstrap: readonly string[]
  /** A fresh directory for the peer key and the SQLite store. */
  readonly dataDir: string
  readonly secret: string
  readonly store: BenchStoreMode
  /** Document epochs on (default bound) or off. */
  readonly epochs: boolean
}

/** One load phase, the same for every worker. */
export interface EpochRunPlan {
  /** Wall-clock ms (epoch) when every worker starts writing. */
  readonly startAt: number
  readonly seconds: number
  /** Updates per second this worker writes. */
  readonly rate: number
  /** Seconds between samples of heap (after a forced GC), encoded size, RSS and CPU. */
  readonly sampleEveryS: number
  /** Keys in the whole document (each worker writes its own share of them). */
  readonly keys: number
  /** Wait after writing stops, for updates still in flight, before the final content is compared. */
  readonly drainMs: number
}

/** Commands on a worker's stdin. */
export type EpochWorkerCommand =
  | { readonly cmd: 'peers' }
  | { readonly cmd: 'run'; readonly plan: EpochRunPlan }
  | { readonly cmd: 'content' }
  | { readonly cmd: 'quit' }

/** One sample of a worker. */
export interface EpochWorkerSample {
  readonly atS: number
  /** Live heap after a forced GC. */
  readonly heapMiB: number
  readonly rssMiB: number
  /** The current replica, encoded. */
  readonly encodedKiB: number
  /** The document's epoch number (0 without epochs). */
  readonly epoch: number
  /** CPU since the previous sample, % of one core (whole process). */
  readonly cpuPercent: number
  /** p99 of remote updates applied since the previous sample (null when none). */
  readonly p99Ms: number | null
}

/** What a worker measured in one load phase. */
export interface EpochWorkerReport {
  readonly event: 'report'
  readonly id: string
  readonly writes: number
  /** Writes not made because the process fell more than 0.1 s behind (starved of CPU). */
  readonly skipped: number
  readonly samples: readonly EpochWorkerSample[]
  /** Delays of remote updates (creation on their writer to application here), split around cuts. */
  readonly latency: CutWindowSummary
  /** Cuts this peer made (it was the coordinator) and switches it went through. */
  readonly cuts: number
  readonly switches: number
  readonly carriedWrites: number
  readonly staleFrames: number
  /** CPU of each timer callback in which this peer cut (the whole cut on the coordinator), ms. */
  readonly cutCpu: HistogramData
  readonly cutWallMaxMs: number
  /** CPU over the load phase (sampling's forced GCs included), % of one core. */
  readonly cpuPercent: number
  /** Time spent sampling (forced GC, encoding), % of the phase. */
  readonly samplingPercent: number
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
  /** After the drain: the replica's content (fresh-document size) and a hash of it, for convergence. */
  readonly contentKiB: number
  readonly contentHash: string
  readonly finalEncodedKiB: number
}

/** A replica's content now: the parent asks until every replica holds the same. */
export interface EpochWorkerContent {
  readonly event: 'content'
  readonly hash: string
  /** `n.coordinator.hash` (shortened), `0` before any cut. */
  readonly epoch: string
  /** Cuts made and switches gone through so far (forks settle after the load, on a loaded machine). */
  readonly cuts: number
  readonly switches: number
}

/** Answers on a worker's stdout. */
export type EpochWorkerAnswer =
  | { readonly event: 'ready'; readonly id: string; readonly addresses: readonly string[] }
  | { readonly event: 'peers'; readonly peers: number }
  | EpochWorkerReport
  | EpochWorkerContent
  | { readonly event: 'error'; readonly message: string }

/** The document every worker writes to. */
export const EPOCH_BENCH_DOC = 'world/bench/epochs'
