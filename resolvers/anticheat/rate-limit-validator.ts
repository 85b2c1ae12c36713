import type { Millis } from '../../core/index.js'
import { accept, refuse, type ActionContext, type Validation } from '../action-handler.js'
import { isFiniteNumber } from './payload.js'
import type { Guard } from './validator.js'

/** A token bucket's settings: at most `burst` actions at once, refilled at `perSecond`. */
export interface RateLimit {
  readonly burst: number
  readonly perSecond: number
}

/** A token bucket's state, a plain value the caller keeps and passes back in. */
export interface TokenBucket {
  readonly tokens: number
  /** Time the tokens were counted at; never moves backwards. */
  readonly atMs: Millis
}

/** The verdict on one action and the bucket to keep for the next one (unchanged when refused). */
export interface RateDecision {
  readonly verdict: Validation
  readonly bucket: TokenBucket
}

/**
 * Takes one token for an action at `nowMs`. Pure: the bucket goes in and the next bucket comes out.
 * A clock that steps backwards refills nothing, so flapping time cannot mint tokens.
 */
export const takeToken = (bucket: TokenBucket | undefined, nowMs: Millis, limit: RateLimit): RateDecision => {
  const burst = isFiniteNumber(limit.burst) ? Math.max(0, limit.burst) : 0
  const perSecond = isFiniteNumber(limit.perSecond) ? Math.max(0, limit.perSecond) : 0
  const now = isFiniteNumber(nowMs) ? nowMs : 0
  const start: TokenBucket = bucket ?? { tokens: burst, atMs: now }
  const atMs = Math.max(start.atMs, now)
  const tokens = Math.min(burst, start.tokens + ((atMs - start.atMs) * perSecond) / 1000)
  if (tokens >= 1) return { verdict: accept(), bucket: { tokens: tokens - 1, atMs } }
  const waitMs = perSecond > 0 ? Math.ceil(((1 - tokens) * 1000) / perSecond) : Infinity
  const message = Number.isFinite(waitMs) ? `rate limit of ${burst} at once, ${perSecond}/s: retry in ${waitMs} ms` : `rate limit of ${burst} at once, no refill`
  return { verdict: refuse('rate-limited', message), bucket: { tokens, atMs } }
}

/** Settings of `rateLimitGuard`. */
export interface RateLimitGuardOptions extends RateLimit {
  /** Which bucket an intent draws from. Default: one per player, shared by all its actions. */
  readonly keyOf?: (context: ActionContext) => string
}

/** Action rate limit over token buckets; only accepted intents spend a token. */
export const rateLimitGuard = (options: RateLimitGuardOptions): Guard => {
  const buckets = new Map<string, TokenBucket>()
  const keyOf = options.keyOf ?? ((context: ActionContext) => context.intent.player)
  return {
    validate: (context) => takeToken(buckets.get(keyOf(context)), context.nowMs, options).verdict,
    accepted: (context) => {
      const key = keyOf(context)
      buckets.set(key, takeToken(buckets.get(key), context.nowMs, options).bucket)
    },
  }
}
