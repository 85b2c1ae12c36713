import * as Y from 'yjs'
import { RealmsyncError } from './errors.js'

/** A JSON-like value a world component field may hold. */
export type WorldValue = number | string | boolean | null | readonly WorldValue[] | { readonly [key: string]: WorldValue }

/** Who holds an item: nobody (on the ground), a player, or a container (chest, corpse, shop). */
export type ItemHolder = { readonly type: 'none' } | { readonly type: 'player'; readonly id: string } | { readonly type: 'container'; readonly id: string }

/** An entity as read from the document. */
export interface EntityView {
  readonly id: string
  readonly kind: string
  /** component name -> field name -> value. */
  readonly components: Readonly<Record<string, Readonly<Record<string, WorldValue>>>>
}

/** An item as read from the document. */
export interface ItemView {
  readonly id: string
  readonly kind: string
  readonly holder: ItemHolder
}

/** What one transaction changed, for observers. */
export interface WorldChange {
  /** The transaction's origin (`transact(origin, ...)`, or the replication origin of a remote update). */
  readonly origin: unknown
  /** Whether the change came from this replica's own code. */
  readonly local: boolean
  readonly entities: ReadonlySet<string>
  readonly items: ReadonlySet<string>
  /** Items whose holder changed, with the holder after the change (undefined if the item was removed). */
  readonly holders: ReadonlyArray<{ readonly item: string; readonly holder: ItemHolder | undefined }>
}

/** A break of the single-holder rule found by `checkSingleHolder`. */
export interface HolderViolation {
  readonly item: string
  readonly problem: string
}

/** A world operation named an entity that does not exist. */
export class UnknownEntityError extends RealmsyncError {
  constructor(readonly entity: string) {
    super('unknown-entity', `entity ${entity} does not exist in this world document`)
  }
}

/** A world operation named an item that does not exist. */
export class UnknownItemError extends RealmsyncError {
  constructor(readonly item: string) {
    super('unknown-item', `item ${item} does not exist in this world document`)
  }
}

/** A value is not JSON-like (functions, undefined, class instances, non-finite numbers...). */
export class InvalidWorldValueError extends RealmsyncError {
  constructor(where: string) {
    super('invalid-world-value', `${where} is not a JSON-like value (number, string, boolean, null, array, plain object)`)
  }
}

/** Names of the root types in a world document; fixed, because every replica must agree. */
export const WORLD_ROOTS = { entities: 'entities', items: 'items' } as const

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/** Whether a value is JSON-like (what a world field may hold). */
export const isWorldValue = (value: unknown, depth = 0): value is WorldValue => {
  if (depth > 32) return false
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((inner) => isWorldValue(inner, depth + 1))
  if (typeof value === 'object' && isPlainObject(value)) return Object.values(value).every((inner) => isWorldValue(inner, depth + 1))
  return false
}

const isHolder = (value: unknown): value is ItemHolder => {
  if (typeof value !== 'object' || value === null) return false
  const holder = value as { type?: unknown; id?: unknown }
  if (holder.type === 'none') return true
  return (holder.type === 'player' || holder.type === 'container') && typeof holder.id === 'string' && holder.id.length > 0
}

/**
 * A typed view of the durable world over a `Y.Doc`: entities with components, and items with
 * exactly one holder each. The item's `holder` is one key of one Y.Map, so after any concurrent
 * merge an item still has exactly one holder (last writer wins); inventories are derived from
 * holders, never stored separately, so they cannot disagree with them.
 */
export class WorldDoc {
  private readonly entities: Y.Map<Y.Map<unknown>>
  private readonly items: Y.Map<Y.Map<unknown>>
  private readonly inventoryIndex = new Map<string, Set<string>>()
  private readonly holderOf = new Map<string, string>()
  private readonly listeners = new Set<(change: WorldChange) => void>()

  constructor(readonly doc: Y.Doc) {
    this.entities = doc.getMap(WORLD_ROOTS.entities)
    this.items = doc.getMap(WORLD_ROOTS.items)
    this.rebuildIndex()
    doc.on('afterTransaction', this.onTransaction)
  }

  /** Stops observing the document. */
  destroy(): void {
    this.doc.off('afterTransaction', this.onTransaction)
    this.listeners.clear()
  }

  /** Runs `fn` as one transaction tagged with `origin`; observers see one change for it. */
  transact<T>(origin: unknown, fn: (world: WorldDoc) => T): T {
    let result: T | undefined
    this.doc.transact(() => {
      result = fn(this)
    }, origin)
    return result as T
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  observe(listener: (change: WorldChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  // Entities

  /** Creates (or replaces) an entity with a kind and optional initial components. */
  createEntity(id: string, kind: string, components: Record<string, Record<string, WorldValue>> = {}): void {
    this.doc.transact(() => {
      const entity = new Y.Map<unknown>()
      entity.set('kind', kind)
      const componentMap = new Y.Map<Y.Map<unknown>>()
      entity.set('components', componentMap)
      this.entities.set(id, entity)
      for (const [name, fields] of Object.entries(components)) this.setComponent(id, name, fields)
    })
  }

  /** Whether an entity exists. */
  hasEntity(id: string): boolean {
    return this.entities.has(id)
  }

  /** Removes an entity; removing a missing one is a no-op. */
  removeEntity(id: string): void {
    this.entities.delete(id)
  }

  /** Sets fields of one component of an entity (other fields of the component are kept). */
  setComponent(id: string, component: string, fields: Record<string, WorldValue>): void {
    const entity = this.entities.get(id)
    if (!entity) throw new UnknownEntityError(id)
    for (const [field, value] of Object.entries(fields)) {
      if (!isWorldValue(value)) throw new InvalidWorldValueError(`${id}.${component}.${field}`)
    }
    this.doc.transact(() => {
      const components = entity.get('components') as Y.Map<Y.Map<unknown>>
      let map = components.get(component)
      if (!map) {
        map = new Y.Map<unknown>()
        components.set(component, map)
      }
      for (const [field, value] of Object.entries(fields)) map.set(field, value)
    })
  }

  /** One component's fields, or undefined if the entity or component is missing. */
  getComponent(id: string, component: string): Record<string, WorldValue> | undefined {
    const components = this.entities.get(id)?.get('components') as Y.Map<Y.Map<unknown>> | undefined
    return components?.get(component)?.toJSON() as Record<string, WorldValue> | undefined
  }

  /** An entity, or undefined. */
  getEntity(id: string): EntityView | undefined {
    const entity = this.entities.get(id)
    if (!entity) return undefined
    const components = (entity.get('components') as Y.Map<Y.Map<unknown>> | undefined)?.toJSON() ?? {}
    return { id, kind: String(entity.get('kind')), components: components as EntityView['components'] }
  }

  /** Every entity, sorted by id. */
  listEntities(): EntityView[] {
    return [...this.entities.keys()].sort().map((id) => this.getEntity(id) as EntityView)
  }

  // Items

  /** Creates (or replaces) an item with a kind and a holder (default: nobody). */
  createItem(id: string, kind: string, holder: ItemHolder = { type: 'none' }): void {
    if (!isHolder(holder)) throw new InvalidWorldValueError(`holder of item ${id}`)
    this.doc.transact(() => {
      const item = new Y.Map<unknown>()
      item.set('kind', kind)
      item.set('holder', { ...holder })
      this.items.set(id, item)
    })
  }

  /** Whether an item exists. */
  hasItem(id: string): boolean {
    return this.items.has(id)
  }

  /** Moves an item to a new holder (pickup, drop, trade, loot). The resolver decides who may. */
  setItemHolder(id: string, holder: ItemHolder): void {
    const item = this.items.get(id)
    if (!item) throw new UnknownItemError(id)
    if (!isHolder(holder)) throw new InvalidWorldValueError(`holder of item ${id}`)
    item.set('holder', { ...holder })
  }

  /** Removes an item; removing a missing one is a no-op. */
  removeItem(id: string): void {
    this.items.delete(id)
  }

  /** An item, or undefined. */
  getItem(id: string): ItemView | undefined {
    const item = this.items.get(id)
    if (!item) return undefined
    const holder = item.get('holder')
    return { id, kind: String(item.get('kind')), holder: isHolder(holder) ? holder : { type: 'none' } }
  }

  /** Every item, sorted by id. */
  listItems(): ItemView[] {
    return [...this.items.keys()].sort().map((id) => this.getItem(id) as ItemView)
  }

  /** Ids of the items a player holds, sorted (from the derived index: no scan). */
  inventoryOf(player: string): string[] {
    return [...(this.inventoryIndex.get(player) ?? [])].sort()
  }

  /**
   * Verifies the single-holder rule in one read of the items map: every item has exactly one
   * well-formed holder, and the derived inventory index agrees with the holders. Empty means fine.
   */
  checkSingleHolder(): HolderViolation[] {
    const violations: HolderViolation[] = []
    const expected = new Map<string, Set<string>>()
    for (const [id, item] of this.items.entries()) {
      const holder = item.get('holder')
      if (!isHolder(holder)) {
        violations.push({ item: id, problem: `malformed holder ${JSON.stringify(holder)}` })
        continue
      }
      if (holder.type === 'player') {
        if (!expected.has(holder.id)) expected.set(holder.id, new Set())
        expected.get(holder.id)?.add(id)
      }
    }
    for (const [player, items] of this.inventoryIndex) {
      for (const item of items) {
        if (!expected.get(player)?.has(item)) violations.push({ item, problem: `inventory index lists it under ${player}, but its holder differs` })
      }
    }
    for (const [player, items] of expected) {
      for (const item of items) {
        if (!this.inventoryIndex.get(player)?.has(item)) violations.push({ item, problem: `held by ${player} but missing from the inventory index` })
      }
    }
    return violations
  }

  private rebuildIndex(): void {
    this.inventoryIndex.clear()
    this.holderOf.clear()
    for (const id of this.items.keys()) this.reindexItem(id)
  }

  private reindexItem(id: string): void {
    const previous = this.holderOf.get(id)
    if (previous !== undefined) {
      const set = this.inventoryIndex.get(previous)
      set?.delete(id)
      if (set?.size === 0) this.inventoryIndex.delete(previous)
      this.holderOf.delete(id)
    }
    const holder = this.items.get(id)?.get('holder')
    if (isHolder(holder) && holder.type === 'player') {
      if (!this.inventoryIndex.has(holder.id)) this.inventoryIndex.set(holder.id, new Set())
      this.inventoryIndex.get(holder.id)?.add(id)
      this.holderOf.set(id, holder.id)
    }
  }

  private readonly onTransaction = (transaction: Y.Transaction): void => {
    const entities = new Set<string>()
    const items = new Set<string>()
    for (const [type, keys] of transaction.changed) {
      if (type === (this.entities as YType) || type === (this.items as YType)) {
        const target = type === (this.entities as YType) ? entities : items
        for (const key of keys) if (key !== null) target.add(key)
        continue
      }
      const owner = this.rootKeyOf(type)
      if (owner) (owner.root === (this.entities as YType) ? entities : items).add(owner.key)
    }
    if (entities.size === 0 && items.size === 0) return
    const holders: Array<{ item: string; holder: ItemHolder | undefined }> = []
    for (const id of items) {
      const beforeHolder = this.holderOf.get(id)
      this.reindexItem(id)
      const holder = this.getItem(id)?.holder
      const after = holder?.type === 'player' ? holder.id : undefined
      if (beforeHolder !== after || holder?.type !== 'player') holders.push({ item: id, holder })
    }
    if (this.listeners.size === 0) return
    const change: WorldChange = { origin: transaction.origin, local: transaction.local, entities, items, holders }
    for (const listener of this.listeners) listener(change)
  }

  private rootKeyOf(type: YType): { root: YType; key: string } | undefined {
    // Walk up to the child of a root map: that child's key is the entity or item id.
    let current: YType = type
    for (;;) {
      const item = current._item
      if (item === null) return undefined
      const parent = item.parent as YType
      if (parent === (this.entities as YType) || parent === (this.items as YType)) return item.parentSub ? { root: parent, key: item.parentSub } : undefined
      current = parent
    }
  }
}

// eslint-style escape hatch kept private: Yjs types are invariant in their event parameter.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type YType = Y.AbstractType<any>
