import * as Y from 'yjs'
import {
  assertWorldName,
  EntityExistsError,
  HolderMismatchError,
  holderKey,
  InvalidWorldValueError,
  isItemHolder,
  isWorldName,
  isWorldValue,
  ItemExistsError,
  StaleItemVersionError,
  normalizeHolder,
  sameHolder,
  UnknownEntityError,
  UnknownItemError,
  WORLD_ROOTS,
  type ItemHolder,
  type WorldValue,
} from './world-schema.js'

/** Component name -> field name -> value. */
export type ComponentFields = Readonly<Record<string, WorldValue>>

/** An entity as read from the document (a plain copy: editing it changes nothing). */
export interface EntityView {
  readonly id: string
  readonly kind: string
  /** Component name -> field name -> value. */
  readonly components: Readonly<Record<string, ComponentFields>>
}

/** An item as read from the document. */
export interface ItemView {
  readonly id: string
  readonly kind: string
  readonly holder: ItemHolder
}

/** An item's holder before and after one transaction; `undefined` means the item did not exist. */
export interface HolderChange {
  readonly item: string
  readonly from: ItemHolder | undefined
  readonly to: ItemHolder | undefined
}

/** What one transaction changed, for observers. */
export interface WorldChange {
  /** The transaction's origin (`transact(origin, ...)`, or whatever origin a remote update was applied with). */
  readonly origin: unknown
  /** Whether the change was made by this replica's own code rather than applied from an update. */
  readonly local: boolean
  /** Entities created, removed or edited. */
  readonly entities: ReadonlySet<string>
  /** Items created, removed or edited. */
  readonly items: ReadonlySet<string>
  /** Items whose holder is different after the transaction (creation and removal included). */
  readonly holders: readonly HolderChange[]
}

/** What `checkSingleHolder` found wrong with one item. */
export type HolderProblem = 'malformed-item' | 'malformed-holder' | 'index-disagrees'

/** A break of the single-holder rule found by `checkSingleHolder`. */
export interface HolderViolation {
  readonly item: string
  readonly problem: HolderProblem
  /** What exactly is wrong, for a person reading a simulator report. */
  readonly detail: string
}

/** Every item's holder, read in one pass, and everything wrong found in that pass. */
export interface HolderAudit {
  readonly holders: ReadonlyMap<string, ItemHolder>
  readonly violations: readonly HolderViolation[]
}

type YMap = Y.Map<unknown>
// Yjs types are invariant in their event parameter, so the common base needs `any` here; it stays private.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type YType = Y.AbstractType<any>

const asMap = (value: unknown): YMap | undefined => (value instanceof Y.Map ? (value as YMap) : undefined)

// A malformed or missing version reads as 0 rather than poisoning every later bump with NaN.
const readVersion = (item: YMap): number => {
  const version = item.get('version')
  return typeof version === 'number' && Number.isSafeInteger(version) && version >= 0 ? version : 0
}

/**
 * Holder key -> item ids, and item -> holder, derived from the items map and never written to the
 * document, so it cannot disagree with holders across a merge; only a bug here could, and
 * `checkSingleHolder` looks for exactly that.
 */
class HolderIndex {
  private readonly itemsByHolder = new Map<string, Set<string>>()
  private readonly holderByItem = new Map<string, ItemHolder>()

  holderOf(item: string): ItemHolder | undefined {
    return this.holderByItem.get(item)
  }

  set(item: string, holder: ItemHolder | undefined): void {
    const previous = this.holderByItem.get(item)
    if (sameHolder(previous, holder)) return
    if (previous !== undefined) {
      const key = holderKey(previous)
      const set = this.itemsByHolder.get(key)
      set?.delete(item)
      if (set?.size === 0) this.itemsByHolder.delete(key)
      this.holderByItem.delete(item)
    }
    if (holder === undefined) return
    this.holderByItem.set(item, holder)
    const key = holderKey(holder)
    let set = this.itemsByHolder.get(key)
    if (!set) this.itemsByHolder.set(key, (set = new Set()))
    set.add(item)
  }

  itemsHeldBy(holder: ItemHolder): string[] {
    return [...(this.itemsByHolder.get(holderKey(holder)) ?? [])].sort()
  }

  /** Every (holder key, item) pair the index lists, and every item it knows a holder for. */
  listings(): { byHolder: ReadonlyMap<string, ReadonlySet<string>>; byItem: ReadonlyMap<string, ItemHolder> } {
    return { byHolder: this.itemsByHolder, byItem: this.holderByItem }
  }
}

/**
 * A typed view of the durable world over a `Y.Doc` (layout in `WORLD_ROOTS`): entities with
 * components, and items with exactly one holder each. Replication owns the `Y.Doc`; this class
 * only reads and writes it, so any number of updates may arrive underneath it.
 */
export class WorldDoc {
  private readonly entities: Y.Map<unknown>
  private readonly items: Y.Map<unknown>
  private readonly index = new HolderIndex()
  /** Holders of items touched by local writes in the open transaction, as they were before it. */
  private readonly holdersBeforeTransaction = new Map<string, ItemHolder | undefined>()
  private readonly pendingChanges = new WeakMap<Y.Transaction, WorldChange>()
  private readonly listeners = new Set<(change: WorldChange) => void>()

  constructor(readonly doc: Y.Doc) {
    this.entities = doc.getMap(WORLD_ROOTS.entities)
    this.items = doc.getMap(WORLD_ROOTS.items)
    for (const id of this.items.keys()) this.index.set(id, this.readHolder(id))
    // The index is brought up to date before any observer runs (so Yjs observers and other
    // afterTransaction listeners read fresh inventories); our own listeners run in afterTransaction,
    // where Yjs calls every callback even if one throws.
    doc.on('beforeObserverCalls', this.onBeforeObserverCalls)
    doc.on('afterTransaction', this.onAfterTransaction)
  }

  /** Stops observing the document and drops every listener. */
  destroy(): void {
    this.doc.off('beforeObserverCalls', this.onBeforeObserverCalls)
    this.doc.off('afterTransaction', this.onAfterTransaction)
    this.listeners.clear()
  }

  /**
   * Runs `fn` as one transaction tagged with `origin`; observers see one change for it. Nested calls
   * join the outer transaction (and its origin). Yjs has no rollback: writes made before `fn` throws stay.
   */
  transact<T>(origin: unknown, fn: (world: WorldDoc) => T): T {
    let result: T | undefined
    this.doc.transact(() => {
      result = fn(this)
    }, origin)
    return result as T
  }

  /** Subscribes to changes (local and remote); returns the unsubscribe function. */
  observe(listener: (change: WorldChange) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  // Entities

  /** Creates an entity with a kind and optional initial components; throws `EntityExistsError` if the id is taken. */
  createEntity(id: string, kind: string, components: Readonly<Record<string, ComponentFields>> = {}): void {
    assertWorldName('entity id', id)
    assertWorldName(`kind of entity ${id}`, kind)
    for (const [name, fields] of Object.entries(components)) this.validateFields(id, name, fields)
    if (this.hasEntity(id)) throw new EntityExistsError(id)
    this.doc.transact(() => {
      const entity = new Y.Map<unknown>()
      entity.set('kind', kind)
      const componentMaps = new Y.Map<unknown>()
      for (const [name, fields] of Object.entries(components)) componentMaps.set(name, fieldsMap(fields))
      entity.set('components', componentMaps)
      this.entities.set(id, entity)
    })
  }

  /** Whether a (well-formed) entity exists. */
  hasEntity(id: string): boolean {
    return this.entityMap(id) !== undefined
  }

  /** Removes an entity with all its components; throws `UnknownEntityError` if it does not exist. */
  removeEntity(id: string): void {
    if (!this.entities.has(id)) throw new UnknownEntityError(id)
    this.entities.delete(id)
  }

  /** Sets fields of one component of an entity, creating the component if needed; other fields are kept. */
  setComponent(id: string, component: string, fields: ComponentFields): void {
    this.validateFields(id, component, fields)
    const components = this.componentsOf(id)
    this.doc.transact(() => {
      const existing = asMap(components.get(component))
      if (!existing) {
        components.set(component, fieldsMap(fields))
        return
      }
      for (const [field, value] of Object.entries(fields)) existing.set(field, value)
    })
  }

  /** Removes one component of an entity; returns whether it was there. Throws `UnknownEntityError`. */
  removeComponent(id: string, component: string): boolean {
    const components = this.componentsOf(id)
    if (!components.has(component)) return false
    components.delete(component)
    return true
  }

  /** One component's fields (a copy), or undefined if the entity or component is missing. */
  getComponent(id: string, component: string): ComponentFields | undefined {
    const entity = this.entityMap(id)
    const map = entity ? asMap(asMap(entity.get('components'))?.get(component)) : undefined
    return map?.toJSON() as ComponentFields | undefined
  }

  /** An entity (a copy), or undefined. */
  getEntity(id: string): EntityView | undefined {
    const entity = this.entityMap(id)
    if (!entity) return undefined
    const components: Record<string, ComponentFields> = {}
    for (const [name, value] of asMap(entity.get('components'))?.entries() ?? []) {
      const map = asMap(value)
      if (map) components[name] = map.toJSON() as ComponentFields
    }
    return { id, kind: entity.get('kind') as string, components }
  }

  /** Every entity, sorted by id. */
  listEntities(): EntityView[] {
    return [...this.entities.keys()]
      .sort()
      .map((id) => this.getEntity(id))
      .filter((entity): entity is EntityView => entity !== undefined)
  }

  // Items

  /** Creates an item with a kind and a holder (default: nobody); throws `ItemExistsError` if the id is taken. */
  createItem(id: string, kind: string, holder: ItemHolder = { type: 'none' }): void {
    assertWorldName('item id', id)
    assertWorldName(`kind of item ${id}`, kind)
    const canonical = normalizeHolder(id, holder)
    if (this.hasItem(id)) throw new ItemExistsError(id)
    this.doc.transact(() => {
      this.rememberHolderBefore(id)
      const item = new Y.Map<unknown>()
      item.set('kind', kind)
      item.set('holder', canonical)
      this.items.set(id, item)
      this.index.set(id, canonical)
    })
  }

  /** Whether a (well-formed) item exists. */
  hasItem(id: string): boolean {
    return this.itemMap(id) !== undefined
  }

  /**
   * UNSAFE for live play: writes an item's holder without counting its version, so a replica cannot
   * tell this write from another holder at the same version (the single-writer check of the
   * simulator reports it as a double hold) and a prediction made before it is not detected as stale.
   * For building fixtures, importing a world or tools that rebuild a past state; moves in a running
   * world go through `moveItem` (the resolvers do).
   */
  setItemHolderUnversioned(id: string, holder: ItemHolder): void {
    const item = this.itemMap(id)
    if (!item) throw new UnknownItemError(id)
    const canonical = normalizeHolder(id, holder)
    this.doc.transact(() => {
      this.rememberHolderBefore(id)
      item.set('holder', canonical)
      this.index.set(id, canonical)
    })
  }

  /**
   * Moves an item, counts the write in its version (`itemVersion`) and returns its previous holder.
   * With `expectedFrom`, refuses with `HolderMismatchError` unless the item is held there now; with
   * `expectedVersion`, refuses with `StaleItemVersionError` unless it is at that version now: a
   * local compare-and-set for resolvers. The default way to move an item: versioned, so a checker
   * can hold each (item, version) to one holder on every replica, and an intent predicted against an
   * older state is detectably stale.
   */
  moveItem(id: string, to: ItemHolder, expectedFrom?: ItemHolder, expectedVersion?: number): ItemHolder {
    const item = this.itemMap(id)
    if (!item) throw new UnknownItemError(id)
    const canonical = normalizeHolder(id, to)
    const version = readVersion(item)
    if (expectedVersion !== undefined && expectedVersion !== version) throw new StaleItemVersionError(id, expectedVersion, version)
    const current = (this.getItem(id) as ItemView).holder
    if (expectedFrom !== undefined && !sameHolder(current, normalizeHolder(id, expectedFrom))) throw new HolderMismatchError(id, expectedFrom, current)
    // Holder and version in one transaction, so no replica ever sees the new holder at the old version.
    this.doc.transact(() => {
      this.rememberHolderBefore(id)
      item.set('holder', canonical)
      item.set('version', version + 1)
      this.index.set(id, canonical)
    })
    return current
  }

  /** How many versioned moves an item has had (0 for a fresh or unknown item): its optimistic-concurrency version. */
  itemVersion(id: string): number {
    const item = this.itemMap(id)
    return item ? readVersion(item) : 0
  }

  /** Removes an item; throws `UnknownItemError` if it does not exist. */
  removeItem(id: string): void {
    if (!this.items.has(id)) throw new UnknownItemError(id)
    this.doc.transact(() => {
      this.rememberHolderBefore(id)
      this.items.delete(id)
      this.index.set(id, undefined)
    })
  }

  /** An item, or undefined. A malformed holder reads as nobody (and `checkSingleHolder` reports it). */
  getItem(id: string): ItemView | undefined {
    const item = this.itemMap(id)
    if (!item) return undefined
    const holder = item.get('holder')
    return { id, kind: item.get('kind') as string, holder: isItemHolder(holder) ? normalizeHolder(id, holder) : { type: 'none' } }
  }

  /** Every item, sorted by id. */
  listItems(): ItemView[] {
    return [...this.items.keys()]
      .sort()
      .map((id) => this.getItem(id))
      .filter((item): item is ItemView => item !== undefined)
  }

  /** Ids of the items a player holds, sorted; read from the derived index, not by scanning items. */
  inventoryOf(player: string): string[] {
    return this.index.itemsHeldBy({ type: 'player', id: player })
  }

  /** Ids of the items a container holds, sorted; read from the derived index. */
  contentsOf(container: string): string[] {
    return this.index.itemsHeldBy({ type: 'container', id: container })
  }

  /**
   * Reads every item's holder in one pass over the items map and checks that each item is
   * well-formed and that the derived index lists it under exactly that holder and nowhere else.
   * Two holders for one item cannot be stored (the holder is one map key), so what can go wrong is
   * malformed data from a buggy or hostile writer, or an index that drifted from the document.
   */
  auditHolders(): HolderAudit {
    const holders = new Map<string, ItemHolder>()
    const violations: HolderViolation[] = []
    const listings = this.index.listings()
    for (const [id, value] of this.items.entries()) {
      const item = asMap(value)
      if (!item || !isWorldName(item.get('kind'))) {
        violations.push({ item: id, problem: 'malformed-item', detail: 'not a map with a string kind' })
        continue
      }
      const raw = item.get('holder')
      if (!isItemHolder(raw)) {
        violations.push({ item: id, problem: 'malformed-holder', detail: `holder is ${JSON.stringify(raw) ?? 'missing'}` })
        continue
      }
      const holder = normalizeHolder(id, raw)
      holders.set(id, holder)
      const indexed = listings.byItem.get(id)
      if (!sameHolder(indexed, holder)) {
        violations.push({ item: id, problem: 'index-disagrees', detail: `held by ${holderKey(holder)}, index says ${indexed ? holderKey(indexed) : 'nothing'}` })
      }
    }
    for (const [id, indexed] of listings.byItem) {
      if (!holders.has(id) && !violations.some((v) => v.item === id)) {
        violations.push({ item: id, problem: 'index-disagrees', detail: `index lists it under ${holderKey(indexed)}, but the document has no such well-formed item` })
      }
    }
    for (const [key, ids] of listings.byHolder) {
      for (const id of ids) {
        const holder = holders.get(id)
        if (!holder || holderKey(holder) !== key) {
          violations.push({ item: id, problem: 'index-disagrees', detail: `index lists it under ${key}, but it is held by ${holder ? holderKey(holder) : 'nothing'}` })
        }
      }
    }
    return { holders, violations }
  }

  /** The violations `auditHolders` finds; empty when every item has one well-formed, correctly indexed holder. */
  checkSingleHolder(): HolderViolation[] {
    return [...this.auditHolders().violations]
  }

  private entityMap(id: string): YMap | undefined {
    const entity = asMap(this.entities.get(id))
    return entity && typeof entity.get('kind') === 'string' ? entity : undefined
  }

  private componentsOf(id: string): YMap {
    const entity = this.entityMap(id)
    if (!entity) throw new UnknownEntityError(id)
    let components = asMap(entity.get('components'))
    if (!components) {
      // Only a malformed writer leaves an entity without its components map; repair rather than fail.
      components = new Y.Map<unknown>()
      entity.set('components', components)
    }
    return components
  }

  private itemMap(id: string): YMap | undefined {
    const item = asMap(this.items.get(id))
    return item && typeof item.get('kind') === 'string' ? item : undefined
  }

  private readHolder(id: string): ItemHolder | undefined {
    const item = this.itemMap(id)
    if (!item) return undefined
    const holder = item.get('holder')
    return isItemHolder(holder) ? normalizeHolder(id, holder) : undefined
  }

  private validateFields(id: string, component: string, fields: ComponentFields): void {
    assertWorldName(`component of entity ${id}`, component)
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new InvalidWorldValueError(`${id}.${component}`)
    for (const [field, value] of Object.entries(fields)) {
      assertWorldName(`field of ${id}.${component}`, field)
      if (!isWorldValue(value)) throw new InvalidWorldValueError(`${id}.${component}.${field}`)
    }
  }

  private rememberHolderBefore(id: string): void {
    if (!this.holdersBeforeTransaction.has(id)) this.holdersBeforeTransaction.set(id, this.index.holderOf(id))
  }

  private readonly onBeforeObserverCalls = (transaction: Y.Transaction): void => {
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
    const holders: HolderChange[] = []
    for (const id of items) {
      const from = this.holdersBeforeTransaction.has(id) ? this.holdersBeforeTransaction.get(id) : this.index.holderOf(id)
      const to = this.readHolder(id)
      this.index.set(id, to)
      if (!sameHolder(from, to)) holders.push({ item: id, from, to })
    }
    this.holdersBeforeTransaction.clear()
    if (entities.size > 0 || items.size > 0) {
      this.pendingChanges.set(transaction, { origin: transaction.origin, local: transaction.local, entities, items, holders })
    }
  }

  private readonly onAfterTransaction = (transaction: Y.Transaction): void => {
    const change = this.pendingChanges.get(transaction)
    if (!change) return
    this.pendingChanges.delete(transaction)
    let failure: unknown
    // Every listener hears every change even if an earlier one throws; the first error is rethrown.
    for (const listener of [...this.listeners]) {
      try {
        listener(change)
      } catch (error) {
        failure ??= error
      }
    }
    if (failure !== undefined) throw failure
  }

  private rootKeyOf(type: YType): { root: YType; key: string } | undefined {
    // Walk up to the child of a root map: that child's key is the entity or item id.
    let current: YType = type
    for (;;) {
      const item = current._item
      if (item === null) return undefined
      const parent = item.parent as YType
      if (parent === (this.entities as YType) || parent === (this.items as YType)) {
        return item.parentSub === null ? undefined : { root: parent, key: item.parentSub }
      }
      current = parent
    }
  }
}

const fieldsMap = (fields: ComponentFields): YMap => {
  const map = new Y.Map<unknown>()
  for (const [field, value] of Object.entries(fields)) map.set(field, value)
  return map
}

/** Opens the typed world view over a document replication already owns (same as `new WorldDoc(doc)`). */
export const openWorldDoc = (doc: Y.Doc): WorldDoc => new WorldDoc(doc)
