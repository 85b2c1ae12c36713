import type { WorldDoc, WorldValue } from '../../core/index.js'
import { accept, refuse } from '../action-handler.js'
import { payloadField } from '../anticheat/index.js'
import type { ActionResolver } from './resolver.js'

// A PN-counter on top of Yjs maps: each peer writes only its own field (its running total of
// changes), so concurrent writers never touch the same key and the value (base plus every peer's
// total) merges to the same number on every replica, partition or not.

const BASE_FIELD = 'base'
const peerField = (peer: string): string => `by:${peer}`

/** Sets a counter's base value (a spawn's full health); peers' changes add to it. */
export const setCounterBase = (world: WorldDoc, entity: string, counter: string, base: number): void => {
  world.setComponent(entity, counter, { [BASE_FIELD]: base })
}

/** A counter's value: its base plus every peer's total of changes (0 when absent). */
export const counterValue = (world: WorldDoc, entity: string, counter: string): number => {
  const fields = world.getComponent(entity, counter) ?? {}
  let value = 0
  for (const [field, amount] of Object.entries(fields)) {
    if ((field === BASE_FIELD || field.startsWith('by:')) && typeof amount === 'number') value += amount
  }
  return value
}

/** Adds `delta` to a counter as this peer's change: merges with other peers' concurrent changes without loss. */
export const addToCounter = (world: WorldDoc, entity: string, counter: string, peer: string, delta: number): number => {
  const field = peerField(peer)
  const mine = world.getComponent(entity, counter)?.[field]
  world.setComponent(entity, counter, { [field]: (typeof mine === 'number' ? mine : 0) + delta })
  return counterValue(world, entity, counter)
}

/** Settings of a damage or heal resolver. */
export interface CounterResolverOptions {
  /** The peer applying the changes (its field in the counter). */
  readonly peer: string
  /** The action name. Default `damage` / `heal`. */
  readonly action?: string
  /** The counter component. Default `hp`. */
  readonly counter?: string
  /** Largest amount one intent may carry. Default 1000. */
  readonly maxAmount?: number
}

const counterResolver = (sign: 1 | -1, fallbackAction: string, options: CounterResolverOptions): ActionResolver => {
  const counter = options.counter ?? 'hp'
  const maxAmount = options.maxAmount ?? 1000
  const target = (payload: WorldValue): string | undefined => {
    const value = payloadField(payload, 'target')
    return typeof value === 'string' && value.length > 0 ? value : undefined
  }
  return {
    action: options.action ?? fallbackAction,
    kind: 'commutative',
    validate: ({ world, intent }) => {
      const entity = target(intent.payload)
      const amount = payloadField(intent.payload, 'amount')
      if (entity === undefined || !world.hasEntity(entity)) return refuse('invalid-intent', 'payload.target must name an existing entity')
      if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0 || amount > maxAmount) return refuse('invalid-intent', `payload.amount must be in (0, ${maxAmount}]`)
      return accept()
    },
    apply: ({ world, intent }) => addToCounter(world, target(intent.payload) as string, counter, options.peer, sign * (payloadField(intent.payload, 'amount') as number)),
  }
}

/** Damage as a commutative counter decrement: applied at once on any peer, merged without coordination. */
export const damageResolver = (options: CounterResolverOptions): ActionResolver => counterResolver(-1, 'damage', options)

/** Healing as a commutative counter increment. */
export const healResolver = (options: CounterResolverOptions): ActionResolver => counterResolver(1, 'heal', options)
