import * as Y from 'yjs'
import type { SqliteDocumentStore, UpdateRow } from './sqlite-store.js'
import { HistoryUnavailableError } from './errors.js'

/** What one update changed: root types and the keys under them (entity, item or map keys). */
export interface ChangeSummary {
  /** `root/key` paths changed, e.g. `items/sword`, `entities/p1`. */
  readonly paths: readonly string[]
  /** Whether the update deleted content (overwrites count). */
  readonly deletes: boolean
}

/** One entry of `history list`. */
export interface HistoryEntry {
  readonly seq: number
  readonly wallMs: number
  readonly hlc: UpdateRow['hlc']
  readonly origin: string
  readonly bytes: number
  readonly summary: ChangeSummary
}

/** A moment in a document's history: a sequence number or a wall time in ms. */
export type Moment = { readonly seq: number } | { readonly timeMs: number }

/** One step in the life of an item or entity, for `history trace`. */
export interface TraceStep {
  readonly seq: number
  readonly wallMs: number
  readonly origin: string
  /** The item's or entity's JSON after this update (undefined: removed). */
  readonly value: unknown
}

/** Everything a document holds, as JSON by root type name. */
export const documentJson = (doc: Y.Doc): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, type] of [...doc.share.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // A root type read from an update, not yet asked for by kind, is a bare AbstractType; world
    // documents use maps at the root, so read those as maps.
    out[name] = type instanceof Y.Array || type instanceof Y.Text || type instanceof Y.Map ? type.toJSON() : doc.getMap(name).toJSON()
  }
  return out
}

const pathsOf = (transaction: Y.Transaction): string[] => {
  const paths = new Set<string>()
  for (const [type, keys] of transaction.changed) {
    // Walk up to the root, remembering the key directly under it.
    let current = type
    let key: string | null = null
    while (current._item !== null) {
      key = current._item.parentSub
      current = current._item.parent as typeof current
    }
    const root = [...current.doc!.share].find(([, t]) => t === current)?.[0] ?? '?'
    if (type === current) for (const k of keys) paths.add(k === null ? root : `${root}/${k}`)
    else paths.add(key === null ? root : `${root}/${key}`)
  }
  return [...paths].sort()
}

/** Replays updates into a scratch document, reporting after each what it changed. */
const replay = (rows: readonly UpdateRow[], start: Uint8Array | undefined, each: (row: UpdateRow, doc: Y.Doc, summary: ChangeSummary) => void): Y.Doc => {
  const doc = new Y.Doc()
  if (start) Y.applyUpdate(doc, start)
  let summary: ChangeSummary = { paths: [], deletes: false }
  const onTransaction = (transaction: Y.Transaction): void => {
    summary = { paths: pathsOf(transaction), deletes: transaction.deleteSet.clients.size > 0 }
  }
  doc.on('afterTransaction', onTransaction)
  for (const row of rows) {
    summary = { paths: [], deletes: false }
    Y.applyUpdate(doc, row.update)
    each(row, doc, summary)
  }
  doc.off('afterTransaction', onTransaction)
  return doc
}

const seqAt = (store: SqliteDocumentStore, doc: string, moment: Moment): number => {
  if ('seq' in moment) return moment.seq
  const rows = store.readUpdates(doc)
  let seq = 0
  for (const row of rows) if (row.wallMs <= moment.timeMs) seq = row.seq
  return seq
}

/** History tools over a store: list, show, diff, trace (the same as `realmsync history ...`). */
export const history = (store: SqliteDocumentStore) => ({
  /** Each update with time, origin, size and a decoded summary, optionally within [since, until] ms. */
  list(doc: string, range: { sinceMs?: number; untilMs?: number } = {}): HistoryEntry[] {
    const rows = store.readUpdates(doc)
    const entries: HistoryEntry[] = []
    const first = rows[0]
    const base = first ? this.stateAt(doc, { seq: first.seq - 1 }, true) : undefined
    replay(rows, base, (row, _doc, summary) => {
      if (range.sinceMs !== undefined && row.wallMs < range.sinceMs) return
      if (range.untilMs !== undefined && row.wallMs > range.untilMs) return
      entries.push({ seq: row.seq, wallMs: row.wallMs, hlc: row.hlc, origin: row.origin, bytes: row.update.length, summary })
    })
    return entries
  },

  /** The document's state (a Yjs update) at a moment: after every update up to it. */
  stateAt(doc: string, moment: Moment, allowEmpty = false): Uint8Array {
    const seq = seqAt(store, doc, moment)
    const snapshots = store.readSnapshots(doc).filter((s) => s.seq <= seq)
    const snapshot = snapshots[snapshots.length - 1]
    const rows = store.readUpdates(doc, { fromSeq: (snapshot?.seq ?? 0) + 1, toSeq: seq })
    const expectedFirst = (snapshot?.seq ?? 0) + 1
    if (seq >= expectedFirst && (rows[0]?.seq ?? Number.POSITIVE_INFINITY) !== expectedFirst && !allowEmpty) {
      throw new HistoryUnavailableError(doc, `updates before sequence ${rows[0]?.seq ?? seq} were compacted away (retention); no state at sequence ${seq}`)
    }
    const parts = snapshot ? [snapshot.state, ...rows.map((r) => r.update)] : rows.map((r) => r.update)
    return parts.length > 0 ? Y.mergeUpdates(parts) : new Uint8Array([0, 0])
  },

  /** The document's content at a moment, as JSON. */
  show(doc: string, moment: Moment): Record<string, unknown> {
    const ydoc = new Y.Doc()
    Y.applyUpdate(ydoc, this.stateAt(doc, moment))
    return documentJson(ydoc)
  },

  /** What changed between two moments: paths added, removed and changed, with before/after values. */
  diff(doc: string, from: Moment, to: Moment): Array<{ path: string; before: unknown; after: unknown }> {
    const before = flatten(this.show(doc, from))
    const after = flatten(this.show(doc, to))
    const changes: Array<{ path: string; before: unknown; after: unknown }> = []
    for (const path of [...new Set([...before.keys(), ...after.keys()])].sort()) {
      const a = before.get(path)
      const b = after.get(path)
      if (JSON.stringify(a) !== JSON.stringify(b)) changes.push({ path, before: a, after: b })
    }
    return changes
  },

  /** Every change of one item (or entity) over time, with the origin peer of each. */
  trace(doc: string, target: { item: string } | { entity: string }): TraceStep[] {
    const [root, id] = 'item' in target ? ['items', target.item] : ['entities', target.entity]
    const rows = store.readUpdates(doc)
    const first = rows[0]
    const base = first ? this.stateAt(doc, { seq: first.seq - 1 }, true) : undefined
    const steps: TraceStep[] = []
    let last = JSON.stringify(undefined)
    replay(rows, base, (row, ydoc, summary) => {
      if (!summary.paths.includes(`${root}/${id}`)) return
      const value = (ydoc.getMap(root).get(id) as Y.Map<unknown> | undefined)?.toJSON?.() ?? ydoc.getMap(root).get(id)
      const encoded = JSON.stringify(value)
      if (encoded === last) return
      last = encoded
      steps.push({ seq: row.seq, wallMs: row.wallMs, origin: row.origin, value })
    })
    return steps
  },
})

const flatten = (value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> => {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}/${key}` : key, out)
  } else {
    out.set(prefix, value)
  }
  return out
}
