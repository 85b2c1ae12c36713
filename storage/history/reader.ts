import { openSqliteStore, type SqliteDocumentStore } from '../sqlite-store.js'
import type { FieldChange } from './diff.js'
import { epochDiff, epochEncodedStateAt, epochStateAt, listAcrossEpochs, listEpochs, traceAcrossEpochs, type EpochHistoryEntry, type EpochRef, type EpochSummary, type EpochTraceStep } from './epochs.js'
import type { HistoryRange } from './list.js'
import type { Moment } from './moment.js'
import type { DocumentStateAt } from './show.js'
import type { TraceTarget } from './trace.js'
import { verifyStore, type DocumentVerification } from './verify.js'

/**
 * The history tools over one store: the library form of `realmsync history ...`. A document with
 * epochs is read across them: times pick the epoch current then, lists and traces follow the chain.
 */
export interface HistoryReader {
  /** Each update with seq, time, origin, size and a decoded summary, optionally within a range (per epoch, in chain order). */
  list(doc: string, range?: HistoryRange): EpochHistoryEntry[]
  /** The document's epochs in order (empty: it never left epoch 0). */
  epochs(doc: string): EpochSummary[]
  /** The document's content at a moment, as JSON by root name. */
  show(doc: string, at: Moment): Record<string, unknown>
  /** The document's state at a moment, with the sequence and time it resolved to, and the epoch it came from. */
  stateAt(doc: string, at: Moment): DocumentStateAt & { readonly epoch?: EpochRef }
  /** The document's state at a moment as one Yjs update (of the epoch current at that moment). */
  encodedStateAt(doc: string, at: Moment): Uint8Array
  /** What changed between two moments. */
  diff(doc: string, from: Moment, to: Moment): FieldChange[]
  /** Every change of one item's holder and fields, or one entity's fields, with origin peers, across epochs. */
  trace(doc: string, target: TraceTarget): EpochTraceStep[]
  /** Replays every document's log and snapshots and checks they agree. */
  verify(): Promise<DocumentVerification[]>
}

/** The history tools over an open store (the store stays the caller's to close). */
export const history = (store: SqliteDocumentStore): HistoryReader => ({
  list: (doc, range = {}) => listAcrossEpochs(store, doc, range),
  epochs: (doc) => listEpochs(store, doc),
  show: (doc, at) => epochStateAt(store, doc, at).content,
  stateAt: (doc, at) => epochStateAt(store, doc, at),
  encodedStateAt: (doc, at) => epochEncodedStateAt(store, doc, at),
  diff: (doc, from, to) => epochDiff(store, doc, from, to),
  trace: (doc, target) => traceAcrossEpochs(store, doc, target),
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
