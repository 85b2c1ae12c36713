import type { WorldDoc } from '../../core/index.js'
import { accept, refuse, type ActionContext, type Validation } from '../action-handler.js'
import { distanceBetween, isFiniteNumber, payloadField, readPosition, type Position } from './payload.js'
import type { Validator } from './validator.js'

/** Refuses as `not-permitted` unless the actor is within `reach` (times 1 + tolerance) of the target. */
export const checkReach = (actor: Position, target: Position, reach: number, tolerance = 0): Validation => {
  if (!isFiniteNumber(reach) || reach < 0) return refuse('internal-error', 'reach is not a non-negative number')
  const distance = distanceBetween(actor, target)
  if (!Number.isFinite(distance)) return refuse('invalid-intent', 'positions must be finite numbers')
  const allowed = reach * (1 + Math.max(0, tolerance))
  return distance <= allowed ? accept() : refuse('not-permitted', `target is ${distance.toFixed(2)} units away, reach is ${allowed.toFixed(2)}`)
}

/** Settings of `reachValidator`. */
export interface ReachOptions {
  /** How far the actor reaches, in world units. */
  readonly reach: number
  /** Relative slack. Default 0. */
  readonly tolerance?: number
  /** An entity's position. Default: the `position` component (`{x, y, z?}`) in the world. */
  readonly positionOf?: (world: WorldDoc, entity: string) => Position | undefined
  /** The target's entity id in the payload. Default: `payload.target`. */
  readonly targetKey?: string
}

/** The `position` component of an entity, if it has finite coordinates. */
export const componentPosition = (world: WorldDoc, entity: string): Position | undefined => readPosition(world.getComponent(entity, 'position'))

/** Range and reach check: the acting player's entity must be within reach of the target entity. */
export const reachValidator = (options: ReachOptions): Validator => {
  const positionOf = options.positionOf ?? componentPosition
  const targetKey = options.targetKey ?? 'target'
  return (context: ActionContext) => {
    const target = payloadField(context.intent.payload, targetKey)
    if (typeof target !== 'string' || target.length === 0) return refuse('invalid-intent', `payload.${targetKey} must name an entity`)
    const actorAt = positionOf(context.world, context.intent.player)
    if (actorAt === undefined) return refuse('not-permitted', `player ${context.intent.player} has no position`)
    const targetAt = positionOf(context.world, target)
    if (targetAt === undefined) return refuse('invalid-intent', `target ${target} does not exist or has no position`)
    return checkReach(actorAt, targetAt, options.reach, options.tolerance)
  }
}
