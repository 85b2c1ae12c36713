import type { Millis } from '../core/index.js'

/**
 * How appends become durable.
 *
 * - `group` (default): appends queue and commit together, one transaction per batch, with
 *   `synchronous=FULL`: in WAL mode SQLite then fsyncs the log at every commit, so an acknowledged
 *   update survives power loss and an OS crash, not only the process dying. Grouping is what makes
 *   FULL affordable: one fsync covers a whole batch.
 * - `sync`: every append commits in its own transaction before `append` returns (still FULL).
 *   Simple and slow (one fsync per update); the baseline group commit is measured against, and handy
 *   in tests that want each row on disk at once.
 * - `memory`: an in-memory database (`synchronous=OFF`, nothing survives the process), with the same
 *   queueing and commit path as `group`; for tests and the simulator.
 */
export type Durability = 'sync' | 'group' | 'memory'

/**
 * SQLite's `synchronous` setting for file databases. `normal` in WAL mode fsyncs only at
 * checkpoints: a committed transaction survives the process being killed (SIGKILL) but may roll back
 * on power loss or an OS crash. Use it only where that is acceptable (benchmarks, throwaway peers).
 */
export type Synchronous = 'full' | 'normal'

/**
 * Which logged updates are kept once a snapshot covers them.
 *
 * - `all` (default): every update, so history tools can show any moment.
 * - `none`: drop every update a snapshot covers; history starts at the latest snapshot.
 * - `{ updates, ms }`: keep at least the last `updates` updates before the latest snapshot and at
 *   least those younger than `ms`. Rows are dropped only up to a snapshot, so every retained moment
 *   can still be rebuilt.
 */
export type Retention = 'all' | 'none' | { readonly updates?: number; readonly ms?: Millis }

/** Settings of the SQLite document store. */
export interface SqliteStoreOptions {
  /** How appends become durable; default `group`. */
  readonly durability?: Durability
  /** Overrides the `synchronous` setting of `sync` and `group` (default `full`). */
  readonly synchronous?: Synchronous
  /** Most updates committed in one transaction; bounds how long a commit blocks the event loop. Default 1000. */
  readonly maxBatch?: number
  /** Delay of the commit tick after the first queued append; 0 (default) commits on the next macrotask. */
  readonly commitDelayMs?: Millis
  /** Write a snapshot after this many logged updates of a document; 0 turns automatic snapshots off. Default 1000. */
  readonly snapshotEvery?: number
  /**
   * A snapshot is also held back until the updates logged since the last one add up to this
   * fraction of its size. Snapshot cost grows with the document, so a large document is compacted
   * less often, keeping the work per logged byte bounded. Default 0.5; 0 disables the check.
   */
  readonly snapshotTailRatio?: number
  /** Which updates a snapshot lets go; default `all`. */
  readonly retention?: Retention
  /** Decode every update before queueing it, so a bad update is refused instead of poisoning the log. Default true. */
  readonly validateAppends?: boolean
  /** Wall time for snapshot rows and time-based retention; default `Date.now`. */
  readonly now?: () => Millis
  /** Create the data directory and database if absent (default true); false raises `MissingDataDirError`. */
  readonly create?: boolean
  /** Hears failures of background work (automatic snapshots); default: none, they are counted in `stats`. */
  readonly onBackgroundError?: (error: Error) => void
}

/** Options with every default filled in. */
export interface ResolvedStoreOptions {
  readonly durability: Durability
  readonly synchronous: Synchronous | 'off'
  readonly maxBatch: number
  readonly commitDelayMs: Millis
  readonly snapshotEvery: number
  readonly snapshotTailRatio: number
  readonly retention: Retention
  readonly validateAppends: boolean
  readonly now: () => Millis
  readonly create: boolean
  readonly onBackgroundError: ((error: Error) => void) | undefined
}

const positiveInteger = (name: string, value: number): number => {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`)
  return value
}

/** Fills in defaults and checks ranges (a bad setting is a programming error: RangeError). */
export const resolveStoreOptions = (options: SqliteStoreOptions): ResolvedStoreOptions => {
  const durability = options.durability ?? 'group'
  const snapshotEvery = options.snapshotEvery ?? 1000
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 0) throw new RangeError(`snapshotEvery must be a non-negative integer, got ${snapshotEvery}`)
  const retention = options.retention ?? 'all'
  if (typeof retention === 'object') {
    for (const [name, value] of Object.entries(retention)) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw new RangeError(`retention.${name} must be a non-negative number, got ${String(value)}`)
    }
  }
  return {
    durability,
    synchronous: durability === 'memory' ? 'off' : (options.synchronous ?? 'full'),
    maxBatch: positiveInteger('maxBatch', options.maxBatch ?? 1000),
    commitDelayMs: Math.max(0, options.commitDelayMs ?? 0),
    snapshotEvery,
    snapshotTailRatio: Math.max(0, options.snapshotTailRatio ?? 0.5),
    retention,
    validateAppends: options.validateAppends ?? true,
    now: options.now ?? Date.now,
    create: options.create ?? true,
    onBackgroundError: options.onBackgroundError,
  }
}
