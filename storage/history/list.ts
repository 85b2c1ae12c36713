import type { HlcTimestamp, Millis } from '../../core/index.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'
import { type Moment } from './moment.js'
import { replayUpdates } from './replay.js'
import { describeSummary, type UpdateSummary } from './update-summary.js'

/** One entry of `history list`: an update with its time, origin, size and what it changed. */
export interface HistoryEntry {
  readonly seq: number
  readonly wallMs: Millis
  readonly hlc: HlcTimestamp
  readonly origin: string
  /** Encoded size of the update. */
  readonly bytes: number
  /** What it changed, decoded. */
  readonly summary: UpdateSummary
  /** The summary as one line. */
  readonly description: string
}

/** Bounds of a listing; both inclusive, either may be a sequence or a time. */
export interface HistoryRange {
  readonly since?: Moment
  readonly until?: Moment
}

/** The sequence range `[fromSeq, toSeq]` a listing covers, clamped to the history retention kept. */
export const listedSeqRange = (store: SqliteDocumentStore, doc: string, range: HistoryRange): { fromSeq: number; toSeq: number } => {
  const info = store.logInfo(doc)
  const { since, until } = range
  const from = since === undefined ? 1 : 'seq' in since ? since.seq : store.seqAtTime(doc, since.timeMs - 1) + 1
  const to = until === undefined ? info.lastSeq : 'seq' in until ? until.seq : store.seqAtTime(doc, until.timeMs)
  return { fromSeq: Math.max(from, info.historyStartSeq + 1), toSeq: Math.min(to, info.lastSeq) }
}

/**
 * Every update of a document within a range, each with a decoded summary of what it changed. The
 * updates are replayed one by one on a scratch document from the nearest snapshot, so the summary
 * is Yjs's own reading of the update, not a parser of ours.
 */
export const listHistory = (store: SqliteDocumentStore, doc: string, range: HistoryRange = {}): HistoryEntry[] => {
  const { fromSeq, toSeq } = listedSeqRange(store, doc, range)
  const entries: HistoryEntry[] = []
  if (fromSeq > toSeq) return entries
  const sinceMs = range.since && 'timeMs' in range.since ? range.since.timeMs : Number.NEGATIVE_INFINITY
  const untilMs = range.until && 'timeMs' in range.until ? range.until.timeMs : Number.POSITIVE_INFINITY
  replayUpdates(store, doc, { fromSeq, toSeq }, ({ row, summary }) => {
    // A row stamped out of time order (a clock step) stays out of a time-bounded listing.
    if (row.wallMs < sinceMs || row.wallMs > untilMs) return
    entries.push({ seq: row.seq, wallMs: row.wallMs, hlc: row.hlc, origin: row.origin, bytes: row.update.byteLength, summary, description: describeSummary(summary) })
  })
  return entries
}
