import type { WorldDoc, WorldValue } from '../../core/index.js'
import { accept, refuse, type ActionContext } from '../action-handler.js'
import { isFiniteNumber, payloadField, readPosition } from '../anticheat/payload.js'
import type { Decision } from './decision.js'
import type { RepairAttempt } from './deferred-repairs.js'
import type { CriticalAction } from './signed-actions.js'

// Built-in critical actions over the world document, for the built-in kill and rare-drop rules.
// Conventions: an entity's `position` component is `{ x, y, z? }`, its `health` component `{ value }`,
// a loot source's `loot` component `{ seed, claimedBy? }`.

/** The health component and its field. */
export const HEALTH_COMPONENT = 'health'
/** The loot component of a drop source. */
export const LOOT_COMPONENT = 'loot'

const healthOf = (world: WorldDoc, entity: string): number | undefined => {
  const value = world.getComponent(entity, HEALTH_COMPONENT)?.['value']
  return isFiniteNumber(value) ? value : undefined
}

const targetOf = (payload: WorldValue): string | undefined => {
  const target = payloadField(payload, 'target')
  return typeof target === 'string' && target.length > 0 ? target : undefined
}

/** Settings of `killAction`. */
export interface KillActionOptions {
  /** The decision kind its rule is registered under (`killRule`). Default `kill`. */
  readonly kind?: string
  /** Damage the attack deals, decided by the server (the weapon, the buffs). Default `payload.damage`. */
  readonly damageOf?: (context: ActionContext) => number
}

/**
 * An attack decided by `killRule`: intent `{ target, damage? }`. The pre-state is the attacker's and
 * target's positions, the target's health and the damage; the outcome's health is written to the
 * target's `health` component. Revert writes the pre-state health back (marked `revertOf: <decision
 * id>`) while the target still shows the outcome's.
 */
export const killAction = (options: KillActionOptions = {}): CriticalAction => ({
  kind: options.kind ?? 'kill',
  validate: ({ world, intent }) => {
    const target = targetOf(intent.payload)
    if (target === undefined) return refuse('invalid-intent', 'payload.target must name an entity')
    return world.hasEntity(target) && world.hasEntity(intent.player) ? accept() : refuse('invalid-intent', 'attacker and target must exist')
  },
  preState: (context) => {
    const { world, intent } = context
    const target = targetOf(intent.payload) as string
    const position = (entity: string): Record<string, number> | null => {
      const at = readPosition(world.getComponent(entity, 'position'))
      return at === undefined ? null : { ...at }
    }
    const damage = options.damageOf?.(context) ?? payloadField(intent.payload, 'damage') ?? 0
    return { attacker: position(intent.player), target: { id: target, ...(position(target) ?? {}), health: healthOf(world, target) ?? null }, damage }
  },
  apply: ({ world }, outcome) => {
    world.setComponent(payloadField(outcome, 'target') as string, HEALTH_COMPONENT, { value: payloadField(outcome, 'health') as number })
    return outcome
  },
  revert: (world, decision) => {
    const target = payloadField(decision.outcome, 'target')
    const after = payloadField(decision.outcome, 'health')
    const before = payloadField(payloadField(decision.inputs.preState, 'target'), 'health')
    if (typeof target !== 'string' || !isFiniteNumber(after) || !isFiniteNumber(before)) return 'moved-on'
    // The revert marks what it undid, so a peer whose replica already shows another peer's revert stops waiting.
    if (after === before || world.getComponent(target, HEALTH_COMPONENT)?.['revertOf'] === decision.id) return 'repaired'
    const now = healthOf(world, target)
    if (now === before) return 'pending'
    if (now !== after) return 'moved-on'
    world.setComponent(target, HEALTH_COMPONENT, { value: before, revertOf: decision.id })
    return 'repaired'
  },
})

/** The item id a drop from `source` creates. */
export const dropItemId = (source: string): string => `drop:${source}`

/** The resource whose owner decides drops from `source`. */
export const dropSourceResource = (source: string): string => `entity:${source}`

/** Settings of `rareDropAction`. */
export interface RareDropActionOptions {
  /** The decision kind its rule is registered under (`rareDropRule`). Default `rare-drop`. */
  readonly kind?: string
}

const sourceOf = (payload: WorldValue): string | undefined => {
  const source = payloadField(payload, 'source')
  return typeof source === 'string' && source.length > 0 ? source : undefined
}

/**
 * Looting a source decided by `rareDropRule`: intent `{ source }`. The source's `loot` component
 * holds the seed; the drop becomes item `drop:<source>` held by the player and the source records
 * `claimedBy`, so it drops once. Revert removes the item while the player still holds it unmoved.
 * Its resource is `entity:<source>`: only the source's owner peer decides its drops, one at a time.
 */
export const rareDropAction = (options: RareDropActionOptions = {}): CriticalAction => ({
  kind: options.kind ?? 'rare-drop',
  resources: (intent) => {
    const source = sourceOf(intent.payload)
    return source === undefined ? [] : [dropSourceResource(source)]
  },
  validate: ({ world, intent }) => {
    const source = sourceOf(intent.payload)
    if (source === undefined) return refuse('invalid-intent', 'payload.source must name a loot source')
    const loot = world.getComponent(source, LOOT_COMPONENT)
    if (loot === undefined || !Number.isSafeInteger(loot['seed'])) return refuse('invalid-intent', `${source} has no loot seed`)
    if (typeof loot['claimedBy'] === 'string' || world.hasItem(dropItemId(source))) return refuse('conflict', `${source} was looted already`)
    return accept()
  },
  preState: ({ world, intent }) => {
    const source = sourceOf(intent.payload) as string
    return { source, seed: world.getComponent(source, LOOT_COMPONENT)?.['seed'] ?? null }
  },
  apply: ({ world }, outcome) => {
    const source = payloadField(outcome, 'source') as string
    const player = payloadField(outcome, 'player') as string
    world.createItem(dropItemId(source), payloadField(outcome, 'item') as string, { type: 'player', id: player })
    world.setComponent(source, LOOT_COMPONENT, { claimedBy: player })
    return outcome
  },
  revert: (world: WorldDoc, decision: Decision): RepairAttempt => {
    const source = payloadField(decision.outcome, 'source')
    const player = payloadField(decision.outcome, 'player')
    if (typeof source !== 'string' || typeof player !== 'string') return 'moved-on'
    const loot = world.getComponent(source, LOOT_COMPONENT)
    if (loot?.['revertOf'] === decision.id) return 'repaired'
    const item = world.getItem(dropItemId(source))
    if (item === undefined) return loot?.['claimedBy'] === player ? 'moved-on' : 'pending'
    if (item.holder.type !== 'player' || item.holder.id !== player || item.kind !== payloadField(decision.outcome, 'item') || world.itemVersion(item.id) !== 0) return 'moved-on'
    world.removeItem(item.id)
    world.setComponent(source, LOOT_COMPONENT, { claimedBy: null, revertOf: decision.id })
    return 'repaired'
  },
})
