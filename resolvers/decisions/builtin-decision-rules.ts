import { createHash } from 'node:crypto'
import { compareHlc, type HlcTimestamp, type WorldValue } from '../../core/index.js'
import { accept, refuse, type Validation } from '../action-handler.js'
import { isFiniteNumber, payloadField, readPosition } from '../anticheat/payload.js'
import { checkReach } from '../anticheat/reach-validator.js'
import { decisionRule, type DecisionRule } from './decision-rule.js'

// The built-in critical decisions. Each reads only the intent and the pre-state the decider recorded,
// and reuses the anti-cheat validators' pure checks, so a re-validating peer decides exactly alike.

const field = payloadField
const isId = (value: WorldValue | undefined): value is string => typeof value === 'string' && value.length > 0

/** Settings of `killRule`. */
export interface KillRuleOptions {
  /** Attack reach in world units. */
  readonly reach: number
  /** Relative slack on the reach. Default 0. */
  readonly tolerance?: number
  /** Most damage one attack may deal. Default Infinity. */
  readonly maxDamage?: number
}

/**
 * A kill: intent `{ target }`; pre-state `{ attacker: {x, y, z?}, target: { id, x, y, z?, health }, damage }`.
 * The target must be the one named, within reach, alive, and the damage within bounds; the outcome
 * is `{ target, by, health, killed }`.
 */
export const killRule = (options: KillRuleOptions): DecisionRule =>
  decisionRule(
    ({ intent, preState }): Validation => {
      const target = field(preState, 'target')
      const damage = field(preState, 'damage')
      if (!isId(field(intent.payload, 'target')) || field(target, 'id') !== field(intent.payload, 'target')) return refuse('invalid-intent', 'the pre-state is not about the intent target')
      const health = field(target, 'health')
      if (!isFiniteNumber(health) || health <= 0) return refuse('not-permitted', 'the target is not alive')
      if (!isFiniteNumber(damage) || damage < 0 || damage > (options.maxDamage ?? Infinity)) return refuse('cheat-suspected', `damage ${String(damage)} is out of bounds`)
      const from = readPosition(field(preState, 'attacker'))
      const to = readPosition(target)
      if (from === undefined || to === undefined) return refuse('invalid-intent', 'attacker and target need positions')
      return checkReach(from, to, options.reach, options.tolerance)
    },
    ({ intent, preState }) => {
      const target = field(preState, 'target')
      const health = Math.max(0, (field(target, 'health') as number) - (field(preState, 'damage') as number))
      return { target: field(target, 'id') as string, by: intent.player, health, killed: health === 0 }
    },
  )

/** One entry of a drop table: an item kind and its weight. */
export interface DropEntry {
  readonly item: string
  readonly weight: number
}

/** The deterministic roll of a drop in [0, 1): SHA-256 of the source, the seed and the player. */
export const dropRoll = (source: string, seed: number, player: string): number => createHash('sha256').update(`${source}\u0000${seed}\u0000${player}`).digest().readUIntBE(0, 6) / 2 ** 48

/**
 * A rare drop: intent `{ source }`; pre-state `{ source, seed }` (the loot seed the world stored for
 * that source). The drop is the table entry the roll lands on, so a peer that hands out a legendary
 * the roll did not give is caught by any re-validator.
 */
export const rareDropRule = (table: readonly DropEntry[]): DecisionRule => {
  const total = table.reduce((sum, entry) => sum + Math.max(0, entry.weight), 0)
  return decisionRule(
    ({ intent, preState }) => {
      const source = field(preState, 'source')
      if (!isId(source) || source !== field(intent.payload, 'source')) return refuse('invalid-intent', 'the pre-state is not about the intent source')
      const seed = field(preState, 'seed')
      if (!Number.isSafeInteger(seed)) return refuse('invalid-intent', 'the loot seed must be an integer')
      return total > 0 ? accept() : refuse('internal-error', 'the drop table is empty')
    },
    ({ intent, preState }) => {
      const source = field(preState, 'source') as string
      let roll = dropRoll(source, field(preState, 'seed') as number, intent.player) * total
      let item = (table[table.length - 1] as DropEntry).item
      for (const entry of table) {
        roll -= Math.max(0, entry.weight)
        if (roll < 0) {
          item = entry.item
          break
        }
      }
      return { source, player: intent.player, item }
    },
  )
}

const idList = (value: WorldValue | undefined): string[] | undefined => (Array.isArray(value) && value.every(isId) ? [...(value as string[])] : undefined)

/**
 * A trade: intent `{ with, give: [items], take: [items] }`; pre-state `{ holders: { item: player } }`.
 * Every item given must be the trader's, every item taken the partner's, none named twice; the
 * outcome is the list of moves, sorted by item, so nothing is duplicated or lost.
 */
export const tradeRule = (): DecisionRule =>
  decisionRule(
    ({ intent, preState }) => {
      const partner = field(intent.payload, 'with')
      const give = idList(field(intent.payload, 'give'))
      const take = idList(field(intent.payload, 'take'))
      if (!isId(partner) || partner === intent.player) return refuse('invalid-intent', 'a trade needs another player')
      if (give === undefined || take === undefined || give.length + take.length === 0) return refuse('invalid-intent', 'give and take must be lists of item ids')
      if (new Set([...give, ...take]).size !== give.length + take.length) return refuse('invalid-intent', 'an item is named twice')
      const holders = field(preState, 'holders')
      for (const item of give) if (field(holders, item) !== intent.player) return refuse('not-permitted', `player ${intent.player} does not hold item ${item}`)
      for (const item of take) if (field(holders, item) !== partner) return refuse('not-permitted', `player ${partner} does not hold item ${item}`)
      return accept()
    },
    ({ intent }) => {
      const partner = field(intent.payload, 'with') as string
      const moves = [
        ...(idList(field(intent.payload, 'give')) ?? []).map((item) => ({ item, from: intent.player, to: partner })),
        ...(idList(field(intent.payload, 'take')) ?? []).map((item) => ({ item, from: partner, to: intent.player })),
      ]
      return moves.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0))
    },
  )

const readStamp = (value: WorldValue | undefined): HlcTimestamp | undefined => {
  const wallMs = field(value, 'wallMs')
  const counter = field(value, 'counter')
  const peer = field(value, 'peer')
  return Number.isSafeInteger(wallMs) && Number.isSafeInteger(counter) && typeof peer === 'string' ? { wallMs: wallMs as number, counter: counter as number, peer } : undefined
}

/**
 * An exclusive resolution: intent `{ item }`; pre-state `{ item, holder: player | null, claims: [{ player, stamp }] }`.
 * An unheld item goes to the claim with the earliest HLC stamp (ties by peer id, then player), so
 * every peer that re-runs it names the same single winner.
 */
export const pickupResolutionRule = (): DecisionRule =>
  decisionRule(
    ({ intent, preState }) => {
      const item = field(preState, 'item')
      if (!isId(item) || item !== field(intent.payload, 'item')) return refuse('invalid-intent', 'the pre-state is not about the intent item')
      if (field(preState, 'holder') !== null) return refuse('conflict', `item ${item} is already held`)
      const claims = field(preState, 'claims')
      if (!Array.isArray(claims) || claims.length === 0) return refuse('invalid-intent', 'a resolution needs claims')
      for (const claim of claims as readonly WorldValue[]) if (!isId(field(claim, 'player')) || readStamp(field(claim, 'stamp')) === undefined) return refuse('invalid-intent', 'every claim needs a player and a stamp')
      return accept()
    },
    ({ preState }) => {
      const claims = (field(preState, 'claims') as readonly WorldValue[]).map((claim) => ({ player: field(claim, 'player') as string, stamp: readStamp(field(claim, 'stamp')) as HlcTimestamp }))
      claims.sort((a, b) => compareHlc(a.stamp, b.stamp) || (a.player < b.player ? -1 : a.player > b.player ? 1 : 0))
      return { item: field(preState, 'item') as string, winner: (claims[0] as { player: string }).player }
    },
  )
