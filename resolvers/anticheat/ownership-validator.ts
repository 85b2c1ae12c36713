import type { WorldDoc, WorldValue } from '../../core/index.js'
import { accept, refuse, type ActionContext, type Validation } from '../action-handler.js'
import { payloadField } from './payload.js'
import type { Validator } from './validator.js'

/** Refuses unless `item` names an existing item (`invalid-intent`) held by `player` (`not-permitted`). */
export const checkHolds = (world: WorldDoc, player: string, item: unknown): Validation => {
  if (typeof item !== 'string' || item.length === 0) return refuse('invalid-intent', 'item must be a non-empty string id')
  const found = world.getItem(item)
  if (found === undefined) return refuse('invalid-intent', `item ${item} does not exist`)
  const holder = found.holder
  if (holder.type !== 'player' || holder.id !== player) return refuse('not-permitted', `player ${player} does not hold item ${item}`)
  return accept()
}

/** Refuses unless `item` names an existing item, whoever holds it. */
export const checkExists = (world: WorldDoc, item: unknown): Validation => {
  if (typeof item !== 'string' || item.length === 0) return refuse('invalid-intent', 'item must be a non-empty string id')
  return world.hasItem(item) ? accept() : refuse('invalid-intent', `item ${item} does not exist`)
}

/** The item ids an intent acts on: `payload.item`, plus every entry of `payload.items` and `payload.give`. */
export const itemsInPayload = (payload: WorldValue): unknown[] => {
  const ids: unknown[] = []
  const item = payloadField(payload, 'item')
  if (item !== undefined) ids.push(item)
  for (const key of ['items', 'give']) {
    const list = payloadField(payload, key)
    if (Array.isArray(list)) ids.push(...(list as readonly WorldValue[]))
    else if (list !== undefined) ids.push(list)
  }
  return ids
}

/** Settings of `ownershipValidator`. */
export interface OwnershipOptions {
  /** Item ids the actor must hold. Default: `itemsInPayload`. */
  readonly itemsOf?: (context: ActionContext) => readonly unknown[]
}

/** Ownership and existence for drop, trade, use, sell: the actor must hold every item it names, and name at least one. */
export const ownershipValidator = (options: OwnershipOptions = {}): Validator => {
  const itemsOf = options.itemsOf ?? ((context: ActionContext) => itemsInPayload(context.intent.payload))
  return (context) => {
    const items = itemsOf(context)
    if (items.length === 0) return refuse('invalid-intent', `${context.intent.action} names no item`)
    const seen = new Set<unknown>()
    for (const item of items) {
      // Naming an item twice in one trade would offer it twice.
      if (seen.has(item)) return refuse('invalid-intent', `item ${String(item)} is named twice`)
      seen.add(item)
      const verdict = checkHolds(context.world, context.intent.player, item)
      if (!verdict.ok) return verdict
    }
    return accept()
  }
}
