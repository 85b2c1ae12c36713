import { sortedKeysJson } from '../document-json.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'
import type { Moment } from './moment.js'
import { stateAt } from './show.js'

/** One leaf value that differs between two states, by `/`-separated path (arrays compare whole). */
export interface FieldChange {
  readonly path: string
  readonly kind: 'added' | 'removed' | 'changed'
  /** The value before (absent when added). */
  readonly before?: unknown
  /** The value after (absent when removed). */
  readonly after?: unknown
}

/** Leaf values of a JSON value by path; objects are walked, arrays and scalars are leaves. */
export const flattenJson = (value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> => {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>)
    // An empty object is a leaf, so creating `{}` still shows as a change.
    if (entries.length === 0 && prefix !== '') out.set(prefix, {})
    for (const [key, inner] of entries) flattenJson(inner, prefix ? `${prefix}/${key}` : key, out)
  } else if (prefix !== '' || value !== undefined) {
    out.set(prefix, value)
  }
  return out
}

/** The leaf differences between two JSON values, sorted by path. */
export const diffJson = (before: unknown, after: unknown): FieldChange[] => {
  const a = flattenJson(before)
  const b = flattenJson(after)
  const changes: FieldChange[] = []
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const inA = a.has(path)
    const inB = b.has(path)
    if (inA && inB && sortedKeysJson(a.get(path)) === sortedKeysJson(b.get(path))) continue
    if (!inA) changes.push({ path, kind: 'added', after: b.get(path) })
    else if (!inB) changes.push({ path, kind: 'removed', before: a.get(path) })
    else changes.push({ path, kind: 'changed', before: a.get(path), after: b.get(path) })
  }
  return changes
}

/** What changed in a document between two moments: every differing leaf, with values before and after. */
export const diffHistory = (store: SqliteDocumentStore, doc: string, from: Moment, to: Moment): FieldChange[] =>
  diffJson(stateAt(store, doc, from).content, stateAt(store, doc, to).content)
