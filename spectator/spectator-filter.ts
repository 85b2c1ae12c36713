import { canonicalJson } from '../core/index.js'

/**
 * What a spectator may see of a document. Applied to content (JSON values), never to updates: a
 * Yjs update does not name the keys it overwrites, so filtering updates is no security boundary
 * (DESIGN.md decision 5); filtering content and writing the result into a document of our own is.
 * Only map roots are projected (the world layout; see docs/spectator.md, "Limits").
 */
export interface SpectatorFilter {
  /** Roots shown; undefined shows every root. A root not listed never reaches the projection. */
  readonly roots?: readonly string[]
  /** Map keys hidden wherever they occur: a root's entries and fields of nested maps and objects alike. */
  readonly hiddenKeys?: readonly string[]
  /**
   * Whether one entry of a root (an entity) is shown, given its content after `hiddenKeys` were
   * taken out. Undefined shows every entry. Must be a pure function of its arguments: it is called
   * again only when the entry changes.
   */
  readonly entity?: (root: string, key: string, value: unknown) => boolean
}

/** A filter that shows everything. */
export const SHOW_EVERYTHING: SpectatorFilter = {}

/** Whether `filter` shows root `root` at all. */
export const showsRoot = (filter: SpectatorFilter, root: string): boolean =>
  (filter.roots === undefined || filter.roots.includes(root)) && !(filter.hiddenKeys?.includes(root) ?? false)

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)

/** `value` with every hidden key taken out of every object in it, at any depth. */
const withoutHiddenKeys = (value: unknown, hidden: ReadonlySet<string>): unknown => {
  if (hidden.size === 0) return value
  if (Array.isArray(value)) return value.map((inner) => withoutHiddenKeys(inner, hidden))
  if (!isPlainObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) if (!hidden.has(key)) out[key] = withoutHiddenKeys(inner, hidden)
  return out
}

/** A filter prepared for use: hidden keys as a set. */
export interface PreparedFilter {
  readonly filter: SpectatorFilter
  readonly hidden: ReadonlySet<string>
}

/** Prepares `filter` for `filterEntry`. */
export const prepareFilter = (filter: SpectatorFilter): PreparedFilter => ({ filter, hidden: new Set(filter.hiddenKeys ?? []) })

/**
 * The content spectators see of one entry `root.key` whose JSON content is `value` (undefined:
 * absent): undefined when the entry is hidden, otherwise the value without its hidden keys.
 */
export const filterEntry = (prepared: PreparedFilter, root: string, key: string, value: unknown): unknown => {
  if (value === undefined || prepared.hidden.has(key) || !showsRoot(prepared.filter, root)) return undefined
  const shown = withoutHiddenKeys(value, prepared.hidden)
  return prepared.filter.entity === undefined || prepared.filter.entity(root, key, shown) ? shown : undefined
}

/**
 * The whole filtered content of a document given as `contentJson` gives it (roots of JSON
 * objects), in the same form, empty roots left out: what a view's projection holds once it has
 * caught up. Tests compare against it.
 */
export const filterContent = (content: Readonly<Record<string, unknown>>, filter: SpectatorFilter): Record<string, unknown> => {
  const prepared = prepareFilter(filter)
  const out: Record<string, unknown> = {}
  for (const [root, entries] of Object.entries(content)) {
    if (!isPlainObject(entries)) continue
    const shown: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(entries)) {
      const filtered = filterEntry(prepared, root, key, value)
      if (filtered !== undefined) shown[key] = filtered
    }
    if (Object.keys(shown).length > 0) out[root] = JSON.parse(canonicalJson(shown)) as unknown
  }
  return out
}
