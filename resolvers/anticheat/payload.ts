import type { WorldValue } from '../../core/index.js'

/** A point in the world; `z` is optional so 2-D games need not send it. */
export interface Position {
  readonly x: number
  readonly y: number
  readonly z?: number
}

/** A field of an object payload, or undefined for anything else (arrays, scalars, missing keys). */
export const payloadField = (payload: WorldValue | undefined, key: string): WorldValue | undefined => {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return undefined
  // Own properties only: a payload key named `__proto__` or `constructor` must not reach the prototype.
  return Object.hasOwn(payload, key) ? (payload as Record<string, WorldValue>)[key] : undefined
}

const finite = (value: WorldValue | undefined): value is number => typeof value === 'number' && Number.isFinite(value)

/** Reads `{x, y, z?}` from a value with finite numbers; anything else is undefined (y defaults to 0 for 1-D games). */
export const readPosition = (value: WorldValue | undefined): Position | undefined => {
  const x = payloadField(value, 'x')
  const rawY = payloadField(value, 'y')
  const y = rawY === undefined ? 0 : rawY
  const z = payloadField(value, 'z')
  if (!finite(x) || !finite(y)) return undefined
  if (z !== undefined && !finite(z)) return undefined
  return z === undefined ? { x, y } : { x, y, z }
}

/** Euclidean distance between two positions (a missing z counts as 0). */
export const distanceBetween = (a: Position, b: Position): number => Math.hypot(a.x - b.x, a.y - b.y, (a.z ?? 0) - (b.z ?? 0))

/** Whether a value is a finite number. */
export const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
