import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openWorldDoc, type Intent, type WorldDoc, type WorldValue } from '../../../core/index.js'
import {
  checkCooldown,
  checkExists,
  checkHolds,
  checkMove,
  checkReach,
  composeValidators,
  cooldownGuard,
  maxMoveDistance,
  ownershipValidator,
  positionAt,
  rateLimitGuard,
  reachValidator,
  refuse,
  responseGuard,
  speedGuard,
  takeToken,
  type ActionContext,
  type ApplyContext,
  type Guard,
  type SpeedLimits,
  type TokenBucket,
} from '../../../resolvers/index.js'
import { createRandom } from '../../../core/index.js'

const world = (): WorldDoc => {
  const w = openWorldDoc(new Y.Doc())
  w.createEntity('p1', 'player', { position: { x: 0, y: 0 } })
  w.createEntity('p2', 'player', { position: { x: 3, y: 4 } })
  w.createEntity('far', 'npc', { position: { x: 100, y: 0 } })
  w.createEntity('ghost', 'npc')
  w.createItem('sword', 'sword', { type: 'player', id: 'p1' })
  w.createItem('shield', 'shield', { type: 'player', id: 'p2' })
  w.createItem('gem', 'gem')
  return w
}

const context = (w: WorldDoc, action: string, payload: WorldValue, nowMs = 0, player = 'p1', seq = 1): ApplyContext => {
  const intent: Intent = { action, seq, player, payload }
  return { world: w, intent, session: 's', nowMs, random: createRandom(1) }
}

/** Runs a guard the way `withGuards` does: validate, and on acceptance tell the guard. */
const attempt = (guard: Guard, ctx: ApplyContext): boolean => {
  const verdict = guard.validate(ctx)
  if (verdict.ok) guard.accepted?.(ctx)
  return verdict.ok
}

const LIMITS: SpeedLimits = { maxSpeed: 10, tolerance: 0.1, maxElapsedMs: 1000, maxRttMs: 500 }

describe('speed and teleport', () => {
  it('bounds a move by speed x (1 + tolerance) x elapsed plus half the RTT at max speed', () => {
    expect(maxMoveDistance(LIMITS, 500, 100)).toBeCloseTo(10 * 1.1 * 0.5 + 10 * 0.05)
    // Elapsed and RTT are clamped: a long idle or a claimed huge ping buys no more than the caps.
    expect(maxMoveDistance(LIMITS, 60_000, 60_000)).toBeCloseTo(10 * 1.1 * 1 + 10 * 0.25)
    expect(maxMoveDistance(LIMITS, -5, Number.NaN)).toBe(0)
  })

  it('accepts every move within the limit and refuses every move over limit + tolerance (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        fc.double({ min: 1.001, max: 100, noNaN: true }),
        (x, y, angle, elapsedMs, rttMs, inside, outside) => {
          const from = { x, y }
          const limit = maxMoveDistance(LIMITS, elapsedMs, rttMs)
          const at = (d: number) => ({ x: x + Math.cos(angle) * d, y: y + Math.sin(angle) * d })
          expect(checkMove({ from, fromMs: 1000, to: at(limit * inside), toMs: 1000 + elapsedMs, rttMs }, LIMITS).ok).toBe(true)
          const over = checkMove({ from, fromMs: 1000, to: at(Math.max(limit * outside, 1e-6 + limit * 1.001)), toMs: 1000 + elapsedMs, rttMs }, LIMITS)
          expect(over).toMatchObject({ ok: false, reason: 'cheat-suspected' })
        },
      ),
    )
  })

  it('names a long jump after a long pause a teleport', () => {
    const verdict = checkMove({ from: { x: 0, y: 0 }, fromMs: 0, to: { x: 500, y: 0 }, toMs: 60_000 }, LIMITS)
    expect(verdict).toMatchObject({ ok: false, reason: 'cheat-suspected' })
    expect(!verdict.ok && verdict.message).toMatch(/^teleport/)
    expect(checkMove({ from: { x: 0, y: 0 }, fromMs: 0, to: { x: 1, y: 0 }, toMs: 0 }, { maxSpeed: -1 })).toMatchObject({ reason: 'internal-error' })
    expect(checkMove({ from: { x: 0, y: 0 }, fromMs: 0, to: { x: Infinity, y: 0 }, toMs: 0 }, LIMITS)).toMatchObject({ reason: 'invalid-intent' })
  })

  it('remembers the last accepted position per player; a refused move does not move the player', () => {
    const w = world()
    const guard = speedGuard({ ...LIMITS, rttOf: () => 0 })
    expect(attempt(guard, context(w, 'move', { x: 0, y: 0 }, 0))).toBe(true)
    expect(attempt(guard, context(w, 'move', { x: 5, y: 0 }, 500))).toBe(true)
    expect(attempt(guard, context(w, 'move', { x: 50, y: 0 }, 600))).toBe(false)
    // Still measured from x = 5 at 500 ms.
    expect(attempt(guard, context(w, 'move', { x: 10, y: 0 }, 1000))).toBe(true)
    expect(guard.validate(context(w, 'move', { x: 'a' }, 1000))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(guard.validate(context(w, 'move', { x: 1, y: null }, 1000))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(guard.validate(context(w, 'move', { x: 1, y: 0, z: 'up' }, 1000))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    // Another player starts fresh.
    expect(attempt(guard, context(w, 'move', { x: 900, y: 0 }, 1000, 'p2'))).toBe(true)
  })

  it('takes the last position from outside when given, and the target from any payload field', () => {
    const w = world()
    const guard = speedGuard({ ...LIMITS, lastPosition: () => ({ position: { x: 0, y: 0 }, atMs: 0 }), targetOf: positionAt('to') })
    expect(attempt(guard, context(w, 'move', { to: { x: 5, y: 0 } }, 500))).toBe(true)
    expect(attempt(guard, context(w, 'move', { to: { x: 9, y: 0 } }, 500))).toBe(false)
  })
})

describe('range and reach', () => {
  it('accepts within reach and refuses beyond it', () => {
    expect(checkReach({ x: 0, y: 0 }, { x: 3, y: 4 }, 5).ok).toBe(true)
    expect(checkReach({ x: 0, y: 0 }, { x: 3, y: 4, z: 1 }, 5)).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(checkReach({ x: 0, y: 0 }, { x: 3, y: 4, z: 1 }, 5, 0.1).ok).toBe(true)
    expect(checkReach({ x: 0, y: 0 }, { x: 0, y: 0 }, Number.NaN)).toMatchObject({ reason: 'internal-error' })
    expect(checkReach({ x: 0, y: Infinity }, { x: 0, y: 0 }, 1)).toMatchObject({ reason: 'invalid-intent' })
  })

  it('reads actor and target positions from the world', () => {
    const w = world()
    const reach = reachValidator({ reach: 5 })
    expect(reach(context(w, 'attack', { target: 'p2' })).ok).toBe(true)
    expect(reach(context(w, 'attack', { target: 'far' }))).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(reach(context(w, 'attack', { target: 'ghost' }))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(reach(context(w, 'attack', { target: 'nobody' }))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(reach(context(w, 'attack', {}))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(reach(context(w, 'attack', { target: 'p1' }, 0, 'stranger'))).toMatchObject({ ok: false, reason: 'not-permitted' })
  })
})

describe('cooldowns', () => {
  it('refuses until the cooldown since the last accepted use has passed, per player and action', () => {
    expect(checkCooldown(undefined, 0, 100).ok).toBe(true)
    expect(checkCooldown(0, 99, 100)).toMatchObject({ ok: false, reason: 'rate-limited' })
    expect(checkCooldown(0, 100, 100).ok).toBe(true)
    const w = world()
    const guard = cooldownGuard({ attack: 500 })
    expect(attempt(guard, context(w, 'attack', {}, 0))).toBe(true)
    expect(attempt(guard, context(w, 'attack', {}, 499))).toBe(false)
    expect(attempt(guard, context(w, 'attack', {}, 100, 'p2'))).toBe(true)
    expect(attempt(guard, context(w, 'heal', {}, 100))).toBe(true)
    expect(attempt(guard, context(w, 'toString', {}, 100))).toBe(true)
    expect(attempt(guard, context(w, 'attack', {}, 500))).toBe(true)
  })
})

describe('rate limits', () => {
  it('never lets more than the burst plus the refill through in any window (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 3000 }),
        (burst, perSecond, gaps, windowMs) => {
          let bucket: TokenBucket | undefined
          let now = 0
          const accepted: number[] = []
          for (const gap of gaps) {
            now += gap
            const decision = takeToken(bucket, now, { burst, perSecond })
            bucket = decision.bucket
            if (decision.verdict.ok) accepted.push(now)
            else expect(decision.verdict).toMatchObject({ reason: 'rate-limited' })
          }
          // Any window [t, t + windowMs] starting at an accepted action holds at most burst + refill.
          const allowed = burst + (perSecond * windowMs) / 1000
          for (let i = 0; i < accepted.length; i++) {
            const start = accepted[i] as number
            const inside = accepted.filter((t) => t >= start && t <= start + windowMs).length
            expect(inside).toBeLessThanOrEqual(Math.floor(allowed + 1e-9))
          }
        },
      ),
    )
  })

  it('mints no tokens when the clock steps backwards, and says when to retry', () => {
    let bucket = takeToken(undefined, 1000, { burst: 1, perSecond: 1 }).bucket
    const back = takeToken(bucket, 0, { burst: 1, perSecond: 1 })
    expect(back.verdict).toMatchObject({ ok: false, reason: 'rate-limited' })
    expect(!back.verdict.ok && back.verdict.message).toMatch(/retry in 1000 ms/)
    bucket = takeToken(undefined, 0, { burst: 1, perSecond: 0 }).bucket
    expect(takeToken(bucket, 1e9, { burst: 1, perSecond: 0 }).verdict).toMatchObject({ ok: false, message: expect.stringMatching(/no refill/) })
  })

  it('guards per player by default; only accepted intents spend tokens', () => {
    const w = world()
    const guard = rateLimitGuard({ burst: 2, perSecond: 1 })
    expect(attempt(guard, context(w, 'chat', {}, 0))).toBe(true)
    expect(attempt(guard, context(w, 'chat', {}, 0))).toBe(true)
    expect(attempt(guard, context(w, 'chat', {}, 0))).toBe(false)
    expect(attempt(guard, context(w, 'chat', {}, 0, 'p2'))).toBe(true)
    expect(attempt(guard, context(w, 'chat', {}, 1000))).toBe(true)
    // Validating alone spends nothing.
    expect(guard.validate(context(w, 'chat', {}, 2000)).ok).toBe(true)
    expect(guard.validate(context(w, 'chat', {}, 2000)).ok).toBe(true)
  })
})

describe('ownership and existence', () => {
  it('refuses what does not exist and what the actor does not hold', () => {
    const w = world()
    expect(checkHolds(w, 'p1', 'sword').ok).toBe(true)
    expect(checkHolds(w, 'p1', 'shield')).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(checkHolds(w, 'p1', 'gem')).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(checkHolds(w, 'p1', 'nothing')).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(checkHolds(w, 'p1', 42)).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(checkExists(w, 'gem').ok).toBe(true)
    expect(checkExists(w, 'nothing')).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(checkExists(w, null)).toMatchObject({ ok: false, reason: 'invalid-intent' })
    const owns = ownershipValidator()
    expect(owns(context(w, 'drop', { item: 'sword' })).ok).toBe(true)
    expect(owns(context(w, 'trade', { give: ['sword'], with: 'p2' })).ok).toBe(true)
    expect(owns(context(w, 'trade', { give: ['sword', 'shield'] }))).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(owns(context(w, 'trade', { give: ['sword', 'sword'] }))).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(owns(context(w, 'sell', { items: 'sword' })).ok).toBe(true)
    expect(owns(context(w, 'drop', {}))).toMatchObject({ ok: false, reason: 'invalid-intent' })
  })
})

describe('composition', () => {
  it('runs checks in order, the first refusal wins, and every guard hears of acceptance', () => {
    const w = world()
    const heard: string[] = []
    const first: Guard = { validate: () => ({ ok: true }), accepted: () => heard.push('first') }
    const second = () => refuse('not-permitted', 'no')
    expect(composeValidators(first, second).validate(context(w, 'x', {}))).toMatchObject({ reason: 'not-permitted' })
    const both = composeValidators(first, { validate: () => ({ ok: true }), accepted: () => heard.push('second') }, () => ({ ok: true }))
    expect(both.validate(context(w, 'x', {})).ok).toBe(true)
    both.accepted?.(context(w, 'x', {}))
    expect(heard).toEqual(['first', 'second'])
  })

  it('response guard refuses quarantined and kicked players and throttles throttled ones', () => {
    const w = world()
    const levels: Record<string, 'observe' | 'throttle' | 'quarantine' | 'kick'> = { p1: 'throttle', p2: 'quarantine', p3: 'kick', p4: 'observe' }
    const guard = responseGuard({ levelOf: (player) => levels[player] ?? 'observe', throttleIntervalMs: 1000 })
    expect(attempt(guard, context(w, 'move', {}, 0, 'p1'))).toBe(true)
    expect(guard.validate(context(w, 'move', {}, 500, 'p1'))).toMatchObject({ ok: false, reason: 'rate-limited' })
    expect(attempt(guard, context(w, 'move', {}, 1000, 'p1'))).toBe(true)
    expect(guard.validate(context(w, 'move', {}, 0, 'p2'))).toMatchObject({ ok: false, reason: 'cheat-suspected' })
    expect(guard.validate(context(w, 'move', {}, 0, 'p3'))).toMatchObject({ ok: false, reason: 'cheat-suspected' })
    expect(attempt(guard, context(w, 'move', {}, 0, 'p4'))).toBe(true)
    expect(attempt(guard, context(w, 'move', {}, 1, 'p4'))).toBe(true)
  })
})

describe('validators on arbitrary input', () => {
  it('never throw, whatever the payload, player or time (property)', () => {
    const w = world()
    const guards: Guard[] = [
      speedGuard(LIMITS),
      speedGuard({ ...LIMITS, targetOf: positionAt('to') }),
      composeValidators(reachValidator({ reach: 5 })),
      cooldownGuard({ attack: 100 }),
      rateLimitGuard({ burst: 3, perSecond: 2 }),
      composeValidators(ownershipValidator()),
      responseGuard({ levelOf: () => 'throttle' }),
    ]
    const payload = fc.oneof(
      fc.jsonValue(),
      fc.record({ x: fc.double(), y: fc.double(), z: fc.oneof(fc.double(), fc.string()) }, { requiredKeys: [] }),
      fc.record({ target: fc.constantFrom('p1', 'p2', 'far', 'ghost', 'nobody', ''), item: fc.constantFrom('sword', 'shield', 'gem', 'x') }, { requiredKeys: [] }),
      fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'item', 'items', 'give', 'to', 'x'), fc.jsonValue()),
    )
    fc.assert(
      fc.property(
        payload,
        fc.constantFrom('p1', 'p2', 'nobody', '__proto__'),
        fc.constantFrom('move', 'attack', 'drop', 'trade', 'toString'),
        fc.oneof(fc.integer(), fc.double()),
        (body, player, action, nowMs) => {
          for (const guard of guards) {
            const ctx: ActionContext & ApplyContext = context(w, action, body as WorldValue, nowMs, player)
            const verdict = guard.validate(ctx)
            expect(typeof verdict.ok).toBe('boolean')
            if (!verdict.ok) expect(verdict.reason).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
            if (verdict.ok) guard.accepted?.(ctx)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
