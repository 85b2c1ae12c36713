import type * as Y from 'yjs'
import { WORLD_ROOTS, type HlcTimestamp, type Millis } from '../../core/index.js'
import { sortedKeysJson } from '../document-json.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'
import { jsonOfValue } from './change-observer.js'
import { diffJson, type FieldChange } from './diff.js'
import { replayUpdates } from './replay.js'
import { holderLabel, worldRoot } from './world-tracker.js'

/** What to trace: one item (its holder and fields) or one entity (its components and fields). */
export type TraceTarget = { readonly item: string } | { readonly entity: string }

/** How one step changed the target. `present`: already there where the kept history starts. */
export type TraceChange = 'present' | 'created' | 'moved' | 'changed' | 'removed'

/** One step in the life of an item or entity. */
export interface TraceStep {
  readonly seq: number
  readonly wallMs: Millis | undefined
  readonly hlc: HlcTimestamp | undefined
  /** The peer (or client) whose update this was; `(snapshot)` for a `present` step. */
  readonly origin: string
  readonly change: TraceChange
  /** For items: holder before and after, as labels (`none`, `player:p1`); undefined: no item. */
  readonly holder?: { readonly from: string | undefined; readonly to: string | undefined }
  /** Leaf fields that changed (`holder/id`, `components/health/hp`). */
  readonly fields: readonly FieldChange[]
  /** The target's JSON after the step (undefined once removed). */
  readonly value: unknown
}

const targetOf = (target: TraceTarget): { root: string; id: string; isItem: boolean } =>
  'item' in target ? { root: WORLD_ROOTS.items, id: target.item, isItem: true } : { root: WORLD_ROOTS.entities, id: target.entity, isItem: false }

const read = (doc: Y.Doc, root: string, id: string): unknown => jsonOfValue(worldRoot(doc, root)?.get(id))

const holderOfValue = (value: unknown): string | undefined =>
  value === undefined ? undefined : holderLabel(typeof value === 'object' && value !== null ? (value as { holder?: unknown }).holder : undefined)

/**
 * Every change of one item or entity over the kept history, with the origin peer of each: for an
 * item, each change of holder ("who had the sword at 21:04, and how did it leave?"); for an entity,
 * each change of its fields. Tolerant of documents that are not shaped like world documents: a
 * missing root or a non-map value simply yields no or fewer steps.
 */
export const traceHistory = (store: SqliteDocumentStore, doc: string, target: TraceTarget): TraceStep[] => {
  const { root, id, isItem } = targetOf(target)
  const info = store.logInfo(doc)
  const steps: TraceStep[] = []
  let last: unknown
  const onStart = (scratch: Y.Doc): void => {
    last = read(scratch, root, id)
    if (last === undefined) return
    const base = store.readSnapshot(doc, info.historyStartSeq)
    steps.push({
      seq: info.historyStartSeq,
      wallMs: base?.wallMs,
      hlc: undefined,
      origin: '(snapshot)',
      change: 'present',
      ...(isItem ? { holder: { from: undefined, to: holderOfValue(last) } } : {}),
      fields: diffJson(undefined, last),
      value: last,
    })
  }
  replayUpdates(
    store,
    doc,
    { fromSeq: info.historyStartSeq + 1, toSeq: info.lastSeq },
    ({ row, doc: scratch, summary }) => {
      if (!summary.keys.some((change) => change.path[0] === root && change.path[1] === id)) return
      const value = read(scratch, root, id)
      if (sortedKeysJson(value) === sortedKeysJson(last)) return
      const before = last
      last = value
      const from = holderOfValue(before)
      const to = holderOfValue(value)
      const change: TraceChange = before === undefined ? 'created' : value === undefined ? 'removed' : isItem && from !== to ? 'moved' : 'changed'
      steps.push({
        seq: row.seq,
        wallMs: row.wallMs,
        hlc: row.hlc,
        origin: row.origin,
        change,
        ...(isItem ? { holder: { from, to } } : {}),
        fields: diffJson(before, value),
        value,
      })
    },
    onStart,
  )
  return steps
}
