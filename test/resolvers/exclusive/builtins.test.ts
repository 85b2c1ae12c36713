import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { HolderMismatchError, StaleItemVersionError, UnknownItemError, WorldDoc, type Intent } from '../../../core/index.js'
import {
  IntentEngine,
  InvalidResolverError,
  ResolverRegistry,
  claimSlotResolver,
  counterValue,
  createEscrow,
  createSlot,
  damageResolver,
  dropResolver,
  escrowAvailable,
  escrowTotals,
  grantRebalance,
  healResolver,
  pickupResolver,
  planRebalance,
  purchaseResolver,
  readSlot,
  releaseSlotResolver,
  setCounterBase,
  spendEscrow,
  tradeResolver,
  tradeTerms,
  transferEscrow,
} from '../../../resolvers/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const setup = () => {
  const world = new WorldDoc(new Y.Doc())
  const registry = new ResolverRegistry()
    .register(pickupResolver())
    .register(dropResolver())
    .register(tradeResolver())
    .register(claimSlotResolver())
    .register(releaseSlotResolver())
    .register(damageResolver({ peer: 'p0', maxAmount: 50 }))
    .register(healResolver({ peer: 'p0' }))
    .register(purchaseResolver({ peer: 'p0' }))
  const engine = IntentEngine.createUnjournaled({ world, worldName: 'w', clock: new ManualClock(), seed: 1, handlers: registry.handlers() })
  let seq = 0
  const run = (player: string, action: string, payload: Intent['payload'], predictedVersion?: number) =>
    engine.submitNow('s', { action, seq: ++seq, player, payload, ...(predictedVersion !== undefined ? { predictedVersion } : {}) }).now!
  return { world, registry, run }
}

describe('built-in resolvers through the IntentEngine', () => {
  it('pickup: one winner, versions count moves, stale predictions are refused', () => {
    const { world, run } = setup()
    world.createItem('sword', 'weapon')
    expect(run('alice', 'pickup', { item: 'sword' })).toMatchObject({ type: 'ack', result: { item: 'sword', version: 1 } })
    expect(run('bob', 'pickup', { item: 'sword' })).toMatchObject({ type: 'reject', reason: 'conflict' })
    expect(run('bob', 'pickup', { item: 'nothing' })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('bob', 'pickup', {})).toMatchObject({ reason: 'invalid-intent' })
    expect(run('bob', 'drop', { item: 'sword' })).toMatchObject({ reason: 'not-permitted' })
    expect(run('alice', 'drop', { item: 'sword' }, 0)).toMatchObject({ reason: 'stale-version' })
    expect(run('alice', 'drop', { item: 'sword' }, 1)).toMatchObject({ type: 'ack', result: { version: 2 } })
    expect(run('bob', 'drop', {})).toMatchObject({ reason: 'invalid-intent' })
    expect(world.itemVersion('sword')).toBe(2)
    expect(() => world.moveItem('sword', { type: 'player', id: 'x' }, undefined, 1)).toThrow(StaleItemVersionError)
  })

  it('moves are versioned by default; only the explicitly unsafe write skips the version', () => {
    const { world } = setup()
    world.createItem('gem', 'loot')
    expect(world.moveItem('gem', { type: 'player', id: 'alice' }, { type: 'none' })).toEqual({ type: 'none' })
    expect(world.itemVersion('gem')).toBe(1)
    expect(() => world.moveItem('gem', { type: 'player', id: 'bob' }, { type: 'none' })).toThrow(HolderMismatchError)
    expect(world.moveItem('gem', { type: 'player', id: 'bob' }, undefined, 1)).toEqual({ type: 'player', id: 'alice' })
    expect(world.itemVersion('gem')).toBe(2)
    // The unsafe path writes a second holder at the same version; the deprecated old name does too.
    world.setItemHolderUnversioned('gem', { type: 'player', id: 'carol' })
    world.setItemHolderUnversioned('gem', { type: 'player', id: 'dave' })
    expect(world.itemVersion('gem')).toBe(2)
    expect(world.getItem('gem')?.holder).toEqual({ type: 'player', id: 'dave' })
    expect(() => world.setItemHolderUnversioned('ghost', { type: 'none' })).toThrow(UnknownItemError)
    expect(() => world.moveItem('ghost', { type: 'none' })).toThrow(UnknownItemError)
  })

  it('reports the current state for rollback', () => {
    const { world, registry } = setup()
    world.createItem('sword', 'weapon', { type: 'player', id: 'alice' })
    const context = { world, intent: { action: 'pickup', seq: 1, player: 'bob', payload: { item: 'sword' } }, session: 's', nowMs: 0 }
    expect(registry.get('pickup')!.currentState!(context)).toEqual({ item: 'sword', exists: true, holder: { type: 'player', id: 'alice' }, version: 0 })
    expect(registry.get('pickup')!.currentState!({ ...context, intent: { ...context.intent, payload: { item: 'ghost' } } })).toEqual({ item: 'ghost', exists: false })
    expect(registry.get('pickup')!.versionOf!({ ...context, intent: { ...context.intent, payload: {} } })).toBeUndefined()
    expect(registry.get('drop')!.versionOf!(context)).toBe(0)
    expect(registry.get('drop')!.versionOf!({ ...context, intent: { ...context.intent, payload: {} } })).toBeUndefined()
    expect(registry.get('drop')!.currentState!(context)).toMatchObject({ exists: true })
  })

  it('trade: atomic swap of both sides, refused when either side does not hold its items', () => {
    const { world, registry, run } = setup()
    world.createItem('gem', 'gem', { type: 'player', id: 'alice' })
    world.createItem('ring', 'ring', { type: 'player', id: 'bob' })
    expect(run('alice', 'trade', { partner: 'bob', give: ['gem'], take: ['ring', 'ring'] })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('alice', 'trade', { partner: 'alice', give: ['gem'] })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('alice', 'trade', { partner: 'bob', give: 'gem' })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('alice', 'trade', { partner: 'bob', give: ['ring'], take: [] })).toMatchObject({ reason: 'conflict' })
    expect(run('alice', 'trade', { partner: 'bob', give: ['gem'], take: ['ring'] })).toMatchObject({ type: 'ack' })
    expect(world.inventoryOf('alice')).toEqual(['ring'])
    expect(world.inventoryOf('bob')).toEqual(['gem'])
    const trade = registry.get('trade')!
    const intent = { action: 'trade', seq: 9, player: 'bob', payload: { partner: 'alice', give: ['gem'], take: ['ring'] } }
    const context = { world, intent, session: 's', nowMs: 0 }
    expect(trade.resources!(intent)).toEqual(['item:gem', 'item:ring'])
    expect(trade.resources!({ ...intent, payload: {} })).toEqual([])
    expect(trade.prepare!(context, 'item:gem')).toEqual({ ok: true })
    trade.commitPart!(context, 'item:gem')
    expect(world.getItem('gem')!.holder).toEqual({ type: 'player', id: 'alice' })
    expect(trade.currentState!(context)).toHaveLength(2)
    expect(trade.currentState!({ ...context, intent: { ...intent, payload: {} } })).toBeNull()
    expect(tradeTerms({ ...intent, payload: { partner: 'alice', give: [3] } })).toBeUndefined()
    expect(tradeTerms({ ...intent, payload: { partner: 'alice' } })).toBeUndefined()
  })

  it('slots: one holder, released only by it, versions for stale predictions', () => {
    const { world, run } = setup()
    createSlot(world, 'spawn-1')
    expect(run('alice', 'claim-slot', { slot: 'spawn-1' })).toMatchObject({ type: 'ack', result: { slot: 'spawn-1', version: 1 } })
    expect(run('bob', 'claim-slot', { slot: 'spawn-1' })).toMatchObject({ reason: 'conflict' })
    expect(run('bob', 'release-slot', { slot: 'spawn-1' })).toMatchObject({ reason: 'not-permitted' })
    expect(run('alice', 'release-slot', { slot: 'spawn-1' }, 0)).toMatchObject({ reason: 'stale-version' })
    expect(run('alice', 'release-slot', { slot: 'spawn-1' }, 1)).toMatchObject({ type: 'ack', result: { version: 2 } })
    expect(readSlot(world, 'spawn-1')).toEqual({ holder: undefined, version: 2 })
    expect(run('bob', 'claim-slot', { slot: 'nowhere' })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('bob', 'release-slot', {})).toMatchObject({ reason: 'invalid-intent' })
  })

  it('damage and heal are per-peer counters that merge concurrent changes without loss', () => {
    const { world, run } = setup()
    world.createEntity('orc', 'monster')
    setCounterBase(world, 'orc', 'hp', 100)
    expect(run('alice', 'damage', { target: 'orc', amount: 30 })).toMatchObject({ type: 'ack', result: 70 })
    expect(run('alice', 'heal', { target: 'orc', amount: 5 })).toMatchObject({ result: 75 })
    expect(run('alice', 'damage', { target: 'orc', amount: 51 })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('alice', 'damage', { target: 'ghost', amount: 1 })).toMatchObject({ reason: 'invalid-intent' })
    // Two replicas damage concurrently, each under its own peer field: both hits survive the merge.
    const other = new WorldDoc(new Y.Doc())
    Y.applyUpdate(other.doc, Y.encodeStateAsUpdate(world.doc))
    const damageOther = damageResolver({ peer: 'p1' })
    damageOther.apply({ world: other, intent: { action: 'damage', seq: 1, player: 'bob', payload: { target: 'orc', amount: 10 } }, session: 's', nowMs: 0, random: undefined as never })
    run('alice', 'damage', { target: 'orc', amount: 20 })
    Y.applyUpdate(world.doc, Y.encodeStateAsUpdate(other.doc))
    Y.applyUpdate(other.doc, Y.encodeStateAsUpdate(world.doc))
    expect(counterValue(world, 'orc', 'hp')).toBe(45)
    expect(counterValue(other, 'orc', 'hp')).toBe(45)
  })

  it('escrow: spend from the own share, transfer, rebalance, never oversell', () => {
    const { world, run } = setup()
    createEscrow(world, 'potions', { p0: 3, p1: 5 })
    expect(() => createEscrow(world, 'bad', { p0: -1 })).toThrow(RangeError)
    expect(run('alice', 'buy', { stock: 'potions', amount: 2 })).toMatchObject({ type: 'ack', result: 1 })
    expect(run('alice', 'buy', { stock: 'potions', amount: 2 })).toMatchObject({ reason: 'conflict' })
    expect(run('alice', 'buy', { stock: 'nothing', amount: 1 })).toMatchObject({ reason: 'invalid-intent' })
    expect(run('alice', 'buy', { stock: 'potions', amount: 0.5 })).toMatchObject({ reason: 'invalid-intent' })
    expect(planRebalance(world, 'potions', 'p0', 2)).toEqual({ from: 'p1', amount: 2 })
    expect(grantRebalance(world, 'potions', 'p1', 'p0', 4)).toBe(2)
    expect(escrowAvailable(world, 'potions', 'p0')).toBe(3)
    expect(transferEscrow(world, 'potions', 'p0', 'p0', 1)).toBe(false)
    expect(transferEscrow(world, 'potions', 'p0', 'p1', 10)).toBe(false)
    expect(spendEscrow(world, 'potions', 'p1', 4)).toBe(false)
    expect(spendEscrow(world, 'potions', 'p1', 3)).toBe(true)
    expect(escrowTotals(world, 'potions')).toEqual({ stock: 8, spent: 5, available: { p0: 3, p1: 0 } })
    expect(planRebalance(world, 'potions', 'p0', 1)).toBeUndefined()
    expect(grantRebalance(world, 'potions', 'p1', 'p0', 1)).toBe(0)
  })
})

describe('ResolverRegistry', () => {
  it('refuses duplicates, exclusive resolvers without resources and unknown kinds', () => {
    const registry = new ResolverRegistry().register(pickupResolver())
    expect(() => registry.register(pickupResolver())).toThrow(InvalidResolverError)
    expect(() => registry.register({ action: 'x', kind: 'exclusive', apply: () => null })).toThrow(/resources/)
    expect(() => registry.register({ action: 'y', kind: 'other' as never, apply: () => null })).toThrow(/kind/)
    registry.register({ action: 'z', kind: 'commutative', apply: () => 1 })
    expect(registry.actions()).toEqual(['pickup', 'z'])
    expect(registry.kindOf('pickup')).toBe('exclusive')
    expect(registry.kindOf('nope')).toBeUndefined()
    expect(registry.handlers().z!.validate!({ world: undefined as never, intent: { action: 'z', seq: 1, player: 'p', payload: null }, session: 's', nowMs: 0 })).toEqual({ ok: true })
  })
})
