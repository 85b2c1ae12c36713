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
