import { openSqliteStore, type SqliteDocumentStore } from '../sqlite-store.js'
import { diffHistory, type FieldChange } from './diff.js'
import { listHistory, type HistoryEntry, type HistoryRange } from './list.js'
import type { Moment } from './moment.js'
import { encodedStateAt, showHistory, stateAt, type DocumentStateAt } from './show.js'
import { traceHistory, type TraceStep, type TraceTarget } from './trace.js'
import { verifyStore, type DocumentVerification } from './verify.js'

/** The history tools over one store: the library form of `realmsync history ...`. */
export interface HistoryReader {
  /** Each update with seq, time, origin, size and a decoded summary, optionally within a range. */
  list(doc: string, range?: HistoryRange): HistoryEntry[]
  /** The document's content at a moment, as JSON by root name. */
  show(doc: string, at: Moment): Record<string, unknown>
  /** The document's state at a moment, with the sequence and time it resolved to. */
  stateAt(doc: string, at: Moment): DocumentStateAt
  /** The document's state at a moment as one Yjs update. */
  encodedStateAt(doc: string, at: Moment): Uint8Array
  /** What changed between two moments. */
  diff(doc: string, from: Moment, to: Moment): FieldChange[]
  /** Every change of one item's holder and fields, or one entity's fields, with origin peers. */
  trace(doc: string, target: TraceTarget): TraceStep[]
  /** Replays every document's log and snapshots and checks they agree. */
  verify(): Promise<DocumentVerification[]>
}

/** The history tools over an open store (the store stays the caller's to close). */
export const history = (store: SqliteDocumentStore): HistoryReader => ({
  list: (doc, range = {}) => listHistory(store, doc, range),
  show: (doc, at) => showHistory(store, doc, at),
  stateAt: (doc, at) => stateAt(store, doc, at),
  encodedStateAt: (doc, at) => encodedStateAt(store, doc, at),
  diff: (doc, from, to) => diffHistory(store, doc, from, to),
  trace: (doc, target) => traceHistory(store, doc, target),
  verify: () => verifyStore(store),
})

/** History tools over a data directory opened by `openHistory`, with the store underneath and a way to close it. */
export type OpenedHistory = HistoryReader & { readonly store: SqliteDocumentStore; close(): Promise<void> }

/**
 * Opens the history of a data directory for reading (never creating one: `MissingDataDirError`
 * if absent). It may run beside a live peer: WAL lets readers and the writer work at once.
 */
export const openHistory = (dataDir: string): OpenedHistory => {
  const store = openSqliteStore(dataDir, { create: false, snapshotEvery: 0 })
  return { ...history(store), store, close: () => store.close() }
}
