import type { WorldValue } from '../core/index.js'
import { withGuards, type ActionContext, type ActionHandler, type Guard, type TimedPosition, type Validator } from '../resolvers/index.js'

/**
 * The validation hook: checks bolted onto a whole table of action handlers without editing them.
 * The checks themselves are the resolvers' anti-cheat validators and guards (`speedGuard`,
 * `reachGuard`, cooldowns, ...); this only spreads them over a handler table. They run inside the
 * engine, so a rejection is remembered with the intent's sequence number and a resent intent gets
 * the same answer, and they must be pure over world state and their own memory (no chance, no wall
 * clock): every peer re-running them decides alike.
 */

/** One extra check of an intent: a stateless validator or a guard that learns from accepted intents. */
export type IntentValidator = Validator | Guard

/**
 * `handlers` with `validators[action]` run before each handler's own `validate` (the resolvers'
 * `withGuards` order: anti-cheat first, game rules second); the first refusal wins, and guards hear
 * of every intent the handler applied.
 */
export const withValidators = (
  handlers: Readonly<Record<string, ActionHandler>>,
  validators: Readonly<Record<string, readonly IntentValidator[]>>,
): Record<string, ActionHandler> => {
  const out: Record<string, ActionHandler> = {}
  for (const [action, handler] of Object.entries(handlers)) {
    const extra = Object.hasOwn(validators, action) ? (validators[action] ?? []) : []
    out[action] = extra.length === 0 ? handler : withGuards(handler, extra)
  }
  return out
}

const numberOf = (fields: Readonly<Record<string, WorldValue>>, key: string): number | undefined => {
  const value = fields[key]
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/**
 * For `speedGuard`'s `lastPosition`: the player's last accepted position as the world holds it, in
 * a component `{ x, y?, at }` (`at` in engine ms) that the game's move handler writes. Reading it
 * from the world rather than the guard's memory keeps the check right across peers and handoffs,
 * where the guard on the new home never saw the earlier moves.
 */
export const worldPosition =
  (component = 'position') =>
  ({ world, intent, nowMs }: ActionContext): TimedPosition | undefined => {
    const fields = world.hasEntity(intent.player) ? world.getComponent(intent.player, component) : undefined
    if (fields === undefined) return undefined
    const x = numberOf(fields, 'x')
    if (x === undefined) return undefined
    return { position: { x, y: numberOf(fields, 'y') ?? 0 }, atMs: numberOf(fields, 'at') ?? nowMs }
  }
