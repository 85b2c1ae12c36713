import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import {
  EntityExistsError,
  holderKey,
  HolderMismatchError,
  InvalidHolderError,
  InvalidWorldNameError,
  InvalidWorldValueError,
  isItemHolder,
  isWorldName,
  isWorldValue,
  ItemExistsError,
  MAX_WORLD_VALUE_DEPTH,
  openWorldDoc,
  RealmsyncError,
  sameHolder,
  UnknownEntityError,
  UnknownItemError,
  WORLD_ROOTS,
  WorldDoc,
  type ItemHolder,
  type WorldChange,
} from '../../core/index.js'

const fresh = (clientID = 1): WorldDoc => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return new WorldDoc(doc)
}

const player = (id: string): ItemHolder => ({ type: 'player', id })
const container = (id: string): ItemHolder => ({ type: 'container', id })
const NOBODY: ItemHolder = { type: 'none' }

/** Applies `from`'s whole state to `to`, the way anti-entropy would. */
const syncFull = (from: WorldDoc, to: WorldDoc, origin: unknown = 'remote'): void => Y.applyUpdate(to.doc, Y.encodeStateAsUpdate(from.doc), origin)

describe('world values and names', () => {
  it('accepts JSON-like values and refuses everything else', () => {
    for (const good of [0, -1.5, 'x', '', true, false, null, [], {}, [1, 'a', [null]], { a: { b: [1, { c: 'd' }] } }, Object.create(null) as object, '😀']) {
      expect(isWorldValue(good)).toBe(true)
    }
    const withProto = JSON.parse('{"__proto__": 1}') as unknown
    let deep: unknown = 1
    for (let i = 0; i < MAX_WORLD_VALUE_DEPTH + 1; i++) deep = [deep]
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const bad of [undefined, Number.NaN, Infinity, -Infinity, () => 1, new Date(0), new Map(), new Uint8Array(1), Symbol('s'), 1n, withProto, deep, cyclic, '\uD800', { ['\uDC00']: 1 }, [undefined]]) {
      expect(isWorldValue(bad)).toBe(false)
    }
    let shallowEnough: unknown = 1
    for (let i = 0; i < MAX_WORLD_VALUE_DEPTH; i++) shallowEnough = [shallowEnough]
    expect(isWorldValue(shallowEnough)).toBe(true)
  })

  it('accepts names that are non-empty, bounded, well-formed strings', () => {
    expect(isWorldName('sword-1')).toBe(true)
    for (const bad of ['', 'x'.repeat(513), '__proto__', 'a\uD800', 7, null]) expect(isWorldName(bad)).toBe(false)
  })

  it('recognises, compares and names holders', () => {
    expect(isItemHolder(NOBODY)).toBe(true)
    expect(isItemHolder(player('p1'))).toBe(true)
    for (const bad of [null, 'p1', { type: 'player' }, { type: 'guild', id: 'g' }, { type: 'container', id: '' }]) expect(isItemHolder(bad)).toBe(false)
    expect(holderKey(player('p1'))).toBe('player:p1')
    expect(holderKey(container('c'))).toBe('container:c')
    expect(holderKey(NOBODY)).toBe('none')
    expect(sameHolder(player('a'), player('a'))).toBe(true)
    expect(sameHolder(player('a'), container('a'))).toBe(false)
    expect(sameHolder(undefined, undefined)).toBe(true)
    expect(sameHolder(undefined, NOBODY)).toBe(false)
  })
})

describe('WorldDoc entities', () => {
  it('creates entities with components, merges component writes and reads copies back', () => {
    const world = openWorldDoc(new Y.Doc())
    world.createEntity('p1', 'player', { health: { hp: 100, max: 100 } })
    world.setComponent('p1', 'health', { hp: 80 })
    world.setComponent('p1', 'stats', { level: 3, tags: ['a', 'b'], nested: { x: null, ok: true } })
    expect(world.getComponent('p1', 'health')).toEqual({ hp: 80, max: 100 })
    expect(world.getEntity('p1')).toEqual({
      id: 'p1',
      kind: 'player',
      components: { health: { hp: 80, max: 100 }, stats: { level: 3, tags: ['a', 'b'], nested: { x: null, ok: true } } },
    })
    const copy = world.getComponent('p1', 'health') as Record<string, number>
    copy.hp = 1
    expect(world.getComponent('p1', 'health')).toEqual({ hp: 80, max: 100 })
    expect(world.hasEntity('p1')).toBe(true)
    expect(world.getComponent('p1', 'missing')).toBeUndefined()
    expect(world.getComponent('ghost', 'health')).toBeUndefined()
  })

  it('lists entities sorted and removes entities and components', () => {
    const world = fresh()
    world.createEntity('p1', 'player', { health: { hp: 1 }, mana: { mp: 2 } })
    world.createEntity('door', 'door')
    expect(world.listEntities().map((e) => e.id)).toEqual(['door', 'p1'])
    expect(world.removeComponent('p1', 'mana')).toBe(true)
    expect(world.removeComponent('p1', 'mana')).toBe(false)
    expect(world.getEntity('p1')?.components).toEqual({ health: { hp: 1 } })
    world.removeEntity('door')
    expect(world.hasEntity('door')).toBe(false)
    expect(world.getEntity('door')).toBeUndefined()
    expect(world.listEntities().map((e) => e.id)).toEqual(['p1'])
  })

  it('refuses misuse with typed errors and writes nothing', () => {
    const world = fresh()
    expect(() => world.setComponent('ghost', 'health', { hp: 1 })).toThrow(UnknownEntityError)
    expect(() => world.removeEntity('ghost')).toThrow(UnknownEntityError)
    expect(() => world.removeComponent('ghost', 'health')).toThrow(UnknownEntityError)
    world.createEntity('p1', 'player')
    expect(() => world.createEntity('p1', 'player')).toThrow(EntityExistsError)
    expect(() => world.createEntity('', 'player')).toThrow(InvalidWorldNameError)
    expect(() => world.createEntity('p2', '')).toThrow(InvalidWorldNameError)
    expect(() => world.createEntity('p2', 'npc', { ok: { hp: 1 }, bad: { f: Number.NaN } })).toThrow(InvalidWorldValueError)
    expect(world.hasEntity('p2')).toBe(false)
    for (const bad of [undefined, Number.NaN, Infinity, () => 1, new Date(), new Map(), Symbol('x'), '\uD800']) {
      expect(() => world.setComponent('p1', 'c', { f: bad as never })).toThrow(InvalidWorldValueError)
    }
    expect(() => world.setComponent('p1', '__proto__', { f: 1 })).toThrow(InvalidWorldNameError)
    expect(() => world.setComponent('p1', 'c', { '': 1 })).toThrow(InvalidWorldNameError)
    expect(() => world.setComponent('p1', 'c', [1] as never)).toThrow(InvalidWorldValueError)
    expect(() => world.setComponent('p1', 'c', null as never)).toThrow(InvalidWorldValueError)
    expect(world.getEntity('p1')?.components).toEqual({})
  })

  it('gives every error a stable code and a message naming the culprit', () => {
    const errors: Array<[RealmsyncError, string, string]> = [
      [new UnknownEntityError('e1'), 'unknown-entity', 'e1'],
      [new UnknownItemError('i1'), 'unknown-item', 'i1'],
      [new EntityExistsError('e2'), 'entity-exists', 'e2'],
      [new ItemExistsError('i2'), 'item-exists', 'i2'],
      [new InvalidWorldValueError('e.c.f'), 'invalid-world-value', 'e.c.f'],
      [new InvalidWorldNameError('entity id', ''), 'invalid-world-name', 'entity id'],
      [new InvalidHolderError('i3', { type: 'x' }), 'invalid-holder', 'i3'],
      [new HolderMismatchError('i4', player('a'), player('b')), 'holder-mismatch', 'player:b'],
    ]
    for (const [error, code, mention] of errors) {
      expect(error).toBeInstanceOf(RealmsyncError)
      expect(error.code).toBe(code)
      expect(error.message).toContain(mention)
    }
    expect(new InvalidWorldNameError('id', undefined).message).toContain('undefined')
    expect(new InvalidHolderError('i', undefined).message).toContain('undefined')
  })
})

describe('WorldDoc items', () => {
  it('moves items between holders and keeps inventories and container contents derived from holders', () => {
    const world = fresh()
    world.createItem('sword', 'weapon')
    world.createItem('shield', 'armor', player('p1'))
    world.createItem('gem', 'loot', container('chest1'))
    expect(world.inventoryOf('p1')).toEqual(['shield'])
    expect(world.contentsOf('chest1')).toEqual(['gem'])
    world.setItemHolderUnversioned('sword', player('p1'))
    expect(world.inventoryOf('p1')).toEqual(['shield', 'sword'])
    world.setItemHolderUnversioned('shield', player('p2'))
    expect(world.inventoryOf('p1')).toEqual(['sword'])
    expect(world.inventoryOf('p2')).toEqual(['shield'])
    world.setItemHolderUnversioned('gem', player('p2'))
    expect(world.contentsOf('chest1')).toEqual([])
    world.removeItem('sword')
    expect(world.inventoryOf('p1')).toEqual([])
    expect(world.getItem('gem')).toEqual({ id: 'gem', kind: 'loot', holder: player('p2') })
    expect(world.getItem('sword')).toBeUndefined()
    expect(world.listItems().map((i) => i.id)).toEqual(['gem', 'shield'])
    expect(world.hasItem('sword')).toBe(false)
    expect(world.checkSingleHolder()).toEqual([])
  })

  it('stores holders canonically, without extra fields', () => {
    const world = fresh()
    world.createItem('a', 'x', { type: 'player', id: 'p1', extra: 1 } as unknown as ItemHolder)
    world.setItemHolderUnversioned('a', { type: 'none', id: 'stale' } as unknown as ItemHolder)
    expect((world.doc.getMap(WORLD_ROOTS.items).get('a') as Y.Map<unknown>).get('holder')).toEqual({ type: 'none' })
    world.setItemHolderUnversioned('a', { type: 'container', id: 'c', more: true } as unknown as ItemHolder)
    expect(world.getItem('a')?.holder).toEqual(container('c'))
  })

  it('moveItem returns the previous holder and refuses a stale expectation', () => {
    const world = fresh()
    world.createItem('gem', 'loot', container('chest'))
    expect(world.moveItem('gem', player('p1'), container('chest'))).toEqual(container('chest'))
    expect(() => world.moveItem('gem', player('p2'), container('chest'))).toThrow(HolderMismatchError)
    expect(world.getItem('gem')?.holder).toEqual(player('p1'))
    expect(world.moveItem('gem', NOBODY)).toEqual(player('p1'))
    expect(() => world.moveItem('nope', NOBODY)).toThrow(UnknownItemError)
    expect(() => world.moveItem('gem', NOBODY, { type: 'x' } as unknown as ItemHolder)).toThrow(InvalidHolderError)
  })

  it('refuses unknown items, taken ids, bad names and malformed holders', () => {
    const world = fresh()
    expect(() => world.setItemHolderUnversioned('nope', NOBODY)).toThrow(UnknownItemError)
    expect(() => world.removeItem('nope')).toThrow(UnknownItemError)
    world.createItem('a', 'x')
    expect(() => world.createItem('a', 'y')).toThrow(ItemExistsError)
    expect(() => world.createItem('', 'x')).toThrow(InvalidWorldNameError)
    expect(() => world.createItem('b', '')).toThrow(InvalidWorldNameError)
    expect(() => world.setItemHolderUnversioned('a', player(''))).toThrow(InvalidHolderError)
    expect(() => world.createItem('b', 'x', { type: 'guild' } as unknown as ItemHolder)).toThrow(InvalidHolderError)
    expect(world.hasItem('b')).toBe(false)
  })

  it('reads fresh inventories inside a transaction, before it commits', () => {
    const world = fresh()
    world.createItem('a', 'x', player('p1'))
    world.transact('trade', (w) => {
      w.setItemHolderUnversioned('a', player('p2'))
      expect(w.inventoryOf('p1')).toEqual([])
      expect(w.inventoryOf('p2')).toEqual(['a'])
      w.createItem('b', 'x', player('p2'))
      w.removeItem('a')
      expect(w.inventoryOf('p2')).toEqual(['b'])
    })
    expect(world.checkSingleHolder()).toEqual([])
  })

  it('rebuilds the index when opened over an existing document', () => {
    const world = fresh()
    world.createItem('a', 'x', player('p1'))
    world.createItem('b', 'x', container('c1'))
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(world.doc))
    const reopened = new WorldDoc(copy)
    expect(reopened.inventoryOf('p1')).toEqual(['a'])
    expect(reopened.contentsOf('c1')).toEqual(['b'])
    expect(reopened.checkSingleHolder()).toEqual([])
  })

  it('keeps exactly one holder when two replicas give the same item to different players at once', () => {
    const a = fresh(1)
    const b = fresh(2)
    a.createItem('relic', 'artifact')
    syncFull(a, b)
    a.setItemHolderUnversioned('relic', player('alice'))
    b.setItemHolderUnversioned('relic', player('bob'))
    syncFull(a, b)
    syncFull(b, a)
    const holder = a.getItem('relic')?.holder
    expect(b.getItem('relic')?.holder).toEqual(holder)
    const owners = ['alice', 'bob'].filter((p) => a.inventoryOf(p).includes('relic'))
    expect(owners).toHaveLength(1)
    expect(['alice', 'bob'].filter((p) => b.inventoryOf(p).includes('relic'))).toEqual(owners)
    expect(a.checkSingleHolder()).toEqual([])
    expect(b.checkSingleHolder()).toEqual([])
  })

  it('drops a concurrent move of an item another replica removed', () => {
    const a = fresh(1)
    const b = fresh(2)
    a.createItem('potion', 'consumable', player('p1'))
    syncFull(a, b)
    a.removeItem('potion')
    b.setItemHolderUnversioned('potion', player('p2'))
    syncFull(a, b)
    syncFull(b, a)
    for (const world of [a, b]) {
      expect(world.hasItem('potion')).toBe(false)
      expect(world.inventoryOf('p2')).toEqual([])
      expect(world.checkSingleHolder()).toEqual([])
    }
  })
})

describe('WorldDoc holder audit', () => {
  it('returns every holder in one pass', () => {
    const world = fresh()
    world.createItem('a', 'x', player('p1'))
    world.createItem('b', 'x')
    const audit = world.auditHolders()
    expect([...audit.holders]).toEqual([
      ['a', player('p1')],
      ['b', NOBODY],
    ])
    expect(audit.violations).toEqual([])
  })

  it('reports malformed items and holders written behind its back, and hides them from typed reads', () => {
    const world = fresh()
    world.createItem('a', 'x', player('p1'))
    const items = world.doc.getMap(WORLD_ROOTS.items)
    ;(items.get('a') as Y.Map<unknown>).set('holder', { type: 'player' })
    items.set('junk', 42)
    const noKind = new Y.Map<unknown>()
    items.set('nokind', noKind)
    noKind.set('holder', NOBODY)
    expect(world.checkSingleHolder()).toEqual([
      { item: 'a', problem: 'malformed-holder', detail: 'holder is {"type":"player"}' },
      { item: 'junk', problem: 'malformed-item', detail: 'not a map with a string kind' },
      { item: 'nokind', problem: 'malformed-item', detail: 'not a map with a string kind' },
    ])
    expect(world.inventoryOf('p1')).toEqual([])
    expect(world.getItem('a')?.holder).toEqual(NOBODY)
    expect(world.hasItem('junk')).toBe(false)
    expect(world.listItems().map((i) => i.id)).toEqual(['a'])
    expect(() => world.setItemHolderUnversioned('junk', NOBODY)).toThrow(UnknownItemError)
    world.removeItem('junk')
    expect(items.has('junk')).toBe(false)
    ;(items.get('a') as Y.Map<unknown>).delete('holder')
    expect(world.checkSingleHolder()[0]).toEqual({ item: 'a', problem: 'malformed-holder', detail: 'holder is missing' })
  })

  it('detects an index that drifted from the document (the check is not vacuous)', () => {
    const world = fresh()
    world.createItem('a', 'x', player('p1'))
    world.createItem('b', 'x', player('p1'))
    // Corrupt the private index the way a bug would: the document is untouched.
    const index = (world as unknown as { index: { set(item: string, holder: ItemHolder | undefined): void } }).index
    index.set('a', player('p2'))
    index.set('ghost', player('p1'))
    index.set('b', undefined)
    const violations = world.checkSingleHolder()
    expect(violations.every((v) => v.problem === 'index-disagrees')).toBe(true)
    // 'a' and 'ghost' are each caught twice: by their holder entry and by their inventory listing.
    expect(violations.map((v) => v.item).sort()).toEqual(['a', 'a', 'b', 'ghost', 'ghost'])
    expect(violations[0]!.detail).toBe('held by player:p1, index says player:p2')
    expect(violations[1]!.detail).toBe('held by player:p1, index says nothing')
  })

  it('treats malformed entities as absent and repairs a missing components map on write', () => {
    const world = fresh()
    const entities = world.doc.getMap(WORLD_ROOTS.entities)
    entities.set('junk', 'not a map')
    const bare = new Y.Map<unknown>()
    entities.set('bare', bare)
    bare.set('kind', 'npc')
    const badComponents = new Y.Map<unknown>()
    entities.set('odd', badComponents)
    badComponents.set('kind', 'npc')
    const components = new Y.Map<unknown>()
    badComponents.set('components', components)
    components.set('broken', 5)
    expect(world.hasEntity('junk')).toBe(false)
    expect(world.listEntities().map((e) => e.id)).toEqual(['bare', 'odd'])
    expect(world.getEntity('bare')?.components).toEqual({})
    expect(world.getEntity('odd')?.components).toEqual({})
    expect(world.getComponent('odd', 'broken')).toBeUndefined()
    world.setComponent('bare', 'health', { hp: 3 })
    expect(world.getComponent('bare', 'health')).toEqual({ hp: 3 })
    world.setComponent('odd', 'broken', { ok: true })
    expect(world.getComponent('odd', 'broken')).toEqual({ ok: true })
    world.removeEntity('junk')
    expect(entities.has('junk')).toBe(false)
  })
})

describe('WorldDoc transactions and observation', () => {
  it('tags transactions with an origin and reports what changed once per transaction', () => {
    const world = fresh()
    const changes: WorldChange[] = []
    const stop = world.observe((change) => changes.push(change))
    world.transact('pickup-resolver', (w) => {
      w.createEntity('p1', 'player')
      w.setComponent('p1', 'health', { hp: 10 })
      w.createItem('sword', 'weapon')
      w.setItemHolderUnversioned('sword', player('p1'))
    })
    expect(changes).toHaveLength(1)
    expect(changes[0]).toMatchObject({ origin: 'pickup-resolver', local: true })
    expect([...changes[0]!.entities]).toEqual(['p1'])
    expect([...changes[0]!.items]).toEqual(['sword'])
    expect(changes[0]!.holders).toEqual([{ item: 'sword', from: undefined, to: player('p1') }])
    world.setComponent('p1', 'health', { hp: 9 })
    expect(changes[1]).toMatchObject({ origin: null, holders: [] })
    expect([...changes[1]!.entities]).toEqual(['p1'])
    expect(world.transact('x', () => 42)).toBe(42)
    expect(changes).toHaveLength(2)
    world.transact('loot', (w) => w.setItemHolderUnversioned('sword', container('corpse')))
    expect(changes[2]!.holders).toEqual([{ item: 'sword', from: player('p1'), to: container('corpse') }])
    world.transact('noop-move', (w) => w.setItemHolderUnversioned('sword', container('corpse')))
    expect(changes[3]!.holders).toEqual([])
    expect([...changes[3]!.items]).toEqual(['sword'])
    world.removeItem('sword')
    expect(changes[4]!.holders).toEqual([{ item: 'sword', from: container('corpse'), to: undefined }])
    stop()
    world.createItem('other', 'x')
    expect(changes).toHaveLength(5)
  })

  it('reports the holder before the transaction when one item moves several times in it', () => {
    const world = fresh()
    world.createItem('coin', 'money', player('a'))
    const changes: WorldChange[] = []
    world.observe((change) => changes.push(change))
    world.transact('shuffle', (w) => {
      w.setItemHolderUnversioned('coin', player('b'))
      w.setItemHolderUnversioned('coin', player('c'))
    })
    world.transact('round-trip', (w) => {
      w.setItemHolderUnversioned('coin', player('d'))
      w.setItemHolderUnversioned('coin', player('c'))
    })
    expect(changes.map((c) => c.holders)).toEqual([[{ item: 'coin', from: player('a'), to: player('c') }], []])
  })

  it('ignores changes outside the world roots and stops after destroy', () => {
    const world = fresh()
    const changes: WorldChange[] = []
    world.observe((change) => changes.push(change))
    world.doc.getMap('other').set('k', 1)
    const nested = new Y.Map<unknown>()
    world.doc.getMap('other').set('nested', nested)
    nested.set('x', 1)
    expect(changes).toHaveLength(0)
    world.destroy()
    world.doc.getMap(WORLD_ROOTS.items).set('late', 1)
    expect(changes).toHaveLength(0)
  })

  it('sees remote changes as non-local with the remote origin, with the index fresh for Yjs observers', () => {
    const a = fresh(1)
    const b = fresh(2)
    const seen: WorldChange[] = []
    b.observe((change) => seen.push(change))
    const inventoriesSeenByYjsObserver: string[][] = []
    b.doc.getMap(WORLD_ROOTS.items).observeDeep(() => inventoriesSeenByYjsObserver.push(b.inventoryOf('p9')))
    a.createItem('gem', 'loot', player('p9'))
    a.createEntity('npc', 'guard', { ai: { mode: 'patrol' } })
    syncFull(a, b, 'peer-a')
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ origin: 'peer-a', local: false })
    expect([...seen[0]!.entities]).toEqual(['npc'])
    expect(seen[0]!.holders).toEqual([{ item: 'gem', from: undefined, to: player('p9') }])
    expect(inventoriesSeenByYjsObserver).toEqual([['gem']])
    a.setComponent('npc', 'ai', { mode: 'chase' })
    syncFull(a, b, 'peer-a')
    expect([...seen[1]!.entities]).toEqual(['npc'])
    expect(b.inventoryOf('p9')).toEqual(['gem'])
  })

  it('calls every listener even when one throws, then rethrows the first error', () => {
    const world = fresh()
    const calls: string[] = []
    world.observe(() => {
      calls.push('first')
      throw new Error('listener bug')
    })
    world.observe(() => {
      calls.push('second')
    })
    expect(() => world.createItem('a', 'x')).toThrow('listener bug')
    expect(calls).toEqual(['first', 'second'])
    expect(world.hasItem('a')).toBe(true)
    expect(world.checkSingleHolder()).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// Convergence: replicas make random concurrent edits and exchange whole-state or diff updates in
// random orders; afterwards every replica holds the same content and the single-holder rule holds.

type Op =
  | { kind: 'createItem'; item: number; holder: number }
  | { kind: 'move'; item: number; holder: number }
  | { kind: 'moveExpecting'; item: number; holder: number; expected: number }
  | { kind: 'removeItem'; item: number }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'entity'; entity: number; hp: number }
  | { kind: 'removeEntity'; entity: number }
  | { kind: 'removeComponent'; entity: number }
  | { kind: 'sync'; from: number; to: number; diff: boolean }

const holderFor = (n: number): ItemHolder => (n === 0 ? NOBODY : n <= 3 ? player(`p${n}`) : container(`c${n}`))
const PLAYERS = ['p1', 'p2', 'p3']
const CONTAINERS = ['c4', 'c5']

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('createItem' as const), item: fc.nat(5), holder: fc.nat(5) }),
  fc.record({ kind: fc.constant('move' as const), item: fc.nat(5), holder: fc.nat(5) }),
  fc.record({ kind: fc.constant('moveExpecting' as const), item: fc.nat(5), holder: fc.nat(5), expected: fc.nat(5) }),
  fc.record({ kind: fc.constant('removeItem' as const), item: fc.nat(5) }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(5), b: fc.nat(5) }),
  fc.record({ kind: fc.constant('entity' as const), entity: fc.nat(3), hp: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant('removeEntity' as const), entity: fc.nat(3) }),
  fc.record({ kind: fc.constant('removeComponent' as const), entity: fc.nat(3) }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2), diff: fc.boolean() }),
)

const applyOp = (worlds: WorldDoc[], at: number, op: Op): void => {
  const world = worlds[at % worlds.length]!
  switch (op.kind) {
    case 'createItem':
      if (!world.hasItem(`i${op.item}`)) world.createItem(`i${op.item}`, 'thing', holderFor(op.holder))
      break
    case 'move':
      if (world.hasItem(`i${op.item}`)) world.setItemHolderUnversioned(`i${op.item}`, holderFor(op.holder))
      break
    case 'moveExpecting':
      if (!world.hasItem(`i${op.item}`)) break
      try {
        world.moveItem(`i${op.item}`, holderFor(op.holder), holderFor(op.expected))
      } catch (error) {
        expect(error).toBeInstanceOf(HolderMismatchError)
      }
      break
    case 'removeItem':
      if (world.hasItem(`i${op.item}`)) world.removeItem(`i${op.item}`)
      break
    case 'swap': {
      const [a, b] = [world.getItem(`i${op.a}`), world.getItem(`i${op.b}`)]
      if (!a || !b) break
      world.transact('trade', (w) => {
        w.setItemHolderUnversioned(a.id, b.holder)
        w.setItemHolderUnversioned(b.id, a.holder)
      })
      break
    }
    case 'entity':
      if (!world.hasEntity(`e${op.entity}`)) world.createEntity(`e${op.entity}`, 'npc')
      world.setComponent(`e${op.entity}`, 'health', { hp: op.hp, log: [op.hp, { at: at }] })
      break
    case 'removeEntity':
      if (world.hasEntity(`e${op.entity}`)) world.removeEntity(`e${op.entity}`)
      break
    case 'removeComponent':
      if (world.hasEntity(`e${op.entity}`)) world.removeComponent(`e${op.entity}`, 'health')
      break
    case 'sync': {
      const from = worlds[op.from % worlds.length]!
      const to = worlds[op.to % worlds.length]!
      const update = op.diff ? Y.encodeStateAsUpdate(from.doc, Y.encodeStateVector(to.doc)) : Y.encodeStateAsUpdate(from.doc)
      Y.applyUpdate(to.doc, update, 'remote')
      break
    }
  }
}

/** Holders as the change events told them, checked link by link against what came before. */
const trackHoldersThroughEvents = (world: WorldDoc): Map<string, ItemHolder> => {
  const known = new Map<string, ItemHolder>()
  world.observe((change) => {
    for (const { item, from, to } of change.holders) {
      expect(sameHolder(known.get(item), from)).toBe(true)
      if (to === undefined) known.delete(item)
      else known.set(item, to)
    }
  })
  return known
}

describe('WorldDoc convergence property', () => {
  it('replicas doing random concurrent operations converge, and every replica keeps one holder per item', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 3 }),
        fc.array(fc.tuple(fc.nat(2), opArb), { maxLength: 60 }),
        fc.infiniteStream(fc.nat()),
        (replicas, steps, order) => {
          const worlds = Array.from({ length: replicas }, (_, i) => fresh(i + 1))
          const tracked = worlds.map(trackHoldersThroughEvents)
          for (const [at, op] of steps) applyOp(worlds, at, op)
          // One exchange between every ordered pair, in a random order. Whole-state updates carry
          // everything the sender has, so after one round each replica holds every replica's edits.
          const pairs = worlds.flatMap((_, from) => worlds.map((__, to) => [from, to] as const)).filter(([from, to]) => from !== to)
          const shuffled: Array<readonly [number, number]> = []
          const iterator = order[Symbol.iterator]()
          while (pairs.length > 0) shuffled.push(pairs.splice((iterator.next().value as number) % pairs.length, 1)[0]!)
          for (const [from, to] of shuffled) syncFull(worlds[from]!, worlds[to]!)

          const reference = worlds[0]!
          const expectedContent = JSON.stringify({ items: reference.listItems(), entities: reference.listEntities() })
          const expectedVector = Y.encodeStateVector(reference.doc)
          worlds.forEach((world, i) => {
            expect(JSON.stringify({ items: world.listItems(), entities: world.listEntities() })).toBe(expectedContent)
            expect(Y.encodeStateVector(world.doc)).toEqual(expectedVector)
            expect(world.doc.store.pendingStructs).toBeNull()
            const audit = world.auditHolders()
            expect(audit.violations).toEqual([])
            expect(new Map(world.listItems().map((item) => [item.id, item.holder]))).toEqual(audit.holders)
            expect(tracked[i]).toEqual(audit.holders)
            for (const p of PLAYERS) {
              expect(world.inventoryOf(p)).toEqual(world.listItems().filter((item) => sameHolder(item.holder, player(p))).map((item) => item.id))
            }
            for (const c of CONTAINERS) {
              expect(world.contentsOf(c)).toEqual(world.listItems().filter((item) => sameHolder(item.holder, container(c))).map((item) => item.id))
            }
            // Each item appears in at most one inventory or container.
            const listed = [...PLAYERS.flatMap((p) => world.inventoryOf(p)), ...CONTAINERS.flatMap((c) => world.contentsOf(c))]
            expect(new Set(listed).size).toBe(listed.length)
          })
        },
      ),
      { numRuns: 150 },
    )
  })
})
