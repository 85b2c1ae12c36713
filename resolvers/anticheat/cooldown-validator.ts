import type { Millis } from '../../core/index.js'
import { accept, refuse, type Validation } from '../action-handler.js'
import { isFiniteNumber } from './payload.js'
import type { Guard } from './validator.js'

/** Refuses as `rate-limited` while less than `cooldownMs` has passed since the action was last accepted. */
export const checkCooldown = (lastMs: Millis | undefined, nowMs: Millis, cooldownMs: Millis, action = 'action'): Validation => {
  if (lastMs === undefined || !isFiniteNumber(cooldownMs) || cooldownMs <= 0) return accept()
  const readyAt = lastMs + cooldownMs
  return nowMs >= readyAt ? accept() : refuse('rate-limited', `${action} is on cooldown for ${readyAt - nowMs} ms more`)
}

/**
 * Per-player cooldowns by action name (`{ attack: 500, heal: 3000 }`); actions not listed have none.
 * The guard remembers when each player last had each action accepted.
 */
export const cooldownGuard = (cooldowns: Readonly<Record<string, Millis>>): Guard => {
  const lastUse = new Map<string, Millis>()
  const cooldownOf = (action: string): Millis => (Object.hasOwn(cooldowns, action) ? (cooldowns[action] ?? 0) : 0)
  // JSON-quoting both parts keeps (player, action) pairs distinct whatever characters they hold.
  const keyOf = (player: string, action: string): string => JSON.stringify([player, action])
  return {
    validate: ({ intent, nowMs }) => checkCooldown(lastUse.get(keyOf(intent.player, intent.action)), nowMs, cooldownOf(intent.action), intent.action),
    accepted: ({ intent, nowMs }) => {
      if (cooldownOf(intent.action) > 0) lastUse.set(keyOf(intent.player, intent.action), nowMs)
    },
  }
}
