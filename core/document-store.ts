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
