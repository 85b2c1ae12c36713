import * as Y from 'yjs'
import { applyRows, docFromSnapshot } from '../compaction.js'
import { CorruptRowError, HistoryUnavailableError } from '../errors.js'
import { assertDecodableRow, type UpdateRow } from '../log-tables.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'
import { ChangeObserver } from './change-observer.js'
import { summarizeUpdate, type UpdateSummary } from './update-summary.js'
import { WorldTracker } from './world-tracker.js'

/**
 * A scratch document holding a document's state right after log sequence `seq` (0: empty): the
 * newest snapshot at or before it, plus the logged updates up to it. The caller owns (and destroys) it.
 */
export const docAtSeq = (store: SqliteDocumentStore, doc: string, seq: number): Y.Doc => {
  const info = store.logInfo(doc)
  if (seq < info.historyStartSeq) throw new HistoryUnavailableError(doc, `history before sequence ${info.historyStartSeq} was dropped by retention`)
  const base = seq > 0 ? store.readSnapshot(doc, seq) : undefined
  const scratch = docFromSnapshot(doc, base)
  try {
    let expected = (base?.seq ?? 0) + 1
    store.forEachUpdatePage(doc, { fromSeq: expected, toSeq: seq }, (page) => {
      for (const row of page) {
        if (row.seq !== expected) throw new CorruptRowError(doc, 'updates', expected, 'missing from the log')
        expected++
      }
      applyRows(doc, scratch, page)
    })
    if (expected <= seq) throw new CorruptRowError(doc, 'updates', expected, 'missing from the log')
  } catch (error) {
    scratch.destroy()
    throw error
  }
  return scratch
}

/** One replayed update: the row, the scratch document right after it, and what it changed. */
export interface ReplayStep {
  readonly row: UpdateRow
  readonly doc: Y.Doc
  readonly summary: UpdateSummary
}

/**
 * Replays the updates with `fromSeq <= seq <= toSeq` one by one onto the state before `fromSeq`,
 * calling `each` after every update with a decoded summary of what it changed. `start` is called
 * first with the state before `fromSeq`.
 */
export const replayUpdates = (
  store: SqliteDocumentStore,
  doc: string,
  range: { readonly fromSeq: number; readonly toSeq: number },
  each: (step: ReplayStep) => void,
  start?: (doc: Y.Doc) => void,
): void => {
  const scratch = docAtSeq(store, doc, range.fromSeq - 1)
  const observer = new ChangeObserver(scratch)
  const world = new WorldTracker(scratch)
  try {
    start?.(scratch)
    let expected = range.fromSeq
    store.forEachUpdate(doc, range, (row) => {
      if (row.seq !== expected) throw new CorruptRowError(doc, 'updates', expected, 'missing from the log')
      expected++
      assertDecodableRow(doc, 'updates', row.seq, row.update)
      Y.applyUpdate(scratch, row.update)
      const observed = observer.take()
      each({ row, doc: scratch, summary: summarizeUpdate(row.update, observed, world.read(scratch, observed.keys), scratch) })
    })
  } finally {
    observer.destroy()
    scratch.destroy()
  }
}
