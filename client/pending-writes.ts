import * as Y from 'yjs'

/** Where a local write landed: a key of a root map, or a whole root array or text. */
interface WritePath {
  readonly root: string
  /** The root map's key; undefined for a root array or text (carried whole). */
  readonly key: string | undefined
  /** Index (on the current socket) of the update-bearing frame that carried it; undefined while unsent. */
  frame: number | undefined
}

/**
 * The paths this client wrote, latest frame per path (so it grows with the paths written, not the
 * writes), for carrying its writes into a fresh `Y.Doc` when the document moves to a new epoch. The
 * gateway says how many update-bearing frames of the connection it handled before the switch;
 * paths sent in later frames, or never sent, did not reach the old replica and are carried,
 * key-level: the fresh document takes the value the path holds in the old one (or loses the key).
 */
export class PendingWrites {
  private readonly paths = new Map<string, WritePath>()

  /** Records the paths a local transaction of `doc` changed, sent in frame `frame` (undefined: not sent). */
  record(doc: Y.Doc, transaction: Y.Transaction, frame: number | undefined): void {
    const roots = new Map<unknown, string>()
    for (const [name, type] of doc.share) roots.set(type, name)
    for (const [type, keys] of transaction.changed) {
      if (type._item === null) {
        const root = roots.get(type)
        if (root === undefined) continue
        if (type instanceof Y.Map) for (const key of keys) if (key !== null) this.add(root, key, frame)
        if (!(type instanceof Y.Map)) this.add(root, undefined, frame)
        continue
      }
      // A change inside a nested type: the path is the root map's key holding it.
      let item = type._item
      while ((item.parent as Y.AbstractType<unknown>)._item !== null) item = (item.parent as Y.AbstractType<unknown>)._item as Y.Item
      const root = roots.get(item.parent)
      if (root === undefined) continue
      this.add(root, item.parent instanceof Y.Map ? (item.parentSub ?? undefined) : undefined, frame)
    }
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
   * Writes every path not handled by the server (sent in frame `handled` or later, or unsent) from
   * `from` into `to`, in one transaction with `origin`, and forgets every path. Returns how many.
   */
  carry(from: Y.Doc, to: Y.Doc, handled: number, origin: unknown): number {
    const carried = [...this.paths.values()].filter((path) => path.frame === undefined || path.frame >= handled)
    this.paths.clear()
    if (carried.length > 0) to.transact(() => {
      for (const path of carried) copyPath(from, to, path)
    }, origin)
    return carried.length
  }

  private add(root: string, key: string | undefined, frame: number | undefined): void {
    const id = key === undefined ? root : `${root}\u0000${key}`
    this.paths.set(id, { root, key, frame })
  }
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

const copyPath = (from: Y.Doc, to: Y.Doc, path: WritePath): void => {
  const source = from.share.get(path.root)
  if (path.key !== undefined) {
    const value = from.getMap<unknown>(path.root).get(path.key)
    const target = to.getMap<unknown>(path.root)
    if (value === undefined) target.delete(path.key)
    else target.set(path.key, copyValue(value))
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
