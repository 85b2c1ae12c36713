import * as Y from 'yjs'

// Yjs types are invariant in their event parameter, so the common base needs `any`; it stays private.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyType = Y.AbstractType<any>

/** A path from a root type down to a changed key: root name, then map keys or array indexes. */
export type ChangePath = readonly (string | number)[]

/** One map key that an update added, overwrote or deleted, with its JSON values around the change. */
export interface KeyChange {
  readonly path: ChangePath
  readonly action: 'add' | 'update' | 'delete'
  /** The value before (omitted for an added key, or for a removed shared type, whose content Yjs already deleted). */
  readonly before?: unknown
  /** The value after (omitted for a deleted key). */
  readonly after?: unknown
}

/** Content inserted into or deleted from an array or text. */
export interface SequenceChange {
  readonly path: ChangePath
  readonly inserted: number
  readonly deleted: number
}

/** What the transactions since the last `take()` changed, read from Yjs's own change events. */
export interface ObservedChanges {
  readonly keys: readonly KeyChange[]
  readonly sequences: readonly SequenceChange[]
}

/** A value as JSON: shared types through their own `toJSON`, everything else as is. */
export const jsonOfValue = (value: unknown): unknown => (value instanceof Y.AbstractType ? (value as AnyType).toJSON() : value)

/**
 * Watches a scratch document while updates are applied to it and records, per transaction, which
 * keys and sequences changed. It listens on `beforeObserverCalls`, where Yjs can still compute an
 * event's changes (`Y.YEvent.keys`, `.changes.delta`) and before garbage collection drops the
 * content of overwritten values, so old values are still readable.
 */
export class ChangeObserver {
  private keys: KeyChange[] = []
  private sequences: SequenceChange[] = []
  private rootNames = new Map<AnyType, string>()

  constructor(private readonly doc: Y.Doc) {
    doc.on('beforeObserverCalls', this.onTransaction)
  }

  /** Returns what changed since the previous call and starts afresh. */
  take(): ObservedChanges {
    const changes = { keys: this.keys, sequences: this.sequences }
    this.keys = []
    this.sequences = []
    return changes
  }

  /** Stops watching. */
  destroy(): void {
    this.doc.off('beforeObserverCalls', this.onTransaction)
  }

  private readonly onTransaction = (transaction: Y.Transaction): void => {
    for (const [type, changedKeys] of transaction.changed) {
      const path = this.pathOf(type)
      if (path === undefined) continue
      const event = new Y.YEvent(type, transaction)
      if ([...changedKeys].some((key) => key !== null)) {
        for (const [key, change] of event.keys) {
          const current = type._map.get(key)
          const entry: KeyChange = { path: [...path, key], action: change.action }
          const before = change.action === 'add' || change.oldValue instanceof Y.AbstractType ? undefined : jsonOfValue(change.oldValue)
          const after = change.action === 'delete' || !current ? undefined : jsonOfValue(current.content.getContent().at(-1))
          this.keys.push({ ...entry, ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) })
        }
      }
      if (changedKeys.has(null)) {
        let inserted = 0
        let deleted = 0
        for (const op of event.changes.delta) {
          if (op.insert !== undefined) inserted += typeof op.insert === 'string' || Array.isArray(op.insert) ? op.insert.length : 1
          if (op.delete !== undefined) deleted += op.delete
        }
        if (inserted > 0 || deleted > 0) this.sequences.push({ path, inserted, deleted })
      }
    }
  }

  /** Root name, then the key or index of each step down to `type`; undefined for a detached type. */
  private pathOf(type: AnyType): (string | number)[] | undefined {
    const steps: (string | number)[] = []
    let current = type
    while (current._item !== null) {
      const item = current._item
      const parent = item.parent as AnyType
      steps.unshift(item.parentSub ?? indexOf(parent, item))
      current = parent
    }
    const root = this.rootName(current)
    return root === undefined ? undefined : [root, ...steps]
  }

  private rootName(type: AnyType): string | undefined {
    let name = this.rootNames.get(type)
    if (name === undefined) {
      // Roots appear as updates introduce them, and `getMap` and friends replace a bare root object
      // with a typed one, so the reverse index is rebuilt on a miss.
      this.rootNames = new Map([...this.doc.share].map(([key, value]) => [value, key]))
      name = this.rootNames.get(type)
    }
    return name
  }
}

const indexOf = (parent: AnyType, target: Y.Item): number => {
  let index = 0
  for (let item = parent._start; item !== null && item !== target; item = item.right) {
    if (!item.deleted && item.countable) index += item.length
  }
  return index
}
