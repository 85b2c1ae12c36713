import { compareHlc, type HlcTimestamp, type IntentResult, type WorldDoc, type WorldValue } from '../../core/index.js'
import { accept, refuse, type Validation } from '../action-handler.js'
import { payloadField } from '../anticheat/index.js'
import { decisionRule, type DecisionRule } from '../decisions/index.js'
import { tradeTerms } from './item-resolvers.js'
import type { Claim } from './resolver.js'

/** The decision kind an owner's settlement of a window of item claims is signed and re-validated as. */
export const SETTLEMENT_DECISION_KIND = 'exclusive-settlement'

/** What an action does to items, as the settlement rule replays it: the built-in pickup, drop and trade. */
export type ItemSettlementSemantics = 'pickup' | 'drop' | 'trade'

/** Which actions a gate settles as signed decisions, and what each does to items. */
export type SettledActions = Readonly<Record<string, ItemSettlementSemantics>>

/** The built-in item resolvers under their default action names. */
export const BUILTIN_SETTLED_ACTIONS: SettledActions = { pickup: 'pickup', drop: 'drop', trade: 'trade' }

/**
 * Refusal reasons the rule can reproduce from the pre-state. The engine may refuse a claim for
 * another reason (a rate limit, a failing handler): the owner reports it as `excused`, the rule
 * skips that claim, and the excuse stays in the signed evidence.
 */
const RULE_REASONS = new Set(['conflict', 'not-permitted', 'invalid-intent', 'stale-version'])

/** An item holder as the settlement rule reads it. */
export type SettlementHolder = { readonly type: string; readonly id?: string }
interface ItemState {
  holder: SettlementHolder
  version: number
}
interface ClaimEntry {
  readonly id: string
  readonly action: string
  readonly player: string
  readonly seq: number
  readonly payload: WorldValue
  readonly stamp: HlcTimestamp
  readonly predictedVersion?: number
  readonly excused?: string
}

const holderOf = (world: WorldDoc, item: string): WorldValue => {
  const found = world.getItem(item)
  if (found === undefined) return null
  const { holder } = found
  return holder.type === 'none' ? { type: 'none', version: world.itemVersion(item) } : { type: holder.type, id: holder.id, version: world.itemVersion(item) }
}

/** The items a claim of a settled action touches (empty when its payload names none). */
export const settledItems = (claim: Claim, actions: SettledActions): string[] => {
  const semantics = Object.hasOwn(actions, claim.intent.action) ? actions[claim.intent.action] : undefined
  if (semantics === 'trade') {
    const terms = tradeTerms(claim.intent)
    return terms === undefined ? [] : [...terms.give, ...terms.take]
  }
  const item = payloadField(claim.intent.payload, 'item')
  return typeof item === 'string' && item.length > 0 ? [item] : []
}

/** The pre-state of the items some claims touch, read from the world before the owner applies them: `{ item: { type, id?, version } | null }`. */
export const itemsPreState = (world: WorldDoc, items: Iterable<string>): Record<string, WorldValue> => {
  const out: Record<string, WorldValue> = {}
  for (const item of [...new Set(items)].sort()) out[item] = holderOf(world, item)
  return out
}

/** One claim as the settlement decision records it: what the rule needs to replay the owner's choice, with the stamp the owner ordered it by. */
export const claimEntry = (claim: Claim, result: IntentResult): WorldValue => {
  const { intent } = claim
  const excused = result.type === 'reject' && !RULE_REASONS.has(result.reason) ? result.reason : undefined
  return {
    id: claim.id,
    action: intent.action,
    player: intent.player,
    seq: intent.seq,
    payload: intent.payload,
    stamp: { wallMs: intent.stamp.wallMs, counter: intent.stamp.counter, peer: intent.stamp.peer },
    ...(intent.predictedVersion !== undefined ? { predictedVersion: intent.predictedVersion } : {}),
    ...(excused !== undefined ? { excused } : {}),
  }
}

const readEntry = (value: WorldValue): ClaimEntry | undefined => {
  const field = (key: string): WorldValue | undefined => payloadField(value, key)
  const stamp = field('stamp')
  const wallMs = payloadField(stamp, 'wallMs')
  const counter = payloadField(stamp, 'counter')
  const peer = payloadField(stamp, 'peer')
  const [id, action, player, seq, predicted, excused] = [field('id'), field('action'), field('player'), field('seq'), field('predictedVersion'), field('excused')]
  if (typeof id !== 'string' || typeof action !== 'string' || typeof player !== 'string' || typeof seq !== 'number' || typeof peer !== 'string') return undefined
  if (!Number.isSafeInteger(wallMs) || !Number.isSafeInteger(counter)) return undefined
  if (predicted !== undefined && typeof predicted !== 'number') return undefined
  if (excused !== undefined && typeof excused !== 'string') return undefined
  return {
    id,
    action,
    player,
    seq,
    payload: field('payload') ?? null,
    stamp: { wallMs: wallMs as number, counter: counter as number, peer },
    ...(predicted !== undefined ? { predictedVersion: predicted } : {}),
    ...(excused !== undefined ? { excused } : {}),
  }
}

const readItems = (value: WorldValue | undefined): Map<string, ItemState> | undefined => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const items = new Map<string, ItemState>()
  for (const [item, state] of Object.entries(value)) {
    if (state === null) continue
    const type = payloadField(state, 'type')
    const id = payloadField(state, 'id')
    const version = payloadField(state, 'version')
    if (typeof type !== 'string' || (id !== undefined && typeof id !== 'string') || !Number.isSafeInteger(version)) return undefined
    items.set(item, { holder: id === undefined ? { type } : { type, id }, version: version as number })
  }
  return items
}

const heldBy = (state: ItemState | undefined, player: string): boolean => state !== undefined && state.holder.type === 'player' && state.holder.id === player

/** Whether one claim would be granted on the items as the earlier grants left them; the engine's own checks, replayed. */
const grantable = (entry: ClaimEntry, semantics: ItemSettlementSemantics, items: ReadonlyMap<string, ItemState>): boolean => {
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 0) return false
  if (semantics === 'trade') {
    const terms = tradeTerms({ action: entry.action, seq: entry.seq, player: entry.player, payload: entry.payload })
    if (terms === undefined) return false
    return terms.give.every((item) => heldBy(items.get(item), terms.player)) && terms.take.every((item) => heldBy(items.get(item), terms.partner))
  }
  const item = payloadField(entry.payload, 'item')
  const state = typeof item === 'string' ? items.get(item) : undefined
  if (state === undefined) return false
  if (entry.predictedVersion !== undefined && entry.predictedVersion !== state.version) return false
  return semantics === 'pickup' ? state.holder.type === 'none' : heldBy(state, entry.player)
}

const grant = (entry: ClaimEntry, semantics: ItemSettlementSemantics, items: Map<string, ItemState>): void => {
  const move = (item: string, holder: SettlementHolder): void => {
    const state = items.get(item) as ItemState
    items.set(item, { holder, version: state.version + 1 })
  }
  if (semantics === 'trade') {
    const terms = tradeTerms({ action: entry.action, seq: entry.seq, player: entry.player, payload: entry.payload })
    if (terms === undefined) return
    for (const item of terms.give) move(item, { type: 'player', id: terms.partner })
    for (const item of terms.take) move(item, { type: 'player', id: terms.player })
    return
  }
  move(payloadField(entry.payload, 'item') as string, semantics === 'pickup' ? { type: 'player', id: entry.player } : { type: 'none' })
}

/** Replays a settlement on its pre-state: the claim entries in HLC order, and what each grant did to the items. */
const replay = (preState: WorldValue, actions: SettledActions, onGrant: (entry: ClaimEntry, items: ReadonlyMap<string, ItemState>) => void, into?: Map<string, ItemState>): void => {
  const items = into ?? (readItems(payloadField(preState, 'items')) as Map<string, ItemState>)
  const entries = (payloadField(preState, 'claims') as readonly WorldValue[]).map((claim) => readEntry(claim) as ClaimEntry).sort(compareEntries)
  for (const entry of entries) {
    const semantics = actions[entry.action] as ItemSettlementSemantics
    if (entry.excused !== undefined || !grantable(entry, semantics, items)) continue
    grant(entry, semantics, items)
    onGrant(entry, items)
  }
}

const compareEntries = (a: ClaimEntry, b: ClaimEntry): number => compareHlc(a.stamp, b.stamp) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * The rule an owner's settlement is re-validated by: pre-state `{ items, claims }` (the contested
 * items as the owner read them before the window, and every claim of the window with the stamp it
 * was ordered by). It replays the gate: claims in HLC order (ties by claim id), each granted when it
 * still holds on the items as earlier grants left them; the outcome is `{ granted: [claim ids] }`.
 * An owner that grants a later claim, or grants none when one holds, reports another outcome.
 */
export const settlementRule = (actions: SettledActions = BUILTIN_SETTLED_ACTIONS): DecisionRule =>
  decisionRule(
    ({ preState }): Validation => {
      const items = readItems(payloadField(preState, 'items'))
      const claims = payloadField(preState, 'claims')
      if (items === undefined) return refuse('invalid-intent', 'the pre-state needs items as { item: { type, id?, version } | null }')
      if (!Array.isArray(claims) || claims.length === 0) return refuse('invalid-intent', 'a settlement needs claims')
      const ids = new Set<string>()
      for (const claim of claims as readonly WorldValue[]) {
        const entry = readEntry(claim)
        if (entry === undefined) return refuse('invalid-intent', 'every claim needs an id, action, player, seq and stamp')
        if (!Object.hasOwn(actions, entry.action)) return refuse('invalid-intent', `action ${entry.action} is not settled by this rule`)
        if (ids.has(entry.id)) return refuse('invalid-intent', `claim ${entry.id} appears twice`)
        ids.add(entry.id)
      }
      return accept()
    },
    ({ preState }) => {
      const granted: string[] = []
      replay(preState, actions, (entry) => granted.push(entry.id))
      return { granted }
    },
  )

const sameHolder = (a: SettlementHolder, b: { readonly type: string; readonly id?: string }): boolean => a.type === b.type && (a.type === 'none' || a.id === b.id)

/**
 * A `checkPreState` for `DecisionCore` on re-validating peers: an `exclusive-settlement` decision's
 * pre-state must agree with this peer's replica wherever the replica holds a state the settlement
 * went through. Each versioned move bumps an item's version, so a replica item at the pre-state's
 * version, or at the version one of the replayed grants produced, must have that state's holder; a
 * replica behind or past the settlement proves nothing and is not compared (lagging replicas never
 * convict). It catches an owner that invents a pre-state, say an item held, to refuse every claim.
 */
export const settlementPreStateCheck =
  (world: WorldDoc, actions: SettledActions = BUILTIN_SETTLED_ACTIONS) =>
  (decision: { readonly kind: string; readonly inputs: { readonly preState: WorldValue } }): Validation => {
    if (decision.kind !== SETTLEMENT_DECISION_KIND && decision.kind !== CROSS_OWNER_KIND) return accept()
    const { preState } = decision.inputs
    const items = readItems(payloadField(preState, 'items'))
    if (items === undefined) return accept()
    // A cross-owner commit names the coordinator's reserved items as they were before its part was written.
    if (decision.kind === CROSS_OWNER_KIND) return itemsAgree(world, new Map([...items].map(([item, state]) => [item, new Map([[state.version, state.holder]])])))
    // Every state each item was in during the settlement, by version.
    const states = new Map<string, Map<number, SettlementHolder>>()
    const record = (item: string, state: ItemState): void => {
      const byVersion = states.get(item) ?? new Map<number, SettlementHolder>()
      byVersion.set(state.version, state.holder)
      states.set(item, byVersion)
    }
    for (const [item, state] of items) record(item, state)
    replay(preState, actions, (entry, after) => {
      for (const item of settledItemsOf(entry, actions[entry.action] as ItemSettlementSemantics)) {
        const state = after.get(item)
        if (state !== undefined) record(item, state)
      }
    })
    return itemsAgree(world, states)
  }

/** The name `CROSS_OWNER_DECISION_KIND` has in cross-owner-decision.ts (which imports this file). */
const CROSS_OWNER_KIND = 'cross-owner-commit'

/** Whether the replica agrees with every (item, version) -> holder it is at. */
const itemsAgree = (world: WorldDoc, states: ReadonlyMap<string, ReadonlyMap<number, SettlementHolder>>): Validation => {
  for (const [item, byVersion] of states) {
    const found = world.getItem(item)
    if (found === undefined) continue
    const holder = byVersion.get(world.itemVersion(item))
    if (holder !== undefined && !sameHolder(holder, found.holder)) {
      return refuse('conflict', `item ${item} at version ${world.itemVersion(item)} is held by ${JSON.stringify(found.holder)} here, the settlement says ${JSON.stringify(holder)}`)
    }
  }
  return accept()
}

const settledItemsOf = (entry: ClaimEntry, semantics: ItemSettlementSemantics): string[] => {
  if (semantics === 'trade') {
    const terms = tradeTerms({ action: entry.action, seq: entry.seq, player: entry.player, payload: entry.payload })
    return terms === undefined ? [] : [...terms.give, ...terms.take]
  }
  const item = payloadField(entry.payload, 'item')
  return typeof item === 'string' ? [item] : []
}

/** One item a rejected settlement left with the wrong holder: where it stands after the settlement as applied, and where the rule puts it. */
export interface SettlementRepair {
  readonly item: string
  /** The holder and version the owner's applied grants produced. */
  readonly applied: { readonly holder: SettlementHolder; readonly version: number }
  /** The holder the rule's replay of the same claims gives. */
  readonly rightful: SettlementHolder
}

/**
 * What undoing a settlement means: replays the grants the owner reported, in the order it applied
 * them, and the rule's own grants, both from the signed pre-state, and returns every item whose
 * holder differs. Deterministic over the signed decision, so every peer computes the same repairs.
 */
export const settlementRepairs = (preState: WorldValue, granted: readonly string[], actions: SettledActions = BUILTIN_SETTLED_ACTIONS): SettlementRepair[] => {
  const rightful = readItems(payloadField(preState, 'items'))
  const applied = readItems(payloadField(preState, 'items'))
  const claims = payloadField(preState, 'claims')
  if (rightful === undefined || applied === undefined || !Array.isArray(claims)) return []
  const entries = new Map<string, ClaimEntry>()
  for (const claim of claims as readonly WorldValue[]) {
    const entry = readEntry(claim)
    if (entry === undefined || !Object.hasOwn(actions, entry.action)) return []
    entries.set(entry.id, entry)
  }
  replay(preState, actions, () => undefined, rightful)
  for (const id of granted) {
    const entry = entries.get(id)
    if (entry === undefined) continue
    const semantics = actions[entry.action] as ItemSettlementSemantics
    // What the owner wrote, whether or not it should have: each of its moves exists only if the item does.
    if (settledItemsOf(entry, semantics).every((item) => applied.has(item))) grant(entry, semantics, applied)
  }
  const repairs: SettlementRepair[] = []
  for (const [item, state] of [...applied].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const right = rightful.get(item) as ItemState
    if (!sameHolder(state.holder, right.holder)) repairs.push({ item, applied: { holder: state.holder, version: state.version }, rightful: right.holder })
  }
  return repairs
}
