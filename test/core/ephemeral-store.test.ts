import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { EphemeralStore, HybridLogicalClock, type EphemeralEntry } from '../../core/index.js'

const makeStore = (peer: string, clock: { now: number }, options: { ttlMs?: number; maxEntries?: number } = {}) =>
  new EphemeralStore({ hlc: new HybridLogicalClock(peer, () => clock.now, { maxDriftMs: 10_000 }), now: () => clock.now, ...options })

const entry = (entity: string, field: string, wallMs: number, counter: number, peer: string, value: number): EphemeralEntry => ({
  entity,
  field,
  value,
  stamp: { wallMs, counter, peer },
})

const snapshot = (store: EphemeralStore) =>
  store
    .deltaSince(0)
    .entries.map((e) => `${e.entity}/${e.field}=${JSON.stringify(e.value)}@${e.stamp.wallMs}.${e.stamp.counter}.${e.stamp.peer}`)
    .sort()

describe('EphemeralStore', () => {
  it('writes local registers stamped with the HLC and reads them back per field and entity', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock)
    const e1 = store.set('p1', 'position', [1, 2])
    store.set('p1', 'aim', 90)
    expect(e1.stamp).toEqual({ wallMs: 1000, counter: 0, peer: 'a' })
    expect(store.get('p1', 'position')?.value).toEqual([1, 2])
    expect(Object.keys(store.entity('p1')).sort()).toEqual(['aim', 'position'])
    expect(store.get('p2', 'position')).toBeUndefined()
    expect(store.size).toBe(2)
    expect(store.currentVersion).toBe(2)
  })

  it('merges last-writer-wins by HLC then peer id, returning only what changed', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock)
    const newer = entry('p1', 'position', 1000, 1, 'b', 2)
    const older = entry('p1', 'position', 1000, 0, 'c', 1)
    const tie = entry('p1', 'position', 1000, 1, 'c', 3)
    expect(store.merge([older])).toEqual([older])
    expect(store.merge([newer])).toEqual([newer])
    expect(store.merge([older, newer])).toEqual([])
    expect(store.merge([tie])).toEqual([tie])
    expect(store.get('p1', 'position')?.value).toBe(3)
    expect(store.stats).toMatchObject({ merged: 3, stale: 2 })
  })

  it('refuses stamps too far in the future without throwing', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock)
    expect(store.merge([entry('p1', 'position', 1_000_000, 0, 'liar', 1)])).toEqual([])
    expect(store.stats.rejected).toBe(1)
  })

  it('returns deltas since a watermark, skipping superseded changes', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock)
    store.set('p1', 'position', 1)
    const { version } = store.deltaSince(0)
    store.set('p2', 'position', 2)
    store.set('p1', 'position', 3)
    store.set('p1', 'position', 4)
    const delta = store.deltaSince(version)
    expect(delta.entries.map((e) => [e.entity, e.value])).toEqual([
      ['p2', 2],
      ['p1', 4],
    ])
    expect(delta.version).toBe(4)
    expect(store.deltaSince(delta.version).entries).toEqual([])
  })

  it('expires registers after their time to live and sweeps them away', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock, { ttlMs: 100 })
    store.set('p1', 'position', 1)
    clock.now = 1050
    store.set('p2', 'position', 2)
    clock.now = 1100
    expect(store.get('p1', 'position')).toBeUndefined()
    expect(store.entity('p1')).toEqual({})
    expect(store.deltaSince(0).entries.map((e) => e.entity)).toEqual(['p2'])
    expect(store.sweep()).toBe(1)
    expect(store.size).toBe(1)
    expect(store.merge([entry('p3', 'position', 900, 0, 'b', 1)])).toEqual([])
    expect(store.stats.expired).toBe(2)
  })

  it('caps memory by evicting the least recently changed registers', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock, { maxEntries: 3 })
    for (let i = 0; i < 5; i++) store.set(`p${i}`, 'position', i)
    store.set('p2', 'position', 20)
    store.set('p5', 'position', 5)
    expect(store.size).toBe(3)
    expect(store.stats.evicted).toBe(3)
    expect(snapshot(store).map((s) => s.split('=')[0])).toEqual(['p2/position', 'p4/position', 'p5/position'])
  })

  it('keeps the change log bounded under heavy overwriting', () => {
    const clock = { now: 1000 }
    const store = makeStore('a', clock)
    for (let i = 0; i < 20_000; i++) store.set(`p${i % 10}`, 'position', i)
    const internal = store as unknown as { logVersions: number[] }
    expect(internal.logVersions.length).toBeLessThan(2000)
    expect(store.deltaSince(0).entries).toHaveLength(10)
  })

  const arbitraryEntry = fc.record({
    entity: fc.constantFrom('p1', 'p2', 'p3'),
    field: fc.constantFrom('position', 'aim'),
    value: fc.integer(),
    stamp: fc.record({ wallMs: fc.integer({ min: 1000, max: 1010 }), counter: fc.nat(3), peer: fc.constantFrom('a', 'b', 'c') }),
  })

  it('property: merge is commutative, associative and idempotent', () => {
    fc.assert(
      fc.property(fc.array(arbitraryEntry, { maxLength: 30 }), fc.array(arbitraryEntry, { maxLength: 30 }), (xs, ys) => {
        // Entries with equal stamps but different values cannot come from a real HLC; drop them.
        const seen = new Map<string, string>()
        const valid = (e: EphemeralEntry) => {
          const key = `${e.entity}/${e.field}@${e.stamp.wallMs}.${e.stamp.counter}.${e.stamp.peer}`
          const value = JSON.stringify(e.value)
          if (seen.has(key) && seen.get(key) !== value) return false
          seen.set(key, value)
          return true
        }
        const a = xs.filter(valid)
        const b = ys.filter(valid)
        const clock = { now: 1005 }
        const s1 = makeStore('x', clock)
        s1.merge(a)
        s1.merge(b)
        const s2 = makeStore('y', clock)
        s2.merge(b)
        s2.merge(a)
        const s3 = makeStore('z', clock)
        s3.merge([...a, ...b, ...a])
        s3.merge(b)
        expect(snapshot(s1)).toEqual(snapshot(s2))
        expect(snapshot(s1)).toEqual(snapshot(s3))
      }),
      { numRuns: 300 },
    )
  })

  it('property: exchanging deltas since per-pair watermarks converges replicas', () => {
    const op = fc.record({ at: fc.nat(2), entity: fc.constantFrom('p1', 'p2'), field: fc.constantFrom('position', 'aim'), value: fc.integer(), sync: fc.tuple(fc.nat(2), fc.nat(2)), advance: fc.nat(3) })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const clock = { now: 1000 }
        const stores = ['a', 'b', 'c'].map((peer) => makeStore(peer, clock))
        const watermarks = new Map<string, number>()
        const sync = (from: number, to: number) => {
          const key = `${from}->${to}`
          const delta = stores[from]!.deltaSince(watermarks.get(key) ?? 0)
          stores[to]!.merge(delta.entries)
          watermarks.set(key, delta.version)
        }
        for (const o of ops) {
          clock.now += o.advance
          stores[o.at]!.set(o.entity, o.field, o.value)
          sync(o.sync[0], o.sync[1])
        }
        for (let round = 0; round < 2; round++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (i !== j) sync(i, j)
        expect(snapshot(stores[1]!)).toEqual(snapshot(stores[0]!))
        expect(snapshot(stores[2]!)).toEqual(snapshot(stores[0]!))
      }),
      { numRuns: 200 },
    )
  })
})
