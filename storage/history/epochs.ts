import type { Millis } from '../../core/index.js'
import { HistoryUnavailableError } from '../errors.js'
import { sortedKeysJson } from '../document-json.js'
import type { EpochRecord } from '../epoch-table.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'
import { diffJson, type FieldChange } from './diff.js'
import { listHistory, type HistoryEntry, type HistoryRange } from './list.js'
import type { Moment } from './moment.js'
import { encodedStateAt, stateAt, type DocumentStateAt } from './show.js'
import { traceHistory, type TraceStep, type TraceTarget } from './trace.js'
import { holderLabel } from './world-tracker.js'

/** One epoch of a document as `history list` shows it: its record, its span and what its log keeps. */
export interface EpochSummary extends EpochRecord {
  /** Whether it is the current (last entered) epoch. */
  readonly current: boolean
  /** When this peer left it (the next epoch's switch time), undefined for the current one. */
  readonly endMs: Millis | undefined
  /** The last sequence of its log (sequences are per epoch). */
  readonly lastSeq: number
  /** Update rows it still keeps, and from which sequence its history can be rebuilt. */
  readonly retainedUpdates: number
  readonly historyStartSeq: number
}

/** Which epoch a history answer came from. */
export interface EpochRef {
  readonly n: number
  readonly wire: string
}

const refOf = (epoch: EpochRecord): EpochRef => ({ n: epoch.n, wire: epoch.wire })

/** A document's epochs, oldest first, with their spans and retained rows (empty: it never left epoch 0). */
export const listEpochs = (store: SqliteDocumentStore, doc: string): EpochSummary[] => {
  const chain = store.epochChain(doc)
  const names = new Set(store.documentNames())
  return chain.map((epoch, i) => {
    const info = names.has(epoch.wire) ? store.logInfo(epoch.wire) : undefined
    return {
      ...epoch,
      current: i === chain.length - 1,
      endMs: chain[i + 1]?.switchedMs,
      lastSeq: info?.lastSeq ?? 0,
      retainedUpdates: info?.retainedUpdates ?? 0,
      historyStartSeq: info?.historyStartSeq ?? 0,
    }
  })
}

/**
 * The epoch to answer a moment from: a time picks the epoch current at that time (by the switch
 * times this peer stored); a sequence stays in the log it was given for (sequences are per epoch).
 * Undefined when the name has no chain (never cut, or a wire name given directly).
 */
const epochFor = (store: SqliteDocumentStore, doc: string, at: Moment): EpochRecord | undefined => {
  if ('seq' in at) return undefined
  const epoch = store.epochAt(doc, at.timeMs)
  if (epoch?.droppedMs !== undefined) {
    throw new HistoryUnavailableError(
      doc,
      `${new Date(at.timeMs).toISOString()} falls in epoch ${epoch.n} (${epoch.wire}), whose rows retention dropped after the document moved on`,
    )
  }
  return epoch
}

/** A document's state at a moment, across its epochs: a time in an old epoch is answered from that epoch's log. */
export const epochStateAt = (store: SqliteDocumentStore, doc: string, at: Moment): DocumentStateAt & { readonly epoch?: EpochRef } => {
  const epoch = epochFor(store, doc, at)
  if (epoch === undefined) return stateAt(store, doc, at)
  return { ...stateAt(store, epoch.wire, at), doc, epoch: refOf(epoch) }
}

/** The state at a moment as one Yjs update, across epochs (the update belongs to that epoch's replica). */
export const epochEncodedStateAt = (store: SqliteDocumentStore, doc: string, at: Moment): Uint8Array => {
  const epoch = epochFor(store, doc, at)
  return encodedStateAt(store, epoch?.wire ?? doc, at)
}

/** What changed between two moments, across epochs (content compared, so a cut in between shows no change of its own). */
export const epochDiff = (store: SqliteDocumentStore, doc: string, from: Moment, to: Moment): FieldChange[] =>
  diffJson(epochStateAt(store, doc, from).content, epochStateAt(store, doc, to).content)

/** A listed update and the epoch whose log holds it (absent for a document that never left epoch 0). */
export type EpochHistoryEntry = HistoryEntry & { readonly epoch?: EpochRef }

/**
 * Every update of a document across its epochs, in chain order (each epoch's sequences are its
 * own). Time bounds apply to every epoch; sequence bounds only make sense within one log, so with
 * a sequence bound only the named log is listed. Dropped epochs list nothing.
 */
export const listAcrossEpochs = (store: SqliteDocumentStore, doc: string, range: HistoryRange = {}): EpochHistoryEntry[] => {
  const chain = store.epochChain(doc)
  const bySeq = (range.since !== undefined && 'seq' in range.since) || (range.until !== undefined && 'seq' in range.until)
  if (chain.length === 0 || bySeq) return listHistory(store, doc, range)
  const names = new Set(store.documentNames())
  const entries: EpochHistoryEntry[] = []
  for (const [i, epoch] of chain.entries()) {
    const endMs = chain[i + 1]?.switchedMs
    if (epoch.droppedMs !== undefined || !names.has(epoch.wire)) continue
    if (range.since && 'timeMs' in range.since && endMs !== undefined && endMs < range.since.timeMs) continue
    if (range.until && 'timeMs' in range.until && epoch.switchedMs > range.until.timeMs) continue
    for (const entry of listHistory(store, epoch.wire, range)) {
      // An epoch's first row is its base: the whole content again, not a change of its own.
      const description = epoch.n > 0 && entry.seq === 1 ? `epoch ${epoch.n} base: ${entry.description}` : entry.description
      entries.push({ ...entry, description, epoch: refOf(epoch) })
    }
  }
  return entries
}

/** A traced step and the epoch it happened in (absent for a document that never left epoch 0). */
export type EpochTraceStep = TraceStep & { readonly epoch?: EpochRef }


const holderOf = (value: unknown): string | undefined =>
  value === undefined ? undefined : holderLabel(typeof value === 'object' && value !== null ? (value as { holder?: unknown }).holder : undefined)

/**
 * Every change of an item or entity across a document's epochs, in chain order. Each epoch's log is
 * traced on its own, and its steps are then read against the value the previous epoch left: an
 * epoch's base that carries the item unchanged adds no step, one that differs (writes made around
 * the cut) is a step of its own, from the base row. A dropped epoch is skipped; the first step after
 * it is read against what was known before it.
 */
export const traceAcrossEpochs = (store: SqliteDocumentStore, doc: string, target: TraceTarget): EpochTraceStep[] => {
  const chain = store.epochChain(doc)
  if (chain.length === 0) return traceHistory(store, doc, target)
  const isItem = 'item' in target
  const names = new Set(store.documentNames())
  const steps: EpochTraceStep[] = []
  let last: unknown
  let seen = false
  for (const epoch of chain) {
    if (epoch.droppedMs !== undefined || !names.has(epoch.wire)) continue
    for (const step of traceHistory(store, epoch.wire, target)) {
      if (seen && sortedKeysJson(step.value) === sortedKeysJson(last)) continue
      const before = seen ? last : undefined
      const value = step.value
      const from = holderOf(before)
      const to = holderOf(value)
      const change =
        // Where the kept history starts (a snapshot, or the base of the first kept epoch) the target was already there.
        !seen && (step.change === 'present' || (epoch.n > 0 && step.seq === 1))
          ? 'present'
          : before === undefined
            ? 'created'
            : value === undefined
              ? 'removed'
              : isItem && from !== to
                ? 'moved'
                : 'changed'
      steps.push({ ...step, change, ...(isItem ? { holder: { from, to } } : {}), fields: diffJson(before, value), epoch: refOf(epoch) })
      last = value
      seen = true
    }
  }
  return steps
}
