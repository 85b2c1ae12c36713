import * as Y from 'yjs'
import { WORLD_ROOTS } from '../../core/index.js'
import { rootKind } from '../document-json.js'
import type { KeyChange } from './change-observer.js'

/** An item's holder before and after an update, as labels (`none`, `player:p1`, `container:c7`); undefined: no such item. */
export interface HolderMove {
  readonly item: string
  readonly from: string | undefined
  readonly to: string | undefined
}

/** The world-level reading of one update: entities and items it touched, and holders it changed. */
export interface WorldChanges {
  readonly entities: readonly string[]
  readonly items: readonly string[]
  readonly holders: readonly HolderMove[]
}

/** A holder value as a label; anything but a well-formed holder reads `malformed`. */
export const holderLabel = (value: unknown): string => {
  if (typeof value !== 'object' || value === null) return 'malformed'
  const holder = value as { type?: unknown; id?: unknown }
  if (holder.type === 'none') return 'none'
  if ((holder.type === 'player' || holder.type === 'container') && typeof holder.id === 'string') return `${holder.type}:${holder.id}`
  return 'malformed'
}

/** The root map of a world document, if the document has one of that name holding a map. */
export const worldRoot = (doc: Y.Doc, name: string): Y.Map<unknown> | undefined => {
  const type = doc.share.get(name)
  return type && rootKind(type) === 'map' ? doc.getMap<unknown>(name) : undefined
}

/** An item's holder label in a document, or undefined if there is no such item. */
export const holderIn = (doc: Y.Doc, item: string): string | undefined => {
  const value = worldRoot(doc, WORLD_ROOTS.items)?.get(item)
  if (value === undefined) return undefined
  return value instanceof Y.Map ? holderLabel(value.get('holder')) : 'malformed'
}

/**
 * Reads world-level meaning (core/world-schema.ts: `entities` and `items` root maps, one `holder`
 * key per item) out of key changes, tolerating documents that are not world documents at all. It
 * remembers each item's holder, so a move is reported with where the item came from even when the
 * item itself was removed and its content already gone.
 */
export class WorldTracker {
  private readonly holders = new Map<string, string>()

  constructor(doc: Y.Doc) {
    for (const item of worldRoot(doc, WORLD_ROOTS.items)?.keys() ?? []) {
      const holder = holderIn(doc, item)
      if (holder !== undefined) this.holders.set(item, holder)
    }
  }

  /** What `keys` (the changes of one update, already applied to `doc`) mean for entities and items. */
  read(doc: Y.Doc, keys: readonly KeyChange[]): WorldChanges {
    const entities = new Set<string>()
    const items = new Set<string>()
    for (const { path } of keys) {
      const id = path[1]
      if (typeof id !== 'string') continue
      if (path[0] === WORLD_ROOTS.entities) entities.add(id)
      else if (path[0] === WORLD_ROOTS.items) items.add(id)
    }
    const holders: HolderMove[] = []
    for (const item of [...items].sort()) {
      const from = this.holders.get(item)
      const to = holderIn(doc, item)
      if (to === undefined) this.holders.delete(item)
      else this.holders.set(item, to)
      if (from !== to) holders.push({ item, from, to })
    }
    return { entities: [...entities].sort(), items: [...items].sort(), holders }
  }
}
