import type { Millis } from '../../core/index.js'
import { accept, refuse } from '../action-handler.js'
import type { ResponseLevel } from './detector.js'
import type { Guard } from './validator.js'

/** Settings of `responseGuard`. */
export interface ResponseGuardOptions {
  /** A player's current response level (usually `detector.levelOf`). */
  readonly levelOf: (player: string) => ResponseLevel
  /** While throttled, a player gets at most one accepted intent per this interval. Default 1000 ms. */
  readonly throttleIntervalMs?: Millis
}

/**
 * Carries the detector's verdict into intent handling: quarantined and kicked players are refused
 * as `cheat-suspected`; throttled ones are slowed to one intent per interval (`rate-limited`).
 */
export const responseGuard = (options: ResponseGuardOptions): Guard => {
  const interval = options.throttleIntervalMs ?? 1000
  const lastAccepted = new Map<string, Millis>()
  return {
    validate: ({ intent, nowMs }) => {
      const level = options.levelOf(intent.player)
      if (level === 'kick' || level === 'quarantine') return refuse('cheat-suspected', `player ${intent.player} is in ${level}: intents are refused`)
      if (level === 'throttle') {
        const last = lastAccepted.get(intent.player)
        if (last !== undefined && nowMs - last < interval) return refuse('rate-limited', `player ${intent.player} is throttled to one intent per ${interval} ms`)
      }
      return accept()
    },
    accepted: ({ intent, nowMs }) => {
      lastAccepted.set(intent.player, nowMs)
    },
  }
}
