import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import {
  InvalidWorldValueError,
  isWorldValue,
  UnknownEntityError,
  UnknownItemError,
  WorldDoc,
  type ItemHolder,
  type WorldChange,
} from '../../core/index.js'

const fresh = (clientID = 1) => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return new WorldDoc(doc)
}

describe('WorldDoc entities', () => {
  it('creates entities with components and reads them back', () => {
    const world = fresh()
    world.createEntity('p1', 'player', { health: { hp: 100, max: 100 } })
    world.setComponent('p1', 'health', { hp: 80 })
    world.setComponent('p1', 'stats', { level: 3, tags: ['a', 'b'], nested: { x: null, ok: true } })
    expect(world.getComponent('p1', 'health')).toEqual({ hp: 80, max: 100 })
    expect(world.getEntity('p1')).toEqual({
      id: 'p1',
      kind: 'player',
      components: { health: { hp: 80, max: 100 }, stats: { level: 3, tags: ['a', 'b'], nested: { x: null, ok: true } } },
    })
    expect(world.hasEntity('p1')).toBe(true)
    world.createEntity('door', 'door')
    expect(world.listEntities().map((e) => e.id)).toEqual(['door', 'p1'])
    world.removeEntity('door')
    expect(world.getEntity('door')).toBeUndefined()
    expect(world.getComponent('door', 'x')).toBeUndefined()
  })

  it('refuses unknown entities and values that are not JSON-like', () => {
    const world = fresh()
    expect(() => world.setComponent('ghost', 'health', { hp: 1 })).toThrow(UnknownEntityError)
    world.createEntity('p1', 'player')
    for (const bad of [undefined, Number.NaN, Infinity, () => 1, new Date(), new Map(), Symbol('x')]) {
      expect(() => world.setComponent('p1', 'c', { f: bad as never })).toThrow(InvalidWorldValueError)
    }
    expect(isWorldValue(Object.create(null))).toBe(true)
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    expect(isWorldValue(deep)).toBe(false)
  })
})

describe('WorldDoc items', () => {
  it('moves items between holders and keeps inventories derived from holders', () => {
    const world = fresh()
    world.createItem('sword', 'weapon')
    world.createItem('shield', 'armor', { type: 'player', id: 'p1' })
    world.createItem('gem', 'loot', { type: 'container', id: 'chest1' })
    expect(world.inventoryOf('p1')).toEqual(['shield'])
    world.setItemHolder('sword', { type: 'player', id: 'p1' })
    expect(world.inventoryOf('p1')).toEqual(['shield', 'sword'])
    world.setItemHolder('shield', { type: 'player', id: 'p2' })
    expect(world.inventoryOf('p1')).toEqual(['sword'])
    expect(world.inventoryOf('p2')).toEqual(['shield'])
    world.removeItem('sword')
    expect(world.inventoryOf('p1')).toEqual([])
    expect(world.getItem('gem')).toEqual({ id: 'gem', kind: 'loot', holder: { type: 'container', id: 'chest1' } })
    expect(world.listItems().map((i) => i.id)).toEqual(['gem', 'shield'])
    expect(world.hasItem('sword')).toBe(false)
    expect(world.checkSingleHolder()).toEqual([])
  })

  it('refuses unknown items and malformed holders', () => {
    const world = fresh()
    expect(() => world.setItemHolder('nope', { type: 'none' })).toThrow(UnknownItemError)
    world.createItem('a', 'x')
    expect(() => world.setItemHolder('a', { type: 'player', id: '' })).toThrow(InvalidWorldValueError)
    expect(() => world.createItem('b', 'x', { type: 'guild' } as unknown as ItemHolder)).toThrow(InvalidWorldValueError)
  })

  it('reports malformed holders written behind its back', () => {
    const world = fresh()
    world.createItem('a', 'x')
    ;(world.doc.getMap('items').get('a') as Y.Map<unknown>).set('holder', { type: 'player' })
    expect(world.checkSingleHolder()).toEqual([{ item: 'a', problem: 'malformed holder {"type":"player"}' }])
    expect(world.getItem('a')?.holder).toEqual({ type: 'none' })
  })

  it('rebuilds the inventory index when opened over an existing document', () => {
    const world = fresh()
    world.createItem('a', 'x', { type: 'player', id: 'p1' })
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(world.doc))
    expect(new WorldDoc(copy).inventoryOf('p1')).toEqual(['a'])
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
      w.setItemHolder('sword', { type: 'player', id: 'p1' })
    })
    expect(changes).toHaveLength(1)
    expect(changes[0]!.origin).toBe('pickup-resolver')
    expect(changes[0]!.local).toBe(true)
    expect([...changes[0]!.entities]).toEqual(['p1'])
    expect([...changes[0]!.items]).toEqual(['sword'])
    expect(changes[0]!.holders).toEqual([{ item: 'sword', holder: { type: 'player', id: 'p1' } }])
    world.setComponent('p1', 'health', { hp: 9 })
    expect([...changes[1]!.entities]).toEqual(['p1'])
    expect(world.transact('x', () => 42)).toBe(42)
    stop()
    world.removeItem('sword')
    expect(changes).toHaveLength(2)
    world.doc.getMap('other').set('k', 1)
    world.destroy()
  })

  it('sees remote changes as non-local with the remote origin', () => {
    const a = fresh(1)
    const b = fresh(2)
    const seen: WorldChange[] = []
    b.observe((change) => seen.push(change))
    a.createItem('gem', 'loot', { type: 'player', id: 'p9' })
    Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc), 'peer-a')
    expect(seen[0]).toMatchObject({ origin: 'peer-a', local: false })
    expect(b.inventoryOf('p9')).toEqual(['gem'])
  })
})

describe('WorldDoc convergence property', () => {
  type Op =
    | { kind: 'createItem'; item: number; holder: number }
    | { kind: 'move'; item: number; holder: number }
    | { kind: 'remove'; item: number }
    | { kind: 'entity'; entity: number; hp: number }
    | { kind: 'sync'; from: number; to: number }

  const holderFor = (n: number): ItemHolder => (n === 0 ? { type: 'none' } : n <= 3 ? { type: 'player', id: `p${n}` } : { type: 'container', id: `c${n}` })

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('createItem' as const), item: fc.nat(5), holder: fc.nat(5) }),
    fc.record({ kind: fc.constant('move' as const), item: fc.nat(5), holder: fc.nat(5) }),
    fc.record({ kind: fc.constant('remove' as const), item: fc.nat(5) }),
    fc.record({ kind: fc.constant('entity' as const), entity: fc.nat(3), hp: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) }),
  )

  it('replicas doing random concurrent operations converge, and every item has exactly one holder everywhere', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2), op), { maxLength: 60 }), (steps) => {
        const worlds = [fresh(1), fresh(2), fresh(3)]
        for (const [at, step] of steps) {
          const world = worlds[at]!
          switch (step.kind) {
            case 'createItem':
              world.createItem(`i${step.item}`, 'thing', holderFor(step.holder))
              break
            case 'move':
              if (world.hasItem(`i${step.item}`)) world.setItemHolder(`i${step.item}`, holderFor(step.holder))
              break
            case 'remove':
              world.removeItem(`i${step.item}`)
              break
            case 'entity':
              if (!world.hasEntity(`e${step.entity}`)) world.createEntity(`e${step.entity}`, 'npc')
              world.setComponent(`e${step.entity}`, 'health', { hp: step.hp })
              break
            case 'sync':
              Y.applyUpdate(worlds[step.to]!.doc, Y.encodeStateAsUpdate(worlds[step.from]!.doc, Y.encodeStateVector(worlds[step.to]!.doc)))
              break
          }
        }
        // Full exchange in a random-ish order: everyone ends with everything.
        for (const from of worlds) for (const to of worlds) Y.applyUpdate(to.doc, Y.encodeStateAsUpdate(from.doc))
        const reference = JSON.stringify({ items: worlds[0]!.listItems(), entities: worlds[0]!.listEntities() })
        for (const world of worlds) {
          expect(JSON.stringify({ items: world.listItems(), entities: world.listEntities() })).toBe(reference)
          expect(world.checkSingleHolder()).toEqual([])
          for (const player of ['p1', 'p2', 'p3']) {
            const derived = world.listItems().filter((i) => i.holder.type === 'player' && i.holder.id === player).map((i) => i.id)
            expect(world.inventoryOf(player)).toEqual(derived)
          }
        }
      }),
      { numRuns: 150 },
    )
  })
})
