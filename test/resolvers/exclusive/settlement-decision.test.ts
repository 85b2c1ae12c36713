import * as Y from 'yjs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WorldDoc, type IntentResult, type ItemHolder, type WorldValue } from '../../../core/index.js'
import {
  claimEntry,
  compareClaims,
  dropResolver,
  IntentEngine,
  itemsPreState,
  pickupResolver,
  ResolverRegistry,
  runRule,
  sameOutcome,
  settledItems,
  settlementPreStateCheck,
  settlementRepairs,
  settlementRule,
  tradeResolver,
  BUILTIN_SETTLED_ACTIONS,
  DecisionCore,
  SETTLEMENT_DECISION_KIND,
  type Claim,
} from '../../../resolvers/index.js'
import { keysOf, registryOf } from '../decisions/fixtures.js'
import type { Clock } from '../../../core/index.js'

const ITEMS = ['a', 'b', 'c', 'd']
const PLAYERS = ['ann', 'bob', 'cat']
const clock: Clock = { now: () => 1_000, setTimer: () => 0, cancelTimer: () => undefined }
const rule = settlementRule()

const holderArb: fc.Arbitrary<ItemHolder | 'missing'> = fc.oneof(
  { arbitrary: fc.constant('missing' as const), weight: 1 },
  { arbitrary: fc.constant({ type: 'none' } as const), weight: 5 },
  { arbitrary: fc.constantFrom(...PLAYERS).map((id) => ({ type: 'player', id }) as const), weight: 4 },
  { arbitrary: fc.constant({ type: 'container', id: 'chest' } as const), weight: 1 },
)
const worldArb = fc.record(Object.fromEntries(ITEMS.map((item) => [item, fc.tuple(holderArb, fc.nat(2))])) as Record<string, fc.Arbitrary<[ItemHolder | 'missing', number]>>)

const payloadArb = fc.oneof(
  fc.record({ action: fc.constant('pickup'), payload: fc.record({ item: fc.constantFrom(...ITEMS) }) }),
  fc.record({ action: fc.constant('drop'), payload: fc.record({ item: fc.constantFrom(...ITEMS) }) }),
  fc.record({
    action: fc.constant('trade'),
    payload: fc.record({ partner: fc.constantFrom(...PLAYERS), give: fc.subarray(ITEMS.slice(0, 2)), take: fc.subarray(ITEMS.slice(2)) }),
  }),
)
const claimArb = fc.record({
  kind: payloadArb,
  player: fc.constantFrom(...PLAYERS),
  wallMs: fc.integer({ min: 990, max: 1_000 }),
  counter: fc.nat(3),
  peer: fc.constantFrom('p0', 'p1', 'p2'),
  predicted: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(2), weight: 1 }),
})
const claimsArb = fc.array(claimArb, { minLength: 1, maxLength: 10 }).map((raw) =>
  raw.map((c, i): Claim => ({
    id: JSON.stringify([c.peer, `s${i}`, i + 1]),
    origin: c.peer,
    session: `s${i}`,
    viewEpoch: 1,
    intent: { action: c.kind.action, seq: i + 1, player: c.player, payload: c.kind.payload, stamp: { wallMs: c.wallMs, counter: c.counter, peer: c.peer }, ...(c.predicted !== undefined ? { predictedVersion: c.predicted } : {}) },
  })),
)

/** A world in the generated pre-state, and the owner's engine over the built-in item resolvers. */
const ownerOf = (state: Record<string, [ItemHolder | 'missing', number]>) => {
  const world = new WorldDoc(new Y.Doc())
  for (const [item, [holder, version]] of Object.entries(state)) {
    if (holder === 'missing') continue
    // Created with its holder at version 0; moving it to the same holder only counts versions.
    world.createItem(item, 'sword', holder)
    for (let v = 0; v < version; v++) world.moveItem(item, holder)
  }
  const registry = new ResolverRegistry().register(pickupResolver()).register(dropResolver()).register(tradeResolver())
  return { world, engine: IntentEngine.createUnjournaled({ world, worldName: 'p', clock, seed: 1, handlers: registry.handlers() }) }
}

/** What the gate does on the owner: read the items, apply the claims in `order` through the engine, record the grants. */
const settleThroughEngine = (state: Record<string, [ItemHolder | 'missing', number]>, claims: readonly Claim[]) => {
  const { world, engine } = ownerOf(state)
  const items = itemsPreState(world, claims.flatMap((claim) => settledItems(claim, BUILTIN_SETTLED_ACTIONS)))
  const results = claims.map((claim) => engine.submitNow(`claim:${claim.id}`, claim.intent).now as IntentResult)
  const preState: WorldValue = { items, claims: claims.map((claim, i) => claimEntry(claim, results[i]!)) }
  return { world, preState, granted: claims.filter((_, i) => results[i]!.type === 'ack').map((claim) => claim.id) }
}

describe('settlementRule: the re-validation of an owner settlement window', () => {
  it('reproduces the owner engine exactly for honest (HLC-ordered) settlements of random claim sets', () => {
    fc.assert(
      fc.property(worldArb, claimsArb, (state, claims) => {
        const { preState, granted } = settleThroughEngine(state, [...claims].sort(compareClaims))
        const verdict = runRule(rule, { intent: claims[0]!.intent, preState })
        expect(verdict).toEqual({ ok: true, outcome: { granted } })
      }),
      { numRuns: 300 },
    )
  })

  it('catches every settlement applied in another order that grants differently', () => {
    fc.assert(
      fc.property(worldArb, claimsArb, fc.infiniteStream(fc.nat()), (state, claims, picks) => {
        const honest = settleThroughEngine(state, [...claims].sort(compareClaims))
        const shuffled = [...claims].sort(() => (picks.next().value as number) % 3 - 1)
        const tampered = settleThroughEngine(state, shuffled)
        const verdict = runRule(rule, { intent: claims[0]!.intent, preState: tampered.preState })
        expect(verdict.ok).toBe(true)
        if (!verdict.ok) return
        expect(sameOutcome(verdict.outcome, { granted: tampered.granted })).toBe(sameOutcome({ granted: honest.granted }, { granted: tampered.granted }))
      }),
      { numRuns: 300 },
    )
  })

  it('rolls back: the repairs of a settlement move exactly the wrongly held items to where the honest settlement puts them', () => {
    fc.assert(
      fc.property(worldArb, claimsArb, fc.infiniteStream(fc.nat()), (state, claims, picks) => {
        const honest = settleThroughEngine(state, [...claims].sort(compareClaims))
        expect(settlementRepairs(honest.preState, honest.granted)).toEqual([])
        const shuffled = [...claims].sort(() => (picks.next().value as number) % 3 - 1)
        const tampered = settleThroughEngine(state, shuffled)
        const repairs = settlementRepairs(tampered.preState, tampered.granted)
        if (sameOutcome({ granted: honest.granted }, { granted: tampered.granted })) expect(repairs).toEqual([])
        for (const { item, applied, rightful } of repairs) {
          // The compare-and-set the rollback makes: the item is exactly where the bad settlement left it.
          expect(tampered.world.itemVersion(item)).toBe(applied.version)
          expect(tampered.world.getItem(item)!.holder).toEqual(applied.holder)
          tampered.world.moveItem(item, rightful as ItemHolder, applied.holder as ItemHolder, applied.version)
        }
        for (const item of ITEMS) expect(tampered.world.getItem(item)?.holder).toEqual(honest.world.getItem(item)?.holder)
      }),
      { numRuns: 150 },
    )
    expect(settlementRepairs(null, [])).toEqual([])
    expect(settlementRepairs({ items: {}, claims: [{ id: 'x' }] }, ['x'])).toEqual([])
  })

  it('skips claims the engine refused for reasons outside the rule (excused), and refuses malformed pre-states', () => {
    const claim: Claim = { id: 'c1', origin: 'p0', session: 's', viewEpoch: 1, intent: { action: 'pickup', seq: 1, player: 'ann', payload: { item: 'a' }, stamp: { wallMs: 1, counter: 0, peer: 'p0' } } }
    const excused = claimEntry(claim, { type: 'reject', seq: 1, reason: 'rate-limited', message: 'slow down' })
    expect(excused).toMatchObject({ excused: 'rate-limited' })
    const items = { a: { type: 'none', version: 0 } }
    expect(runRule(rule, { intent: claim.intent, preState: { items, claims: [excused] } })).toEqual({ ok: true, outcome: { granted: [] } })
    const fair = claimEntry(claim, { type: 'reject', seq: 1, reason: 'conflict', message: 'held' })
    expect(runRule(rule, { intent: claim.intent, preState: { items, claims: [fair] } })).toEqual({ ok: true, outcome: { granted: ['c1'] } })
    for (const preState of [null, { items, claims: [] }, { items: [], claims: [fair] }, { items: { a: { type: 3 } }, claims: [fair] }, { items, claims: [fair, fair] }, { items, claims: [{ ...(fair as object), action: 'steal' }] }, { items, claims: [{ id: 'x' }] }]) {
      expect(runRule(rule, { intent: claim.intent, preState: preState as WorldValue })).toMatchObject({ ok: false, reason: 'invalid-intent' })
    }
  })

  it('is reported as done, not decided again: report signs the given outcome, and refuses an unknown kind', () => {
    const core = new DecisionCore({ self: 'p0', privateKey: keysOf('p0').privateKey, keys: registryOf(['p0', 'p1', 'p2']), rules: { [SETTLEMENT_DECISION_KIND]: rule }, now: () => 1_000 })
    const intent = { action: 'pickup', seq: 1, player: 'ann', payload: { item: 'a' } }
    expect(core.report('nope', intent, null, null, () => true)).toMatchObject({ ok: false, reason: 'unknown-kind' })
    const reported = core.report(SETTLEMENT_DECISION_KIND, intent, null, { granted: ['x'] }, () => true)
    expect(reported).toMatchObject({ ok: true, decision: { decision: { outcome: { granted: ['x'] } } } })
    expect(core.quarantineOf('p1')).toBeUndefined()
  })

  it('checks a pre-state against the replica only where the replica is at a state the settlement went through', () => {
    const { world } = ownerOf({ a: [{ type: 'none' }, 1], b: [{ type: 'player', id: 'ann' }, 0], c: ['missing', 0], d: [{ type: 'none' }, 0] })
    const check = settlementPreStateCheck(world)
    const claim = (id: string, action: string, player: string, payload: WorldValue) => ({ id, action, player, seq: 1, payload, stamp: { wallMs: 1, counter: 0, peer: 'p0' } })
    const decisionOf = (items: WorldValue, claims: WorldValue[]) => ({ kind: 'exclusive-settlement', inputs: { preState: { items, claims } } })
    // The replica is at the pre-state (a: v1 free), or at the state after the grant (b: v1 held by bob after ann gives it away).
    world.moveItem('b', { type: 'player', id: 'bob' })
    const truthful = decisionOf({ a: { type: 'none', version: 1 }, b: { type: 'player', id: 'ann', version: 0 }, c: null }, [claim('x', 'pickup', 'cat', { item: 'a' }), claim('y', 'trade', 'ann', { partner: 'bob', give: ['b'], take: [] })])
    expect(check(truthful)).toEqual({ ok: true })
    // An invented holder at the replica's version is caught; a version the replica is not at proves nothing.
    expect(check(decisionOf({ a: { type: 'player', id: 'mallory', version: 1 } }, [claim('x', 'pickup', 'cat', { item: 'a' })]))).toMatchObject({ ok: false, reason: 'conflict' })
    expect(check(decisionOf({ a: { type: 'player', id: 'mallory', version: 7 } }, [claim('x', 'pickup', 'cat', { item: 'a' })]))).toEqual({ ok: true })
    expect(check(decisionOf({ z: { type: 'none', version: 0 } }, [claim('x', 'pickup', 'cat', { item: 'z' })]))).toEqual({ ok: true })
    expect(check({ kind: 'kill', inputs: { preState: null } })).toEqual({ ok: true })
    expect(check(decisionOf([], []))).toEqual({ ok: true })
  })
})
