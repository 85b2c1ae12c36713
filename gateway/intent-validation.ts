import type { WorldValue } from '../core/index.js'
import { accept, refuse, type ActionContext, type ActionHandler, type Validation } from '../resolvers/index.js'

/**
 * The validation hook: extra checks bolted onto action handlers without editing them. Validators
 * run inside the engine, after the handler's own `validate`, so a rejection is remembered with the
 * intent's sequence number and a resent intent gets the same answer. Like `validate`, a validator
 * must be pure over world state (no chance, no wall clock): every peer re-running it decides alike.
 */

/** One extra check of an intent; return `refuse(...)` to reject it. */
export type IntentValidator = (context: ActionContext) => Validation

/** `handlers` with `validators[action]` run after each handler's own `validate`; the first refusal wins. */
export const withValidators = (
  handlers: Readonly<Record<string, ActionHandler>>,
  validators: Readonly<Record<string, readonly IntentValidator[]>>,
): Record<string, ActionHandler> => {
  const out: Record<string, ActionHandler> = {}
  for (const [action, handler] of Object.entries(handlers)) {
    const extra = Object.hasOwn(validators, action) ? (validators[action] ?? []) : []
    if (extra.length === 0) {
      out[action] = handler
      continue
    }
    out[action] = {
      validate: (context) => {
        const own = handler.validate?.(context) ?? accept()
        if (!own.ok) return own
        for (const validator of extra) {
          const verdict = validator(context)
          if (!verdict.ok) return verdict
        }
        return own
      },
      apply: (context) => handler.apply(context),
    }
  }
  return out
}

/** Settings of `maxSpeedValidator`. */
export interface MaxSpeedOptions {
  /** Fastest allowed movement, in world units per second. */
  readonly unitsPerSecond: number
  /** Component holding the player's last accepted position `{ x, y?, at }` (`at` in engine ms). Default `position`. */
  readonly component?: string
  /** Distance allowed on top of speed × time, for rounding. Default 0. */
  readonly toleranceUnits?: number
}

/** A field of an object payload: `undefined` when absent, `null` when present but not a finite number. */
const numberField = (payload: WorldValue, key: string): number | null | undefined => {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return null
  const record = payload as Readonly<Record<string, WorldValue>>
  if (!Object.hasOwn(record, key)) return undefined
  const field = record[key]
  return typeof field === 'number' && Number.isFinite(field) ? field : null
}

/**
 * A basic movement check: the target `{ x, y? }` in the payload must be finite numbers and no
 * farther from the player's last accepted position than `unitsPerSecond` allows for the time since
 * it was set. A player with no position yet may move anywhere (the spawn point is the game's rule).
 * Too fast is `cheat-suspected`; a malformed target is `invalid-intent`.
 */
export const maxSpeedValidator = (options: MaxSpeedOptions): IntentValidator => {
  const component = options.component ?? 'position'
  const tolerance = options.toleranceUnits ?? 0
  return ({ world, intent, nowMs }) => {
    const x = numberField(intent.payload, 'x')
    const y = numberField(intent.payload, 'y') ?? 0
    if (x === undefined || x === null || y === null) return refuse('invalid-intent', 'a move needs finite numbers x (and optionally y)')
    const last = world.hasEntity(intent.player) ? world.getComponent(intent.player, component) : undefined
    if (last === undefined) return accept()
    const lastX = typeof last.x === 'number' ? last.x : 0
    const lastY = typeof last.y === 'number' ? last.y : 0
    const at = typeof last.at === 'number' ? last.at : nowMs
    const distance = Math.hypot(x - lastX, y - lastY)
    const allowed = (options.unitsPerSecond * Math.max(0, nowMs - at)) / 1000 + tolerance
    if (distance > allowed) return refuse('cheat-suspected', `moved ${distance.toFixed(2)} units in ${Math.max(0, nowMs - at)} ms; at most ${allowed.toFixed(2)} allowed`)
    return accept()
  }
}
