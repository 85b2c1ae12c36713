import * as Y from 'yjs'
import { EPOCH_BASE_CLIENT_ID, valueFingerprint } from '../core/index.js'
import type { EpochId } from './epoch-chain.js'

/** A value as a local write left it, detached from any document, so it can be written again elsewhere. */
export type WrittenValue =
  /** A deleted key, with a fingerprint and the struct id of the value it deleted (see `OwnWrite.pure`). */
  | { readonly t: 'deleted'; readonly was?: string; readonly wasId?: { readonly client: number; readonly clock: number } }
  | { readonly t: 'json'; readonly v: unknown }
  | { readonly t: 'map'; readonly entries: ReadonlyArray<readonly [string, WrittenValue]> }
  | { readonly t: 'array'; readonly items: readonly WrittenValue[] }
  | { readonly t: 'text'; readonly text: string }

/** This peer's latest write to one path (root, then map keys), with where in which epoch it was made. */
export interface OwnWrite {
  readonly path: readonly string[]
  readonly value: WrittenValue
  /** The epoch whose replica took the write. */
  readonly epoch: EpochId
  /** That replica's client id and its own clock after the write: the write is past a cut iff `clock > cut[client]`. */
  readonly client: number
  readonly clock: number
  /**
   * Whether the write's transaction created no structs (only deletes). Deletes carry no clock, so
   * `clock` cannot always tell whether a cut includes such a write (see `EpochManager`'s carry rule).
   */
  readonly pure: boolean
  /** Order of writes on this peer, so carrying them replays them in the order they were made. */
  readonly seq: number
}

// Yjs types are invariant in their event parameter, so the common base needs `any`; it stays private.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type YType = Y.AbstractType<any>

/** Detaches a document value (nested types included) into a `WrittenValue`. */
export const detachValue = (value: unknown): WrittenValue => {
  if (value instanceof Y.Map) return { t: 'map', entries: [...(value as Y.Map<unknown>).entries()].map(([key, inner]) => [key, detachValue(inner)] as const) }
  if (value instanceof Y.Array) return { t: 'array', items: (value as Y.Array<unknown>).toArray().map(detachValue) }
  if (value instanceof Y.Text) return { t: 'text', text: value.toString() }
  return { t: 'json', v: value }
}

/** Turns a `WrittenValue` back into something a Yjs map or array can hold (fresh nested types). */
export const attachValue = (value: WrittenValue): unknown => {
  switch (value.t) {
    case 'map': {
      const map = new Y.Map<unknown>()
      for (const [key, inner] of value.entries) map.set(key, attachValue(inner))
      return map
    }
    case 'array': {
      const array = new Y.Array<unknown>()
      array.push(value.items.map(attachValue))
      return array
    }
    case 'text':
      return new Y.Text(value.text)
    default:
      return value.t === 'json' ? value.v : undefined
  }
}

/** The path of a type from its root (`[root, key, key, ...]`), or of the outermost array that holds it. */
const pathOf = (doc: Y.Doc, type: YType): { path: string[]; whole: YType } | undefined => {
  const keys: string[] = []
  let current: YType = type
  let whole: YType = type
  for (;;) {
    const item = current._item
    if (item === null) break
    const parent = item.parent as YType
    if (item.parentSub === null) {
      // Inside an array: key-level paths stop here, so the whole array is the unit that is written again.
      keys.length = 0
      whole = parent
    } else {
      keys.unshift(item.parentSub)
    }
    current = parent
  }
  for (const [name, root] of doc.share) {
    if (root === current) return { path: [name, ...keys], whole }
  }
  return undefined
}

/**
 * This peer's own writes, latest per path: what the peer must carry into a new epoch when the cut
 * fell before them. Only the author carries a write, so a write reaches the new epoch exactly once;
 * only the latest write per path is kept (a later write to a path makes the earlier one moot), so
 * memory grows with the number of paths written, not with the number of writes.
 */
export class OwnWriteLog {
  private readonly writes = new Map<string, OwnWrite>()
  private seq = 0

  /** Records the local writes of one transaction on `doc`, the replica of `epoch`. */
  record(doc: Y.Doc, epoch: EpochId, transaction: Y.Transaction): void {
    const clock = Y.getState(doc.store, doc.clientID)
    const pure = clock === (transaction.beforeState.get(doc.clientID) ?? 0)
    for (const [type, keys] of transaction.changed) {
      const located = pathOf(doc, type as YType)
      if (located === undefined) continue
      if (located.whole !== type || !(type instanceof Y.Map)) {
        this.put(located.path, detachValue(located.whole), epoch, doc.clientID, clock, pure)
        continue
      }
      for (const key of keys) {
        if (key === null) continue
        const map = type as Y.Map<unknown>
        this.put([...located.path, key], map.has(key) ? detachValue(map.get(key)) : deletedValue(map, key), epoch, doc.clientID, clock, pure)
      }
    }
  }

  /** The writes `select` keeps, oldest first. */
  select(keep: (write: OwnWrite) => boolean): OwnWrite[] {
    return [...this.writes.values()].filter(keep).sort((a, b) => a.seq - b.seq)
  }

  /** How many paths the log holds. */
  get size(): number {
    return this.writes.size
  }

  private put(path: string[], value: WrittenValue, epoch: EpochId, client: number, clock: number, pure: boolean): void {
    const key = path.join('\u0000')
    this.writes.delete(key)
    this.writes.set(key, { path, value, epoch, client, clock, pure, seq: this.seq++ })
  }
}

/** What a map key held before this transaction deleted it (its item is not collected before `afterTransaction`). */
const deletedValue = (map: Y.Map<unknown>, key: string): WrittenValue => {
  const item = map._map.get(key)
  if (item === undefined || item.content instanceof Y.ContentDeleted) return { t: 'deleted' }
  const content = item.content.getContent()
  return { t: 'deleted', was: valueFingerprint(content[content.length - 1]), wasId: { client: item.id.client, clock: item.id.clock } }
}

/**
 * Writes `write` again into `doc` (a new epoch's replica): missing parent maps are created, a map
 * written onto a map merges into it, and a whole root array or text is replaced. With
 * `onlyIfUnchanged`, a delete removes the key only if it still holds the value the delete removed
 * (by fingerprint), so a delete that may already be in the base never removes a later value. A merged map's
 * keys overwrite what the base holds (the write is past the cut) but not what another author
 * already wrote in this epoch: that is a carried or new write that saw this map created, so it is
 * the later one; this peer's own later edits inside the map are entries of their own and still win.
 */
export const replayWrite = (doc: Y.Doc, write: OwnWrite, onlyIfUnchanged = false): void => {
  const [root, ...keys] = write.path as [string, ...string[]]
  const value = write.value
  if (keys.length === 0) {
    if (value.t === 'array') {
      const array = doc.getArray<unknown>(root)
      array.delete(0, array.length)
      array.push(value.items.map(attachValue))
    } else if (value.t === 'text') {
      const text = doc.getText(root)
      text.delete(0, text.length)
      text.insert(0, value.text)
    }
    return
  }
  let map = doc.getMap<unknown>(root)
  for (const key of keys.slice(0, -1)) {
    let next = map.get(key)
    if (!(next instanceof Y.Map)) {
      next = new Y.Map<unknown>()
      map.set(key, next)
    }
    map = next as Y.Map<unknown>
  }
  const last = keys[keys.length - 1] as string
  if (value.t === 'deleted') {
    if (!onlyIfUnchanged || (value.was !== undefined && map.has(last) && valueFingerprint(map.get(last)) === value.was)) map.delete(last)
    return
  }
  const existing = map.get(last)
  if (value.t === 'map' && existing instanceof Y.Map) {
    const target = existing as Y.Map<unknown>
    for (const [key, inner] of value.entries) {
      const writer = target._map.get(key)
      if (writer !== undefined && !writer.deleted && writer.id.client !== EPOCH_BASE_CLIENT_ID) continue
      replayWrite(doc, { ...write, path: [...write.path, key], value: inner })
    }
    return
  }
  map.set(last, attachValue(value))
}
