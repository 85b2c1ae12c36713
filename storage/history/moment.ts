import type { Millis } from '../../core/index.js'
import { HistoryUnavailableError, InvalidMomentError } from '../errors.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'

/** A moment in a document's history: right after a log sequence, or at a wall time in ms. */
export type Moment = { readonly seq: number } | { readonly timeMs: Millis }

/** Reads a moment: `42` or `seq:42` is a sequence, `ms:<epoch ms>` or an ISO time is a time. */
export const parseMoment = (text: string): Moment => {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return { seq: Number(trimmed) }
  if (/^seq:\d+$/.test(trimmed)) return { seq: Number(trimmed.slice(4)) }
  if (/^ms:\d+$/.test(trimmed)) return { timeMs: Number(trimmed.slice(3)) }
  // Only date-shaped text goes to Date.parse, which accepts odd inputs ("1", "May") otherwise.
  const time = /^\d{4}-\d{2}-\d{2}/.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  if (Number.isNaN(time)) throw new InvalidMomentError(text)
  return { timeMs: time }
}

/** A moment as people read it: `seq 42` or an ISO time. */
export const describeMoment = (moment: Moment): string => ('seq' in moment ? `seq ${moment.seq}` : new Date(moment.timeMs).toISOString())

/**
 * The log sequence a moment stands for: a sequence as is, a time as the last update stored at or
 * before it. Raises `HistoryUnavailableError` for a sequence past the end of the log, or a moment
 * before the history that retention kept.
 */
export const resolveMoment = (store: SqliteDocumentStore, doc: string, moment: Moment): number => {
  const info = store.logInfo(doc)
  const seq = 'seq' in moment ? moment.seq : store.seqAtTime(doc, moment.timeMs)
  if (!Number.isSafeInteger(seq) || seq < 0) throw new HistoryUnavailableError(doc, `sequence ${seq} is not a log position`)
  if (seq > info.lastSeq) throw new HistoryUnavailableError(doc, `the log ends at sequence ${info.lastSeq}; there is no sequence ${seq}`)
  if (seq < info.historyStartSeq) {
    throw new HistoryUnavailableError(
      doc,
      `history before sequence ${info.historyStartSeq} was dropped by retention; ${describeMoment(moment)} can no longer be rebuilt`,
    )
  }
  return seq
}
