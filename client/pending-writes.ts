import * as Y from 'yjs'
import { carryAcrossCut, cutClocks, valueFingerprint, type CutCarry } from '../core/index.js'

/** Where a local write landed: a key of a root map, or a whole root array or text. */
interface WritePath {
  readonly root: string
  /** The root map's key; undefined for a root array or text (carried whole). */
  readonly key: string | undefined
  /** Index (on the current socket) of the update-bearing frame that carried it; undefined while unsent. */
  frame: number | undefined
  /** The replica's client id and its own clock after the write: the write is past a cut iff `clock > cut[client]`. */
  readonly client: number
  readonly clock: number
  /** Whether the write's transaction created no struct (deletes only; see `carryAcrossCut`). */
  readonly pure: boolean
  /** For a deleted root-map key: the struct id of the value removed and its fingerprint (when recorded before Yjs collected it). */
  readonly deleted: { readonly id: { readonly client: number; readonly clock: number }; readonly was: string | undefined } | undefined
}

/**
 * The paths this client wrote, latest frame per path (so it grows with the paths written, not the
 * writes), for carrying its writes into a fresh `Y.Doc` when the document moves to a new epoch. The
 * gateway's epoch notice tells the cut's state vector: a path whose latest write the cut covers is
 * in the new base and is not written again (it could overwrite another writer's later value);
 * the others are carried, key-level: the fresh document takes the value the path holds in the old
 * one (or loses the key). From a gateway that names no cut, the notice says how many update-bearing
 * frames of the connection it handled: paths sent in later frames, or never sent, are carried.
 */
export class PendingWrites {
  private readonly paths = new Map<string, WritePath>()
  /** The paths each recorded transaction wrote, until it is marked sent. */
  private readonly byTransaction = new WeakMap<Y.Transaction, WritePath[]>()

  /**
   * Records the paths a local transaction of `doc` changed, sent in frame `frame` (undefined: not
   * sent yet, see `markSent`). Call it from `afterTransaction`: a deleted value's fingerprint is
   * only there before Yjs collects it.
   */
  record(doc: Y.Doc, transaction: Y.Transaction, frame: number | undefined): void {
    const roots = new Map<unknown, string>()
    for (const [name, type] of doc.share) roots.set(type, name)
    const clock = Y.getState(doc.store, doc.clientID)
    const write = { frame, client: doc.clientID, clock, pure: clock === (transaction.beforeState.get(doc.clientID) ?? 0) }
    const recorded: WritePath[] = []
    for (const [type, keys] of transaction.changed) {
      if (type._item === null) {
        const root = roots.get(type)
        if (root === undefined) continue
        if (type instanceof Y.Map) for (const key of keys) if (key !== null) recorded.push(this.add(root, key, write, type.has(key) ? undefined : deletedOf(type, key)))
        if (!(type instanceof Y.Map)) recorded.push(this.add(root, undefined, write, undefined))
        continue
      }
      // A change inside a nested type: the path is the root map's key holding it.
      let item = type._item
      while ((item.parent as Y.AbstractType<unknown>)._item !== null) item = (item.parent as Y.AbstractType<unknown>)._item as Y.Item
      const root = roots.get(item.parent)
      if (root === undefined) continue
      recorded.push(this.add(root, item.parent instanceof Y.Map ? (item.parentSub ?? undefined) : undefined, write, undefined))
    }
    this.byTransaction.set(transaction, recorded)
  }

  /** The paths `transaction` wrote (recorded unsent) went out in frame `frame`. */
  markSent(transaction: Y.Transaction, frame: number): void {
    for (const path of this.byTransaction.get(transaction) ?? []) path.frame ??= frame
    this.byTransaction.delete(transaction)
  }

  /** Number of paths recorded. */
  get size(): number {
    return this.paths.size
  }

  /** A new socket opened: what was sent on the old one rides in the next sync step 2 reply, if the server lacks it. */
  unsend(): void {
    for (const path of this.paths.values()) path.frame = undefined
  }

  /** Paths not sent yet now go in frame `frame` (the sync step 2 reply). */
  sendAll(frame: number): void {
    for (const path of this.paths.values()) path.frame ??= frame
  }

  /**
   * Writes the paths the new epoch lacks from `from` into `to`, in one transaction with `origin`,
   * and forgets every path; returns how many. With `cut` (the state vector the new base was cut
   * at), those whose latest write the cut does not cover (`carryAcrossCut`); without it, those not
   * handled by the server (sent in frame `handled` or later, or unsent). Throws
   * `MalformedFrameError` on a `cut` that is no state vector.
   */
  carry(from: Y.Doc, to: Y.Doc, handled: number, origin: unknown, cut?: Uint8Array): number {
    const clocks = cut === undefined ? undefined : cutClocks(cut)
    const modeOf = (path: WritePath): CutCarry => {
      if (clocks === undefined) return path.frame === undefined || path.frame >= handled ? 'yes' : 'no'
      return carryAcrossCut(clocks, { client: path.client, clock: path.clock, pure: path.pure, deletedId: path.deleted?.id })
    }
    const carried = [...this.paths.values()].map((path) => [path, modeOf(path)] as const).filter(([, mode]) => mode !== 'no')
    this.paths.clear()
    if (carried.length > 0) to.transact(() => {
      for (const [path, mode] of carried) copyPath(from, to, path, mode === 'if-unchanged')
    }, origin)
    return carried.length
  }

  private add(root: string, key: string | undefined, write: Pick<WritePath, 'frame' | 'client' | 'clock' | 'pure'>, deleted: WritePath['deleted']): WritePath {
    const id = key === undefined ? root : `${root}\u0000${key}`
    const path: WritePath = { root, key, ...write, deleted }
    this.paths.set(id, path)
    return path
  }
}

/** What a root-map key held before this transaction deleted it: its struct id, and its fingerprint unless already collected. */
const deletedOf = (map: Y.Map<unknown>, key: string): WritePath['deleted'] => {
  const item = map._map.get(key)
  if (item === undefined) return undefined
  const content = item.content instanceof Y.ContentDeleted ? [] : item.content.getContent()
  return { id: { client: item.id.client, clock: item.id.clock }, was: content.length === 0 ? undefined : valueFingerprint(content[content.length - 1]) }
}

/** A copy of a value for another document: Yjs types are rebuilt, plain values kept. */
const copyValue = (value: unknown): unknown => {
  if (value instanceof Y.Map) {
    const map = new Y.Map<unknown>()
    for (const [key, inner] of value.entries()) map.set(key, copyValue(inner))
    return map
  }
  if (value instanceof Y.Array) return Y.Array.from(value.toArray().map(copyValue) as never[])
  if (value instanceof Y.Text) return new Y.Text(value.toString())
  return value
}

/**
 * Writes a path's value in `from` into `to`. With `onlyIfUnchanged` (a delete the new base may
 * already hold), a deleted key is removed only if it still holds the value the delete removed, so
 * a later value of another writer is never removed.
 */
const copyPath = (from: Y.Doc, to: Y.Doc, path: WritePath, onlyIfUnchanged: boolean): void => {
  const source = from.share.get(path.root)
  if (path.key !== undefined) {
    const value = from.getMap<unknown>(path.root).get(path.key)
    const target = to.getMap<unknown>(path.root)
    if (value !== undefined) target.set(path.key, copyValue(value))
    else if (!onlyIfUnchanged || (path.deleted?.was !== undefined && target.has(path.key) && valueFingerprint(target.get(path.key)) === path.deleted.was)) target.delete(path.key)
    return
  }
  if (source instanceof Y.Array) {
    const target = to.getArray<unknown>(path.root)
    target.delete(0, target.length)
    target.push(source.toArray().map(copyValue))
  } else if (source instanceof Y.Text) {
    const target = to.getText(path.root)
    target.delete(0, target.length)
    target.insert(0, source.toString())
  }
}
