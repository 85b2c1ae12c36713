import { RealmsyncError } from './errors.js'

/**
 * The layout of a world document. Root names are fixed because every replica, every storage
 * snapshot and every history tool must agree on them; renaming one is a data migration.
 *
 * ```
 * Y.Map 'entities'  entity id -> Y.Map { kind: string, components: Y.Map<component, Y.Map<field, WorldValue>> }
 * Y.Map 'items'     item id   -> Y.Map { kind: string, holder: ItemHolder }
 * ```
 *
 * An item's `holder` is one key of one Y.Map: concurrent writers race on that one key and Yjs keeps
 * exactly one of their values, so no merge can give an item two holders. Inventories are never
 * stored; they are derived from holders.
 */
export const WORLD_ROOTS = { entities: 'entities', items: 'items' } as const

/** A JSON-like value a world component field or an intent payload may hold. */
export type WorldValue = number | string | boolean | null | readonly WorldValue[] | { readonly [key: string]: WorldValue }

/** Who holds an item: nobody (on the ground), a player, or a container (chest, corpse, shop). */
export type ItemHolder = { readonly type: 'none' } | { readonly type: 'player'; readonly id: string } | { readonly type: 'container'; readonly id: string }

/** Deepest nesting of arrays and objects accepted in a world value; deeper input is refused, not recursed into. */
export const MAX_WORLD_VALUE_DEPTH = 32

/** Longest entity id, item id, kind, component or field name accepted, in UTF-16 code units. */
export const MAX_WORLD_NAME_LENGTH = 512

/** A world operation named an entity that does not exist. */
export class UnknownEntityError extends RealmsyncError {
  constructor(readonly entity: string) {
    super('unknown-entity', `entity ${entity} does not exist in this world document; create it first or check hasEntity`)
  }
}

/** A world operation named an item that does not exist. */
export class UnknownItemError extends RealmsyncError {
  constructor(readonly item: string) {
    super('unknown-item', `item ${item} does not exist in this world document; create it first or check hasItem`)
  }
}

/** `createEntity` named an id that is already taken; replacing would silently drop concurrent edits. */
export class EntityExistsError extends RealmsyncError {
  constructor(readonly entity: string) {
    super('entity-exists', `entity ${entity} already exists; remove it first or update its components`)
  }
}

/** `createItem` named an id that is already taken; replacing would silently drop a concurrent move. */
export class ItemExistsError extends RealmsyncError {
  constructor(readonly item: string) {
    super('item-exists', `item ${item} already exists; move it with moveItem instead`)
  }
}

/** A value is not JSON-like (undefined, functions, class instances, non-finite numbers, too deep...). */
export class InvalidWorldValueError extends RealmsyncError {
  constructor(readonly where: string) {
    super(
      'invalid-world-value',
      `${where} is not a JSON-like value (finite number, string, boolean, null, array or plain object, at most ${MAX_WORLD_VALUE_DEPTH} levels deep)`,
    )
  }
}

/** An id, kind, component or field name is empty, too long, not a string, has a lone surrogate, or is `__proto__`. */
export class InvalidWorldNameError extends RealmsyncError {
  constructor(
    readonly what: string,
    readonly value: unknown,
  ) {
    super('invalid-world-name', `${what} ${JSON.stringify(value) ?? String(value)} must be a non-empty, well-formed string of at most ${MAX_WORLD_NAME_LENGTH} characters, not "__proto__"`)
  }
}

/** A holder is not `{ type: 'none' }`, `{ type: 'player', id }` or `{ type: 'container', id }`. */
export class InvalidHolderError extends RealmsyncError {
  constructor(
    readonly item: string,
    readonly holder: unknown,
  ) {
    super('invalid-holder', `holder of item ${item} must be { type: 'none' } or { type: 'player' | 'container', id: non-empty string }, got ${JSON.stringify(holder) ?? String(holder)}`)
  }
}

/** `moveItem` expected the item with one holder but found another: someone moved it first. */
export class HolderMismatchError extends RealmsyncError {
  constructor(
    readonly item: string,
    readonly expected: ItemHolder,
    readonly actual: ItemHolder,
  ) {
    super('holder-mismatch', `item ${item} is held by ${holderKey(actual)}, not ${holderKey(expected)}; re-read it and decide again`)
  }
}

/** `moveItem` expected an item at one version but found another: it changed since the caller read it. */
export class StaleItemVersionError extends RealmsyncError {
  constructor(
    readonly item: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super('stale-version', `item ${item} is at version ${actual}, not ${expected}; re-read it and decide again`)
  }
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

// An own `__proto__` key cannot survive a round trip: Yjs and lib0 rebuild objects by assignment,
// which would set the prototype instead of a field.
const FORBIDDEN_KEY = '__proto__'

// A lone UTF-16 surrogate has no UTF-8 form: the writer keeps it in memory while every replica
// that decodes the update reads U+FFFD, and the replicas silently diverge. So such text is refused.
const LONE_SURROGATE = /\p{Cs}/u

/** Whether a string is well-formed Unicode (no lone surrogates), so it survives UTF-8 encoding unchanged. */
export const isWellFormedText = (text: string): boolean => !LONE_SURROGATE.test(text)

/** Whether a value is JSON-like (what a world field or intent payload may hold). */
export const isWorldValue = (value: unknown): value is WorldValue => isWorldValueAt(value, 0)

const isWorldValueAt = (value: unknown, depth: number): boolean => {
  if (value === null || typeof value === 'boolean') return true
  if (typeof value === 'string') return isWellFormedText(value)
  if (typeof value === 'number') return Number.isFinite(value)
  if (typeof value !== 'object' || depth >= MAX_WORLD_VALUE_DEPTH) return false
  if (Array.isArray(value)) return value.every((inner) => isWorldValueAt(inner, depth + 1))
  if (!isPlainObject(value) || Object.prototype.hasOwnProperty.call(value, FORBIDDEN_KEY)) return false
  return Object.entries(value).every(([key, inner]) => isWellFormedText(key) && isWorldValueAt(inner, depth + 1))
}

/** Whether a string is acceptable as an id, kind, component or field name. */
export const isWorldName = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_WORLD_NAME_LENGTH && value !== FORBIDDEN_KEY && isWellFormedText(value)

/** Throws `InvalidWorldNameError` unless `value` is a valid name. */
export const assertWorldName = (what: string, value: unknown): string => {
  if (!isWorldName(value)) throw new InvalidWorldNameError(what, value)
  return value
}

/** Whether a value is a well-formed holder. */
export const isItemHolder = (value: unknown): value is ItemHolder => {
  if (typeof value !== 'object' || value === null) return false
  const holder = value as { type?: unknown; id?: unknown }
  if (holder.type === 'none') return true
  return (holder.type === 'player' || holder.type === 'container') && isWorldName(holder.id)
}

/** The canonical form of a holder (no extra fields), or throws `InvalidHolderError`. */
export const normalizeHolder = (item: string, value: unknown): ItemHolder => {
  if (!isItemHolder(value)) throw new InvalidHolderError(item, value)
  return value.type === 'none' ? { type: 'none' } : { type: value.type, id: value.id }
}

/** A string naming a holder (`none`, `player:p1`, `container:chest7`), for indexes and messages. */
export const holderKey = (holder: ItemHolder): string => (holder.type === 'none' ? 'none' : `${holder.type}:${holder.id}`)

/** Whether two holders (or absences) are the same. */
export const sameHolder = (a: ItemHolder | undefined, b: ItemHolder | undefined): boolean =>
  a === undefined || b === undefined ? a === b : holderKey(a) === holderKey(b)
