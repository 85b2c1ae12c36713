import type { HlcTimestamp } from './hlc.js'

/** Where an update came from and when, as recorded next to it in durable storage. */
export interface StoredUpdateMeta {
  /** Hybrid-logical-clock time at the peer that stored it. */
  readonly hlc: HlcTimestamp
  /** Wall time (injected clock) when it was stored, in milliseconds. */
  readonly wallMs: number
  /** The peer (or `local`, or a client id) whose change this is. */
  readonly origin: string
}

/** A document as loaded from durable storage: a snapshot (if any) and the updates logged after it. */
export interface LoadedDocument {
  /** A Yjs update holding the state at the latest snapshot, if one exists. */
  readonly snapshot: Uint8Array | undefined
  /** Yjs updates logged after the snapshot, in log order. */
  readonly updates: readonly Uint8Array[]
}

/** One link of a document's epoch chain as storage keeps it: an epoch id and its parent's state vector at the cut. */
export interface StoredEpochLink {
  /** The epoch number (1, 2, ...; 0 only for the genesis link). */
  readonly n: number
  /** The peer that decided the cut (empty for epoch 0). */
  readonly coordinator: string
  /** SHA-256 (hex) of the epoch's base update (empty for epoch 0). */
  readonly hash: string
  /** `Y.encodeStateVector` of the parent epoch's replica at the coordinator when it cut. */
  readonly cut: Uint8Array
}

/**
 * A document's move to an epoch as storage keeps it: what a peer restarted with no neighbour needs
 * to reopen that epoch and to tell a stale neighbour about it (the announcement: chain and base).
 */
export interface StoredEpoch {
  /** The document. */
  readonly doc: string
  /** The name the epoch's rows are stored under (`name#n.tag`). */
  readonly wire: string
  /** The chain, oldest first, ending at this epoch (the last links only, as announcements carry). */
  readonly chain: readonly StoredEpochLink[]
  /** The epoch's base update: its first stored row. */
  readonly base: Uint8Array
}

/**
 * Durable storage as the peer sees it. The peer never imports `storage/`: it is handed an
 * implementation of this interface (DESIGN.md, layering).
 */
export interface DocumentStore {
  /** Names of every stored document. */
  listDocuments(): Promise<readonly string[]>
  /** Loads a document, or `undefined` if it was never stored. Rejects with a typed error if corrupt. */
  load(doc: string): Promise<LoadedDocument | undefined>
  /** Appends one update; resolves only once it is durable (committed), so callers may then acknowledge it. */
  append(doc: string, update: Uint8Array, meta: StoredUpdateMeta): Promise<void>
  /** Flushes pending writes and releases the storage. */
  close(): Promise<void>
  /**
   * Optional, for document epochs: appends `epoch.base` as an update of `epoch.wire` (its first row)
   * and records the switch in the same transaction, so a crash never keeps the base without the
   * record or the record without the base. Resolves once both are durable.
   */
  saveEpoch?(epoch: StoredEpoch, meta: StoredUpdateMeta): Promise<void>
  /**
   * Optional: the epoch a document last moved to by `saveEpoch`, or `undefined` (never cut, or
   * recorded before switch records were kept). Rejects with a typed error if the record is corrupt.
   */
  loadEpoch?(doc: string): Promise<StoredEpoch | undefined>
}

/** A JSON value the details of an audit record may hold. */
export type AuditValue = string | number | boolean | null | readonly AuditValue[] | { readonly [key: string]: AuditValue }

/** One critical decision (a resolution, a trade, an anti-cheat action), as recorded in an audit log. */
export interface AuditRecord {
  /** What kind of decision: `pickup`, `trade`, `anticheat.flag`, ... */
  readonly kind: string
  /** The peer that made it. */
  readonly peer: string
  /** When, in wall ms (injected clock). */
  readonly timeMs: number
  /** What was decided, as JSON. */
  readonly details: { readonly [key: string]: AuditValue }
}

/**
 * An append-only log of critical decisions. Like `DocumentStore`, it is handed to the components
 * that decide (they never import `storage/`, which provides a tamper-evident implementation).
 */
export interface AuditLog {
  /** Appends one record; resolves once it is durable, with the log's head hashes after it. */
  append(record: AuditRecord): Promise<readonly string[]>
}
