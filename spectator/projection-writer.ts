import * as Y from 'yjs'
import { canonicalJson } from '../core/index.js'
import { filterEntry, prepareFilter, showsRoot, type PreparedFilter, type SpectatorFilter } from './spectator-filter.js'

/** Transaction origin of the projection's writes. */
export const PROJECTION_ORIGIN = 'spectator-projection'

/** Entries of a source document that changed: root name to the keys touched, or `'all'` to compare everything. */
export type DirtyEntries = ReadonlyMap<string, ReadonlySet<string>> | 'all'

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** A value of a source map as JSON: shared types by their `toJSON`, embedded documents as absent. */
const jsonOf = (value: unknown): unknown => {
  if (value instanceof Y.Doc) return undefined
  return value instanceof Y.AbstractType ? (value.toJSON() as unknown) : value
}

/** A map root of a document: a root nobody typed is read as a map (the world layout); other types are not projected. */
const mapRootOf = (doc: Y.Doc, name: string): Y.Map<unknown> | undefined => {
  const type = doc.share.get(name)
  if (type instanceof Y.Map) return type as Y.Map<unknown>
  return type !== undefined && type.constructor === Y.AbstractType ? doc.getMap<unknown>(name) : undefined
}

/**
 * Writes the filtered content of a (delayed) source document into a projection document that
 * only it writes, by difference: an entry is written only when its filtered content changed, and
 * inside an object only the fields that changed (objects become nested maps). So the projection's
 * history holds filtered values only, and grows with what spectators can see change, not with the
 * source's traffic.
 */
export class ProjectionWriter {
  private readonly prepared: PreparedFilter
  /** Canonical JSON of every entry written, per root: what the projection holds, to diff against. */
  private readonly written = new Map<string, Map<string, string>>()
  private writeCount = 0

  constructor(
    private doc: Y.Doc,
    filter: SpectatorFilter,
  ) {
    this.prepared = prepareFilter(filter)
  }

  /** The projection document. */
  get projection(): Y.Doc {
    return this.doc
  }

  /** Map sets and deletes made in the projection so far. */
  get writes(): number {
    return this.writeCount
  }

  /** Replaces the projection document by one of the same content (a rebuild); the diff state stays valid. */
  replace(doc: Y.Doc): void {
    this.doc = doc
  }

  /** Brings the projection up to the filtered content of `source` for the `dirty` entries. Returns the writes made. */
  project(source: Y.Doc, dirty: DirtyEntries): number {
    const before = this.writeCount
    const entries = dirty === 'all' ? this.everyEntry(source) : dirty
    this.doc.transact(() => {
      for (const [root, keys] of entries) {
        if (!showsRoot(this.prepared.filter, root)) continue
        const sourceRoot = mapRootOf(source, root)
        const target = this.doc.getMap<unknown>(root)
        let written = this.written.get(root)
        for (const key of [...keys].sort(byKey)) {
          const shown = filterEntry(this.prepared, root, key, jsonOf(sourceRoot?.get(key)))
          const before = written?.get(key)
          if (shown === undefined) {
            if (before === undefined) continue
            target.delete(key)
            written?.delete(key)
            this.writeCount++
            continue
          }
          const text = canonicalJson(shown)
          if (text === before) continue
          this.setValue(target, key, shown)
          if (written === undefined) {
            written = new Map()
            this.written.set(root, written)
          }
          written.set(key, text)
        }
      }
    }, PROJECTION_ORIGIN)
    return this.writeCount - before
  }

  /** Every entry of the source's shown roots, plus every entry written before (it may be gone now). */
  private everyEntry(source: Y.Doc): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const root of source.share.keys()) {
      if (!showsRoot(this.prepared.filter, root)) continue
      const map = mapRootOf(source, root)
      if (map !== undefined) out.set(root, new Set(map.keys()))
    }
    for (const [root, written] of this.written) {
      const keys = out.get(root) ?? new Set<string>()
      for (const key of written.keys()) keys.add(key)
      out.set(root, keys)
    }
    return out
  }

  /** Sets `map[key]` to the JSON `value`, descending into an object already held as a map to change only what differs. */
  private setValue(map: Y.Map<unknown>, key: string, value: unknown): void {
    const existing = map.get(key)
    if (isPlainObject(value) && existing instanceof Y.Map) {
      this.syncMap(existing as Y.Map<unknown>, value)
      return
    }
    map.set(key, this.toShared(value))
    this.writeCount++
  }

  private syncMap(map: Y.Map<unknown>, value: Record<string, unknown>): void {
    for (const key of [...map.keys()]) {
      if (Object.hasOwn(value, key)) continue
      map.delete(key)
      this.writeCount++
    }
    for (const key of Object.keys(value).sort(byKey)) {
      const inner = value[key]
      const existing = map.get(key)
      if (isPlainObject(inner) && existing instanceof Y.Map) this.syncMap(existing as Y.Map<unknown>, inner)
      else if (!map.has(key) || canonicalJson(jsonOf(existing)) !== canonicalJson(inner)) {
        map.set(key, this.toShared(inner))
        this.writeCount++
      }
    }
  }

  /** A JSON value as the projection stores it: objects as nested maps (keys sorted), the rest as they are. */
  private toShared(value: unknown): unknown {
    if (!isPlainObject(value)) return value
    const map = new Y.Map<unknown>()
    for (const key of Object.keys(value).sort(byKey)) map.set(key, this.toShared(value[key]))
    return map
  }
}
