import type { Intent, WorldDoc, WorldValue } from '../../core/index.js'
import { accept, refuse, type ActionContext, type Validation } from '../action-handler.js'
import { payloadField } from '../anticheat/index.js'
import type { ActionResolver } from './resolver.js'

/** The resource id of an item, as ownership sees it. */
export const itemResource = (item: string): string => `item:${item}`

const itemOfResource = (resource: string): string => resource.slice('item:'.length)

const stringField = (payload: WorldValue, key: string): string | undefined => {
  const value = payloadField(payload, key)
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

const stringList = (payload: WorldValue, key: string): string[] | undefined => {
  const value = payloadField(payload, key)
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string' && entry.length > 0)) return undefined
  return value as string[]
}

/** What a client gets back with a `conflict` or `stale-version` on an item: who holds it and at which version. */
export const itemState = (world: WorldDoc, item: string): WorldValue => {
  const found = world.getItem(item)
  return found === undefined ? { item, exists: false } : { item, exists: true, holder: found.holder, version: world.itemVersion(item) }
}

const singleItem = (intent: Intent): string | undefined => stringField(intent.payload, 'item')

/** Item pickup: exactly one winner. The item must lie on the ground (held by nobody); the first claim in HLC order takes it. The ack carries `{ item, version }`. */
export const pickupResolver = (action = 'pickup'): ActionResolver => ({
  action,
  kind: 'exclusive',
  resources: (intent) => {
    const item = singleItem(intent)
    return item === undefined ? [] : [itemResource(item)]
  },
  validate: ({ world, intent }) => {
    const item = singleItem(intent)
    return item === undefined ? refuse('invalid-intent', 'payload.item must name an item') : checkFree(world, item)
  },
  apply: ({ world, intent }) => {
    const item = singleItem(intent) as string
    world.moveItem(item, { type: 'player', id: intent.player }, { type: 'none' })
    return { item, version: world.itemVersion(item) }
  },
  versionOf: ({ world, intent }) => {
    const item = singleItem(intent)
    return item === undefined ? undefined : world.itemVersion(item)
  },
  currentState: ({ world, intent }) => itemState(world, singleItem(intent) ?? ''),
})

const checkFree = (world: WorldDoc, item: string): Validation => {
  const found = world.getItem(item)
  if (found === undefined) return refuse('invalid-intent', `item ${item} does not exist`)
  return found.holder.type === 'none' ? accept() : refuse('conflict', `item ${item} is already held`)
}

const checkHeldBy = (world: WorldDoc, item: string, player: string): Validation => {
  const found = world.getItem(item)
  if (found === undefined) return refuse('invalid-intent', `item ${item} does not exist`)
  return found.holder.type === 'player' && found.holder.id === player ? accept() : refuse('not-permitted', `player ${player} does not hold item ${item}`)
}

/** Dropping an item back to the ground; exclusive because it races with trades of the same item. */
export const dropResolver = (action = 'drop'): ActionResolver => ({
  action,
  kind: 'exclusive',
  resources: (intent) => {
    const item = singleItem(intent)
    return item === undefined ? [] : [itemResource(item)]
  },
  validate: ({ world, intent }) => {
    const item = singleItem(intent)
    return item === undefined ? refuse('invalid-intent', 'payload.item must name an item') : checkHeldBy(world, item, intent.player)
  },
  apply: ({ world, intent }) => {
    const item = singleItem(intent) as string
    world.moveItem(item, { type: 'none' }, { type: 'player', id: intent.player })
    return { item, version: world.itemVersion(item) }
  },
  versionOf: ({ world, intent }) => {
    const item = singleItem(intent)
    return item === undefined ? undefined : world.itemVersion(item)
  },
  currentState: ({ world, intent }) => itemState(world, singleItem(intent) ?? ''),
})

/** A trade's terms read from an intent: the acting player gives `give` to `partner` and takes `take` from them. */
export interface TradeTerms {
  readonly player: string
  readonly partner: string
  readonly give: readonly string[]
  readonly take: readonly string[]
}

/** Reads `{ partner, give: [...], take: [...] }`; undefined when malformed, self-trading, empty or naming an item twice. */
export const tradeTerms = (intent: Intent): TradeTerms | undefined => {
  const partner = stringField(intent.payload, 'partner')
  const give = stringList(intent.payload, 'give')
  const take = stringList(intent.payload, 'take')
  if (partner === undefined || give === undefined || take === undefined || partner === intent.player) return undefined
  const all = [...give, ...take]
  if (all.length === 0 || new Set(all).size !== all.length) return undefined
  return { player: intent.player, partner, give, take }
}

/** Who must hold an item before a trade and who holds it after. */
const sidesOf = (terms: TradeTerms, item: string): { from: string; to: string } =>
  terms.give.includes(item) ? { from: terms.player, to: terms.partner } : { from: terms.partner, to: terms.player }

const checkPart = ({ world, intent }: ActionContext, items: readonly string[]): Validation => {
  const terms = tradeTerms(intent)
  if (terms === undefined) return refuse('invalid-intent', 'a trade needs a partner other than the player and distinct item ids in give and take')
  for (const item of items) {
    const verdict = checkHeldBy(world, item, sidesOf(terms, item).from)
    if (!verdict.ok) return refuse('conflict', verdict.message)
  }
  return accept()
}

/**
 * An atomic swap: the player's `give` items go to the partner and the partner's `take` items to the
 * player, all or nothing. (Both players' consent is the game's to check before the intent is sent.)
 * When the items have different owner peers, settlement runs a two-phase commit over `prepare` and
 * `commitPart`, so no item is duplicated or lost even across peers.
 */
export const tradeResolver = (action = 'trade'): ActionResolver => ({
  action,
  kind: 'exclusive',
  resources: (intent) => {
    const terms = tradeTerms(intent)
    return terms === undefined ? [] : [...terms.give, ...terms.take].map(itemResource)
  },
  validate: (context) => {
    const terms = tradeTerms(context.intent)
    return terms === undefined ? checkPart(context, []) : checkPart(context, [...terms.give, ...terms.take])
  },
  apply: (context) => {
    const terms = tradeTerms(context.intent) as TradeTerms
    for (const item of [...terms.give, ...terms.take]) moveForTrade(context.world, terms, item)
    return true
  },
  prepare: (context, resource) => checkPart(context, [itemOfResource(resource)]),
  commitPart: ({ world, intent }, resource) => moveForTrade(world, tradeTerms(intent) as TradeTerms, itemOfResource(resource)),
  currentState: ({ world, intent }) => {
    const terms = tradeTerms(intent)
    return terms === undefined ? null : [...terms.give, ...terms.take].map((item) => itemState(world, item))
  },
})

const moveForTrade = (world: WorldDoc, terms: TradeTerms, item: string): void => {
  const { from, to } = sidesOf(terms, item)
  // The compare-and-set makes a bug loud instead of silently handing over an item someone else holds.
  world.moveItem(item, { type: 'player', id: to }, { type: 'player', id: from })
}
