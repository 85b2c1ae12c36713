import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  compareHlc,
  EphemeralStore,
  HybridLogicalClock,
  InvalidEphemeralEntryError,
  RealmsyncError,
  type EphemeralEntry,
  type EphemeralValue,
  type HlcOptions,
  type HlcTimestamp,
} from '../../core/index.js'
import { ManualClock } from '../helpers/manual-clock.js'

interface StoreSetup {
  ttlMs?: number
  maxEntries?: number
  hlc?: HlcOptions
}

/** A store whose clock reads `time.now`, which the test moves by hand. */
const makeStore = (peer: string, time: { now: number }, setup: StoreSetup = {}) => {
  const hlc = new HybridLogicalClock(peer, () => time.now, { maxDriftMs: 10_000, ...setup.hlc })
  const store = new EphemeralStore({
    hlc,
    now: () => time.now,
    ...(setup.ttlMs !== undefined ? { ttlMs: setup.ttlMs } : {}),
    ...(setup.maxEntries !== undefined ? { maxEntries: setup.maxEntries } : {}),
  })
  return { store, hlc }
}

const entry = (entity: string, field: string, wallMs: number, counter: number, peer: string, value: EphemeralValue): EphemeralEntry => ({
  entity,
  field,
  value,
  stamp: { wallMs, counter, peer },
})

const stampKey = (stamp: HlcTimestamp) => `${stamp.wallMs}.${stamp.counter}.${stamp.peer}`

/** Every live register, as sorted strings: two stores with equal snapshots hold the same state. */
const snapshot = (store: EphemeralStore) =>
  store
    .deltaSince(0)
    .entries.map((e) => `${e.entity}/${e.field}=${JSON.stringify(e.value)}@${stampKey(e.stamp)}`)
    .sort()

describe('EphemeralStore: local writes and reads', () => {
  it('stamps local writes with its HLC and reads them back per field and per entity', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    const position = store.set('p1', 'position', [1, 2])
    store.set('p1', 'aim', 90)
    store.set('p2', 'position', { x: 3 })
    expect(position).toEqual({ entity: 'p1', field: 'position', value: [1, 2], stamp: { wallMs: 1000, counter: 0, peer: 'a' } })
    expect(store.get('p1', 'position')).toBe(position)
    expect(store.get('p1', 'aim')?.stamp).toEqual({ wallMs: 1000, counter: 1, peer: 'a' })
    expect(Object.keys(store.entity('p1')).sort()).toEqual(['aim', 'position'])
    expect(store.entity('p1').position).toBe(position)
    expect(store.get('p3', 'position')).toBeUndefined()
    expect(store.get('p1', 'velocity')).toBeUndefined()
    expect(Object.keys(store.entity('p3'))).toEqual([])
    expect(store.size).toBe(3)
    expect(store.currentVersion).toBe(3)
  })

  it('overwrites a register in place: a local write always beats what the store holds', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    // A remote write stamped ahead of local physical time (within the drift limit).
    store.merge([entry('p1', 'position', 5000, 7, 'z', 'remote')])
    const local = store.set('p1', 'position', 'local')
    expect(compareHlc(local.stamp, { wallMs: 5000, counter: 7, peer: 'z' })).toBe(1)
    expect(store.get('p1', 'position')?.value).toBe('local')
    expect(store.size).toBe(1)
  })

  it('keeps entity and field apart even when names contain the separator or look like __proto__', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    store.set('a\u0000b', 'c', 1)
    store.set('a', 'b\u0000c', 2)
    store.set('p1', '__proto__', 3)
    expect(store.get('a\u0000b', 'c')?.value).toBe(1)
    expect(store.get('a', 'b\u0000c')?.value).toBe(2)
    expect(store.size).toBe(3)
    const fields = store.entity('p1')
    expect(Object.keys(fields)).toEqual(['__proto__'])
    expect(fields['__proto__']?.value).toBe(3)
  })

  it('refuses local writes that could not cross the wire unchanged, with a typed error', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    const bad: Array<[string, string, unknown]> = [
      ['p1', 'x'.repeat(513), 1],
      ['\ud800', 'position', 1],
      ['p1', 'position', undefined],
      ['p1', 'position', [1, undefined]],
      ['p1', 'position', 10n],
      ['p1', 'position', { at: new Date(0) }],
      ['p1', 'position', 'lone \udc00 surrogate'],
      ['p1', 'position', JSON.parse('{"__proto__": {"admin": true}}')],
      ['p1', 'position', () => 1],
    ]
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    bad.push(['p1', 'position', deep])
    for (const [entity, field, value] of bad) {
      let thrown: unknown
      try {
        store.set(entity, field, value as EphemeralValue)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(InvalidEphemeralEntryError)
      expect(thrown).toBeInstanceOf(RealmsyncError)
      expect((thrown as InvalidEphemeralEntryError).code).toBe('invalid-ephemeral-entry')
    }
    expect(store.size).toBe(0)
    expect(store.currentVersion).toBe(0)
    // Values that do survive the wire are accepted, bytes and null-prototype objects included.
    store.set('p1', 'blob', new Uint8Array([1, 2]))
    store.set('p1', 'map', Object.assign(Object.create(null) as Record<string, EphemeralValue>, { a: 1 }))
    store.set('p1', 'mixed', { a: [1, 'two', null, true, 1.5], b: {} })
    expect(store.size).toBe(3)
  })

  it('accepts a Clock for expiry and validates its options', async () => {
    const clock = new ManualClock()
    const hlc = new HybridLogicalClock('a', () => clock.now())
    const store = new EphemeralStore({ hlc, now: clock, ttlMs: 50 })
    store.set('p1', 'position', 1)
    expect(store.get('p1', 'position')?.value).toBe(1)
    await clock.advance(50)
    expect(store.get('p1', 'position')).toBeUndefined()
    expect(() => new EphemeralStore({ hlc, now: clock, ttlMs: 0 })).toThrow(RangeError)
    expect(() => new EphemeralStore({ hlc, now: clock, maxEntries: 0 })).toThrow(RangeError)
    expect(() => new EphemeralStore({ hlc, now: clock, maxEntries: 1.5 })).toThrow(RangeError)
  })
})

describe('EphemeralStore: merging remote registers', () => {
  it('merges last-writer-wins by HLC then peer id, returning only what changed', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    const older = entry('p1', 'position', 1000, 0, 'c', 1)
    const newer = entry('p1', 'position', 1000, 1, 'b', 2)
    const tieWinner = entry('p1', 'position', 1000, 1, 'c', 3)
    expect(store.merge([older])).toEqual([older])
    expect(store.merge([newer])).toEqual([newer])
    expect(store.merge([older, newer])).toEqual([])
    expect(store.merge([tieWinner])).toEqual([tieWinner])
    expect(store.get('p1', 'position')?.value).toBe(3)
    expect(store.stats).toEqual({ merged: 3, stale: 2, expired: 0, evicted: 0, rejected: 0 })
  })

  it('absorbs every accepted stamp into its clock, so its next write wins', () => {
    const time = { now: 1000 }
    const { store, hlc } = makeStore('a', time)
    const remote = entry('p1', 'position', 4000, 3, 'b', 1)
    store.merge([remote])
    expect(compareHlc(hlc.peek(), remote.stamp)).toBe(1)
    // A stale stamp is not absorbed: it carries nothing new.
    const before = hlc.peek()
    store.merge([entry('p1', 'position', 3000, 0, 'b', 0)])
    expect(hlc.peek()).toEqual(before)
  })

  it('returns only the net change of one batch', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    const first = entry('p1', 'position', 1000, 0, 'b', 1)
    const second = entry('p1', 'position', 1000, 1, 'b', 2)
    const other = entry('p2', 'position', 1000, 0, 'b', 3)
    expect(store.merge([first, other, second, first, { ...second }])).toEqual([other, second])
    expect(store.stats.merged).toBe(3)
    expect(store.stats.stale).toBe(2)
    expect(store.currentVersion).toBe(3)
  })

  it('rejects, counts and skips stamps too far ahead, whatever the clock drift policy', () => {
    for (const driftPolicy of ['reject', 'clamp'] as const) {
      const time = { now: 1000 }
      const { store, hlc } = makeStore('a', time, { hlc: { maxDriftMs: 100, driftPolicy } })
      const liar = entry('p1', 'position', 1101, 0, 'liar', 'future')
      const honest = entry('p1', 'position', 1100, 0, 'b', 'ok')
      expect(store.merge([liar, honest])).toEqual([honest])
      expect(store.stats.rejected).toBe(1)
      expect(hlc.peek().wallMs).toBe(1100)
    }
  })

  it('counts a drift rejection by the clock itself when its time source differs from the store', () => {
    const time = { now: 1000 }
    const hlc = new HybridLogicalClock('a', () => 0, { maxDriftMs: 100 })
    const store = new EphemeralStore({ hlc, now: () => time.now })
    expect(store.merge([entry('p1', 'position', 1000, 0, 'b', 1)])).toEqual([])
    expect(store.stats.rejected).toBe(1)
    expect(store.size).toBe(0)
  })

  it('rejects remote registers that are not valid at all, without throwing', () => {
    const time = { now: 1000 }
    const { store, hlc } = makeStore('a', time)
    const invalid = [
      entry('p1', 'position', Number.NaN, 0, 'b', 1),
      entry('p1', 'position', 1000.5, 0, 'b', 1),
      entry('p1', 'position', 1000, -1, 'b', 1),
      entry('p1', 'position', 1000, 0, 'x'.repeat(300), 1),
      entry('p1', 'x'.repeat(600), 1000, 0, 'b', 1),
      entry('p1', 'position', 1000, 0, 'b', [undefined] as unknown as EphemeralValue),
      { entity: 'p1', field: 'position', value: 1 } as unknown as EphemeralEntry,
      null as unknown as EphemeralEntry,
    ]
    expect(store.merge(invalid)).toEqual([])
    expect(store.stats.rejected).toBe(invalid.length)
    expect(store.size).toBe(0)
    expect(hlc.peek().wallMs).toBe(0)
  })
})

describe('EphemeralStore: deltas since a watermark', () => {
  it('returns what changed after a version, oldest change first, skipping superseded changes', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time)
    store.set('p1', 'position', 1)
    const first = store.deltaSince(0)
    expect(first.entries.map((e) => e.value)).toEqual([1])
    store.set('p2', 'position', 2)
    store.set('p1', 'position', 3)
    store.merge([entry('p3', 'aim', 1000, 9, 'b', 5)])
    store.set('p1', 'position', 4)
    const delta = store.deltaSince(first.version)
    expect(delta.entries.map((e) => [e.entity, e.value])).toEqual([
      ['p2', 2],
      ['p3', 5],
      ['p1', 4],
    ])
    expect(delta.version).toBe(5)
    expect(store.deltaSince(delta.version)).toEqual({ entries: [], version: 5 })
    // A watermark from the future (another incarnation of the store) yields nothing new.
    expect(store.deltaSince(99).entries).toEqual([])
    expect(store.deltaSince(-1).entries).toHaveLength(3)
  })

  it('costs what changed, not what is held: registers unchanged since the watermark are not visited', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time, { ttlMs: 60_000 })
    let stampReads = 0
    const counted = (wallMs: number, counter: number): HlcTimestamp =>
      new Proxy({ wallMs, counter, peer: 'b' }, {
        get: (target, key: keyof HlcTimestamp) => {
          stampReads++
          return target[key]
        },
      })
    const held = Array.from({ length: 2000 }, (_, i) => ({ entity: `p${i}`, field: 'position', value: i, stamp: counted(1000, i) }))
    store.merge(held)
    const { version } = store.deltaSince(0)
    store.set('p0', 'aim', 1)
    store.set('p1', 'aim', 2)
    stampReads = 0
    const delta = store.deltaSince(version)
    expect(delta.entries.map((e) => e.value)).toEqual([1, 2])
    expect(stampReads).toBe(0)
  })

  it('leaves expired registers out of deltas and keeps the change list consistent through removals', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time, { ttlMs: 100, maxEntries: 3 })
    store.set('p1', 'position', 1)
    time.now = 1050
    store.set('p2', 'position', 2)
    store.set('p3', 'position', 3)
    time.now = 1100
    expect(store.deltaSince(0).entries.map((e) => e.entity)).toEqual(['p2', 'p3'])
    expect(store.sweep()).toBe(1)
    store.set('p4', 'position', 4)
    store.set('p5', 'position', 5) // evicts p2, the oldest stamp
    expect(store.deltaSince(0).entries.map((e) => e.entity)).toEqual(['p3', 'p4', 'p5'])
    store.set('p3', 'position', 33)
    expect(store.deltaSince(0).entries.map((e) => e.entity)).toEqual(['p4', 'p5', 'p3'])
  })
})

describe('EphemeralStore: bounded memory', () => {
  it('hides registers past their time to live and sweeps them away, oldest first', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time, { ttlMs: 100 })
    store.set('p1', 'position', 1)
    time.now = 1050
    store.set('p2', 'position', 2)
    time.now = 1099
    expect(store.get('p1', 'position')?.value).toBe(1)
    time.now = 1100
    expect(store.get('p1', 'position')).toBeUndefined()
    expect(store.entity('p1')).toEqual({})
    expect(Object.keys(store.entity('p2'))).toEqual(['position'])
    expect(store.size).toBe(2) // held until swept
    expect(store.sweep()).toBe(1)
    expect(store.sweep()).toBe(0)
    expect(store.size).toBe(1)
    expect(store.stats.expired).toBe(1)
    time.now = 1150
    expect(store.sweep()).toBe(1)
    expect(store.size).toBe(0)
    expect(store.stats.expired).toBe(2)
  })

  it('ignores remote registers that arrive already expired, and lets a fresh write replace an expired one', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time, { ttlMs: 100 })
    expect(store.merge([entry('p1', 'position', 900, 0, 'b', 1)])).toEqual([])
    expect(store.stats.expired).toBe(1)
    expect(store.size).toBe(0)
    store.merge([entry('p1', 'position', 950, 0, 'b', 2)])
    time.now = 1060
    expect(store.get('p1', 'position')).toBeUndefined()
    const fresh = entry('p1', 'position', 1055, 0, 'b', 3)
    expect(store.merge([fresh])).toEqual([fresh])
    expect(store.get('p1', 'position')?.value).toBe(3)
    expect(store.size).toBe(1)
  })

  it('caps memory by evicting the oldest-stamped registers, not the most recently written', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time, { maxEntries: 3 })
    store.merge([entry('p1', 'position', 1000, 5, 'b', 1), entry('p2', 'position', 1000, 6, 'b', 2)])
    // Written last, but stamped before both of the others.
    store.merge([entry('p3', 'position', 1000, 1, 'b', 3)])
    store.set('p4', 'position', 4)
    expect(store.size).toBe(3)
    expect(store.stats.evicted).toBe(1)
    expect(store.get('p3', 'position')).toBeUndefined()
    expect(snapshot(store).map((s) => s.split('=')[0])).toEqual(['p1/position', 'p2/position', 'p4/position'])
    // Overwriting a held register needs no room.
    store.merge([entry('p1', 'position', 1000, 9, 'b', 11)])
    expect(store.stats.evicted).toBe(1)
    expect(store.get('p1', 'position')?.value).toBe(11)
  })

  it('refuses, without forwarding, a new register older than everything a full store holds', () => {
    const time = { now: 1000 }
    const { store, hlc } = makeStore('a', time, { maxEntries: 2 })
    store.set('p1', 'position', 1)
    store.set('p2', 'position', 2)
    const before = hlc.peek()
    expect(store.merge([entry('p3', 'position', 999, 0, 'b', 3)])).toEqual([])
    expect(store.stats.evicted).toBe(1)
    expect(store.stats.merged).toBe(0)
    expect(hlc.peek()).toEqual(before)
    expect(store.size).toBe(2)
    // A register evicted later in the same batch is not reported as changed either.
    const a = entry('p5', 'position', 1000, 50, 'b', 5)
    const b = entry('p6', 'position', 1000, 60, 'b', 6)
    const c = entry('p7', 'position', 1000, 70, 'b', 7)
    expect(store.merge([a, b, c])).toEqual([b, c])
    expect(store.size).toBe(2)
  })

  it('stays within the cap under heavy churn, and every read agrees with the held set', () => {
    const time = { now: 1000 }
    const { store } = makeStore('a', time, { maxEntries: 50, ttlMs: 40 })
    for (let i = 0; i < 5000; i++) {
      if (i % 7 === 0) time.now++
      store.set(`p${i % 120}`, i % 3 === 0 ? 'aim' : 'position', i)
      if (i % 500 === 0) store.sweep()
      expect(store.size).toBeLessThanOrEqual(50)
    }
    const live = store.deltaSince(0).entries
    expect(live.length).toBeLessThanOrEqual(50)
    for (const e of live) expect(store.get(e.entity, e.field)).toBe(e)
    store.sweep()
    expect(store.size).toBe(live.length)
  })
})

// --- properties -------------------------------------------------------------------------------

const entities = ['p1', 'p2', 'p3']
const fields = ['position', 'aim']
const peers = ['a', 'b', 'c']

// A real HLC never issues one stamp twice, so a value is a function of its stamp (and register).
const arbitraryEntry: fc.Arbitrary<EphemeralEntry> = fc
  .record({
    entity: fc.constantFrom(...entities),
    field: fc.constantFrom(...fields),
    stamp: fc.record({ wallMs: fc.integer({ min: 1000, max: 1010 }), counter: fc.nat(3), peer: fc.constantFrom(...peers) }),
  })
  .map((e) => ({ ...e, value: `${e.entity}.${e.field}@${stampKey(e.stamp)}` }))

/** The reference model of last-writer-wins: per register, the entry with the highest stamp. */
const lwwModel = (entries: readonly EphemeralEntry[]): Map<string, EphemeralEntry> => {
  const winners = new Map<string, EphemeralEntry>()
  for (const e of entries) {
    const key = `${e.entity}/${e.field}`
    const current = winners.get(key)
    if (!current || compareHlc(e.stamp, current.stamp) > 0) winners.set(key, e)
  }
  return winners
}

const modelSnapshot = (winners: Iterable<EphemeralEntry>) =>
  [...winners].map((e) => `${e.entity}/${e.field}=${JSON.stringify(e.value)}@${stampKey(e.stamp)}`).sort()

/** Cuts a list into consecutive batches at the given cut points. */
const batches = <T>(items: readonly T[], cuts: readonly number[]): T[][] => {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((x, y) => x - y)
  const out: T[][] = []
  let start = 0
  for (const point of [...points, items.length]) {
    out.push(items.slice(start, point))
    start = point
  }
  return out
}

describe('EphemeralStore: properties', () => {
  it('merge is commutative, associative and idempotent: any order, grouping or duplication gives the same state', () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryEntry, { maxLength: 40 }).chain((entries) =>
          fc.tuple(
            fc.constant(entries),
            // Another order of the same entries, with some repeated, cut into batches differently.
            fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }),
            fc.array(fc.nat(), { maxLength: 6 }),
            fc.subarray(entries),
            fc.array(fc.nat(), { maxLength: 6 }),
          ),
        ),
        ([entries, shuffled, cutsA, repeated, cutsB]) => {
          const time = { now: 1005 }
          const one = makeStore('x', time).store
          for (const batch of batches(entries, cutsA)) one.merge(batch)
          const two = makeStore('y', time).store
          for (const batch of batches([...shuffled, ...repeated], cutsB)) two.merge(batch)
          two.merge(entries) // idempotent: merging everything again changes nothing
          expect(snapshot(one)).toEqual(modelSnapshot(lwwModel(entries).values()))
          expect(snapshot(two)).toEqual(snapshot(one))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('under the cap, any merge order keeps the same registers: the newest-stamped winners', () => {
    const uniqueStamped = fc.uniqueArray(arbitraryEntry, { selector: (e) => stampKey(e.stamp), maxLength: 40 })
    fc.assert(
      fc.property(
        uniqueStamped.chain((entries) => fc.tuple(fc.constant(entries), fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }))),
        fc.integer({ min: 1, max: 5 }),
        ([entries, shuffled], cap) => {
          const time = { now: 1005 }
          const one = makeStore('x', time, { maxEntries: cap }).store
          for (const e of entries) one.merge([e])
          const two = makeStore('y', time, { maxEntries: cap }).store
          two.merge(shuffled)
          const expected = [...lwwModel(entries).values()].sort((p, q) => compareHlc(q.stamp, p.stamp)).slice(0, cap)
          expect(snapshot(one)).toEqual(modelSnapshot(expected))
          expect(snapshot(two)).toEqual(snapshot(one))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('replaying deltas since per-connection watermarks between random replicas converges them', () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(3), entity: fc.constantFrom(...entities), field: fc.constantFrom(...fields), value: fc.integer() }),
      fc.record({ kind: fc.constant('sync' as const), from: fc.nat(3), to: fc.nat(3) }),
      fc.record({ kind: fc.constant('tick' as const), at: fc.nat(3), ms: fc.integer({ min: -3, max: 20 }) }),
    )
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        // Each replica has its own, skewed physical clock: the HLCs reconcile them.
        const times = [{ now: 1000 }, { now: 1003 }, { now: 998 }, { now: 1010 }]
        const replicas = times.map((time, i) => makeStore(`r${i}`, time, { ttlMs: 1_000_000 }).store)
        const watermarks = new Map<string, number>()
        const sync = (from: number, to: number) => {
          if (from === to) return
          const key = `${from}->${to}`
          const delta = replicas[from]!.deltaSince(watermarks.get(key) ?? 0)
          replicas[to]!.merge(delta.entries)
          watermarks.set(key, delta.version)
        }
        for (const op of operations) {
          if (op.kind === 'set') replicas[op.at]!.set(op.entity, op.field, op.value)
          else if (op.kind === 'sync') sync(op.from, op.to)
          else times[op.at]!.now = Math.max(0, times[op.at]!.now + op.ms)
        }
        // A final exchange along a ring, twice round, carries every change everywhere.
        for (let round = 0; round < 2; round++) for (let i = 0; i < 4; i++) sync(i, (i + 1) % 4)
        const expected = snapshot(replicas[0]!)
        for (const replica of replicas) expect(snapshot(replica)).toEqual(expected)
        // Nothing is left to send on any watermark that has caught up.
        for (let i = 0; i < 4; i++) expect(replicas[(i + 1) % 4]!.deltaSince(watermarks.get(`${(i + 1) % 4}->${(i + 2) % 4}`)!).entries).toEqual([])
      }),
      { numRuns: 200 },
    )
  })

  it('flooding only what changed terminates and converges on any connected graph, full stores included', () => {
    const graph = fc.integer({ min: 2, max: 6 }).chain((size) =>
      fc.record({
        size: fc.constant(size),
        // A spanning chain keeps the graph connected; extra edges add cycles.
        extra: fc.array(fc.tuple(fc.nat(size - 1), fc.nat(size - 1)), { maxLength: 8 }),
        writes: fc.array(fc.record({ at: fc.nat(size - 1), entity: fc.constantFrom(...entities), field: fc.constantFrom(...fields), value: fc.integer() }), {
          minLength: 1,
          maxLength: 25,
        }),
        cap: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      }),
    )
    fc.assert(
      fc.property(graph, ({ size, extra, writes, cap }) => {
        const time = { now: 1000 }
        const stores = Array.from({ length: size }, (_, i) => makeStore(`n${i}`, time, cap !== undefined ? { maxEntries: cap } : {}).store)
        const neighbours = Array.from({ length: size }, () => new Set<number>())
        const link = (a: number, b: number) => {
          if (a === b) return
          neighbours[a]!.add(b)
          neighbours[b]!.add(a)
        }
        for (let i = 1; i < size; i++) link(i - 1, i)
        for (const [a, b] of extra) link(a, b)
        const queue: Array<{ to: number; from: number; entries: EphemeralEntry[] }> = []
        const broadcast = (from: number, entries: EphemeralEntry[], except?: number) => {
          for (const to of neighbours[from]!) if (to !== except) queue.push({ to, from, entries })
        }
        for (const w of writes) {
          time.now++
          broadcast(w.at, [stores[w.at]!.set(w.entity, w.field, w.value)])
        }
        let deliveries = 0
        while (queue.length > 0) {
          const message = queue.shift()!
          deliveries++
          // Each write can change each store at most once, and is then sent to each neighbour once.
          expect(deliveries).toBeLessThanOrEqual(writes.length * size * size + writes.length * size)
          const changed = stores[message.to]!.merge(message.entries)
          if (changed.length > 0) broadcast(message.to, changed, message.from)
        }
        const expected = snapshot(stores[0]!)
        for (const store of stores) expect(snapshot(store)).toEqual(expected)
        if (cap === undefined) {
          const written = writes.map((_, i) => i)
          expect(expected.length).toBe(new Set(written.map((i) => `${writes[i]!.entity}/${writes[i]!.field}`)).size)
        }
      }),
      { numRuns: 200 },
    )
  })
})
