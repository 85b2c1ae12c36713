import type { Millis } from '../../core/index.js'
import { accept, refuse, type ActionContext, type Validation } from '../action-handler.js'
import { distanceBetween, isFiniteNumber, payloadField, readPosition, type Position } from './payload.js'
import type { Guard } from './validator.js'

/** Movement limits of one kind of mover. */
export interface SpeedLimits {
  /** Fastest legal speed, in world units per second. */
  readonly maxSpeed: number
  /** Relative slack for jitter and rounding: 0.1 lets a move be 10% longer than `maxSpeed` allows. */
  readonly tolerance?: number
  /**
   * Longest elapsed time a single move may claim, so a player who stood still for a minute cannot
   * cross the map in one step (a teleport). Default 1000 ms.
   */
  readonly maxElapsedMs?: Millis
  /** Largest round-trip time credited to a player, so claiming a huge ping buys no distance. Default 500 ms. */
  readonly maxRttMs?: Millis
}

/** One move: where the mover was last accepted and when, where it claims to be now and when. */
export interface MoveCheck {
  readonly from: Position
  readonly fromMs: Millis
  readonly to: Position
  readonly toMs: Millis
  /** The mover's measured round-trip time. */
  readonly rttMs?: Millis
}

const clamp = (value: number, low: number, high: number): number => Math.min(high, Math.max(low, value))

/**
 * The farthest a legal move may go: max speed x (1 + tolerance) x elapsed, plus a ping-aware
 * allowance of half the round trip at max speed (the move may have been sent that much earlier
 * than the server saw the previous one). Elapsed and RTT are clamped to their limits.
 */
export const maxMoveDistance = (limits: SpeedLimits, elapsedMs: Millis, rttMs: Millis = 0): number => {
  const tolerance = Math.max(0, limits.tolerance ?? 0)
  const elapsed = clamp(isFiniteNumber(elapsedMs) ? elapsedMs : 0, 0, limits.maxElapsedMs ?? 1000)
  const rtt = clamp(isFiniteNumber(rttMs) ? rttMs : 0, 0, limits.maxRttMs ?? 500)
  return (limits.maxSpeed * (1 + tolerance) * elapsed) / 1000 + (limits.maxSpeed * rtt) / 2 / 1000
}

/** Refuses a move longer than `maxMoveDistance` allows as `cheat-suspected` (speed hack or teleport). */
export const checkMove = (move: MoveCheck, limits: SpeedLimits): Validation => {
  if (!isFiniteNumber(limits.maxSpeed) || limits.maxSpeed < 0) return refuse('internal-error', 'speed limit is not a non-negative number')
  const distance = distanceBetween(move.from, move.to)
  if (!Number.isFinite(distance)) return refuse('invalid-intent', 'move positions must be finite numbers')
  const elapsedMs = move.toMs - move.fromMs
  const allowed = maxMoveDistance(limits, elapsedMs, move.rttMs ?? 0)
  if (distance <= allowed) return accept()
  const cappedBy = limits.maxElapsedMs ?? 1000
  const what = elapsedMs > cappedBy ? 'teleport' : 'speed'
  return refuse('cheat-suspected', `${what}: moved ${distance.toFixed(2)} units in ${Math.max(0, elapsedMs)} ms, at most ${allowed.toFixed(2)} allowed (max speed ${limits.maxSpeed}/s)`)
}

/** A position the mover was last accepted at, and when. */
export interface TimedPosition {
  readonly position: Position
  readonly atMs: Millis
}

/** Settings of `speedGuard`. */
export interface SpeedGuardOptions extends SpeedLimits {
  /** The mover's measured round-trip time (the gateway's session RTT). Default 0. */
  readonly rttOf?: (context: ActionContext) => Millis
  /** Where the claimed position is in the payload. Default: the payload itself (`{x, y, z?}`). */
  readonly targetOf?: (context: ActionContext) => Position | undefined
  /**
   * The last accepted position, passed in explicitly (from the ephemeral layer, say). Without it the
   * guard remembers each player's last accepted move itself.
   */
  readonly lastPosition?: (context: ActionContext) => TimedPosition | undefined
}

/**
 * Speed and teleport check for move intents: the first move of a player is taken as its start; every
 * later one must be within `maxMoveDistance` of the last accepted position.
 */
export const speedGuard = (options: SpeedGuardOptions): Guard => {
  const remembered = new Map<string, TimedPosition>()
  const targetOf = options.targetOf ?? ((context: ActionContext) => readPosition(context.intent.payload))
  const lastOf = options.lastPosition ?? ((context: ActionContext) => remembered.get(context.intent.player))
  return {
    validate: (context) => {
      const to = targetOf(context)
      if (to === undefined) return refuse('invalid-intent', 'move needs finite x and y')
      const last = lastOf(context)
      if (last === undefined) return accept()
      const rttMs = options.rttOf?.(context) ?? 0
      return checkMove({ from: last.position, fromMs: last.atMs, to, toMs: context.nowMs, rttMs }, options)
    },
    accepted: (context) => {
      if (options.lastPosition !== undefined) return
      const to = targetOf(context)
      if (to !== undefined) remembered.set(context.intent.player, { position: to, atMs: context.nowMs })
    },
  }
}

/** Reads a numeric field of the payload, for games that carry the claimed position elsewhere. */
export const positionAt =
  (key: string) =>
  (context: ActionContext): Position | undefined =>
    readPosition(payloadField(context.intent.payload, key))
