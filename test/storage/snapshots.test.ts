import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WorldDoc } from '../../core/index.js'
import {
  CorruptRowError,
  documentJson,
  history,
  HistoryUnavailableError,
  openSqliteStore,
  retentionCut,
  verifyStore,
  type Retention,
  type SnapshotInfo,
} from '../../storage/index.js'
import { meta, recordingDoc, recordingWorld, restore, tempDataDir } from './fixtures/helpers.js'

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const info = (seq: number, wallMs = seq): SnapshotInfo => ({ seq, wallMs, createdMs: 0, bytes: 0 })

describe('snapshots', () => {
  it('are taken every N updates in the background, and load returns the latest plus the tail', async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 10, snapshotTailRatio: 0 })
    const { world, doc, updates } = recordingWorld()
    for (let i = 0; i < 25; i++) world.createEntity(`e${i}`, 'npc', { health: { hp: i } })
    for (const [n, u] of updates.entries()) {
      await store.append('w', u, meta(n))
      await macrotask()
    }
    expect(store.logInfo('w').snapshots.map((s) => s.seq)).toEqual([10, 20])
    const loaded = await store.load('w')
    expect(loaded?.snapshot).toBeDefined()
    expect(loaded?.updates).toHaveLength(5)
    expect(documentJson(restore(loaded))).toEqual(documentJson(doc))
    expect(await store.snapshot('w')).toMatchObject({ seq: 25 })
    // Nothing new since: asking again returns the same snapshot.
    expect((await store.snapshot('w'))?.seq).toBe(25)
    expect((await store.load('w'))?.updates).toHaveLength(0)
    await store.close()
  })

  it('store the garbage-collected state, smaller than the overwrites they cover', async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 0 })
    const { doc, updates } = recordingDoc()
    for (let i = 0; i < 500; i++) doc.getMap('m').set(`k${i % 5}`, 'x'.repeat(100) + i)
    await Promise.all(updates.map((u, n) => store.append('w', u, meta(n))))
    const snapshot = await store.snapshot('w')
    const logBytes = updates.reduce((sum, u) => sum + u.byteLength, 0)
    expect(snapshot?.bytes).toBeLessThan(logBytes / 10)
    expect(restore(await store.load('w')).getMap('m').toJSON()).toEqual(doc.getMap('m').toJSON())
    await store.close()
  })

  it('wait until the tail is a fair share of the snapshot size', async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 5, snapshotTailRatio: 0.5 })
    const { doc, updates } = recordingDoc()
    doc.getMap('big').set('blob', 'y'.repeat(5000))
    await store.append('w', updates[0]!, meta(0))
    await store.snapshot('w')
    for (let i = 0; i < 20; i++) doc.getMap('m').set(`k${i}`, i)
    for (const [n, u] of updates.slice(1).entries()) {
      await store.append('w', u, meta(n + 1))
      await macrotask()
    }
    // 20 small updates are far below half of a 5 KB snapshot: no automatic snapshot yet.
    expect(store.stats.snapshots).toBe(1)
    await store.close()
  })

  it('are taken inline when a busy caller starves the background task, and when closing', async () => {
    const dir = tempDataDir()
    const store = openSqliteStore(dir, { snapshotEvery: 10, snapshotTailRatio: 0, maxBatch: 5 })
    const { doc, updates } = recordingDoc()
    for (let i = 0; i < 40; i++) doc.getMap('m').set(`k${i}`, i)
    // All appends in one synchronous burst: full batches commit at once and no macrotask runs between them.
    const acks = updates.map((u, n) => store.append('w', u, meta(n)))
    expect(store.stats.snapshots).toBeGreaterThan(0)
    await Promise.all(acks)
    const before = store.stats.snapshots
    const { doc: other, updates: more } = recordingDoc(8)
    for (let i = 0; i < 12; i++) other.getMap('m').set(`z${i}`, i)
    // Ten commit at once and make a snapshot due; close commits the last two and takes the snapshot.
    const pending = more.map((u, n) => store.append('v', u, meta(n)))
    await store.close()
    await Promise.all(pending)
    expect(store.stats.snapshots).toBeGreaterThan(before)
    const reopened = openSqliteStore(dir)
    expect(reopened.logInfo('v').snapshots.map((s) => s.seq)).toEqual([12])
    await reopened.close()
  })

  it('keep updates Yjs is still waiting on: an update logged before its dependency survives compaction', async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 0, retention: 'none' })
    const { doc, updates } = recordingDoc()
    doc.getMap('m').set('a', 1)
    doc.getMap('m').set('b', 2)
    await store.append('w', updates[1]!, meta(1))
    await store.snapshot('w')
    await store.append('w', updates[0]!, meta(2))
    await store.snapshot('w')
    expect(restore(await store.load('w')).getMap('m').toJSON()).toEqual({ a: 1, b: 2 })
    expect(store.logInfo('w')).toMatchObject({ retainedUpdates: 0, historyStartSeq: 2 })
    await store.close()
  })

  it('report a corrupt document in the background and carry on with the others', async () => {
    const errors: Error[] = []
    const store = openSqliteStore('', { durability: 'memory', validateAppends: false, snapshotEvery: 2, snapshotTailRatio: 0, onBackgroundError: (e) => errors.push(e) })
    const { doc, updates } = recordingDoc()
    doc.getMap('m').set('a', 1)
    doc.getMap('m').set('b', 2)
    await store.append('bad', updates[0]!, meta(1))
    await store.append('bad', new Uint8Array([3, 1, 2, 3]), meta(2))
    await store.append('good', updates[0]!, meta(1))
    await store.append('good', updates[1]!, meta(2))
    await macrotask()
    await macrotask()
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(CorruptRowError)
    expect(errors[0]?.message).toMatch(/document bad: updates row 2 is corrupt/)
    expect(store.stats.backgroundErrors).toBe(1)
    expect(store.logInfo('good').snapshots).toHaveLength(1)
    // A corrupt document is not retried automatically.
    await store.append('bad', updates[1]!, meta(3))
    await store.append('bad', updates[1]!, meta(4))
    await macrotask()
    expect(store.stats.backgroundErrors).toBe(1)
    await store.close()
  })
})

describe('retention', () => {
  it('cuts only at snapshots, keeping at least the requested updates and time', () => {
    const snaps = [info(10, 100), info(20, 200), info(30, 300), info(40, 400)]
    expect(retentionCut('all', snaps, 1000)).toBe(0)
    expect(retentionCut('none', snaps, 1000)).toBe(40)
    expect(retentionCut('none', [], 1000)).toBe(0)
    expect(retentionCut({ updates: 15 }, snaps, 1000)).toBe(20)
    expect(retentionCut({ updates: 100 }, snaps, 1000)).toBe(0)
    expect(retentionCut({ ms: 750 }, snaps, 1000)).toBe(20)
    expect(retentionCut({ updates: 5, ms: 650 }, snaps, 1000)).toBe(30)
    expect(retentionCut({}, snaps, 1000)).toBe(40)
  })

  it("'none' drops every covered update; older moments then raise HistoryUnavailableError", async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 0, retention: 'none' })
    const { world, doc, updates } = recordingWorld()
    for (let i = 0; i < 6; i++) world.createItem(`i${i}`, 'loot')
    for (const [n, u] of updates.entries()) await store.append('w', u, meta(n))
    await store.snapshot('w')
    expect(store.logInfo('w')).toMatchObject({ lastSeq: 6, retainedUpdates: 0, historyStartSeq: 6 })
    expect(store.stats.updatesDropped).toBe(6)
    expect(documentJson(restore(await store.load('w')))).toEqual(documentJson(doc))
    expect(documentJson(doc).entities).toBeUndefined()
    expect(() => history(store).show('w', { seq: 3 })).toThrow(HistoryUnavailableError)
    expect(() => history(store).show('w', { seq: 3 })).toThrow(/dropped by retention/)
    expect(Object.keys(history(store).show('w', { seq: 6 }).items as object)).toHaveLength(6)
    await store.close()
  })

  it('by time uses the injected clock', async () => {
    let now = 0
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 0, retention: { ms: 1000 }, now: () => now })
    const { doc, updates } = recordingDoc()
    for (let i = 0; i < 6; i++) doc.getMap('m').set(`k${i}`, i)
    for (const [n, u] of updates.slice(0, 3).entries()) await store.append('w', u, meta(n * 100))
    await store.snapshot('w')
    for (const [n, u] of updates.slice(3).entries()) await store.append('w', u, meta(5000 + n))
    now = 5010
    await store.snapshot('w')
    // The first snapshot covers updates stamped 0..200, more than 1 s before now: they go.
    expect(store.logInfo('w')).toMatchObject({ firstRetainedSeq: 4, historyStartSeq: 3 })
    expect(store.logInfo('w').snapshots.map((s) => s.seq)).toEqual([3, 6])
    await store.close()
  })

  it('property: whatever the retention, load and every kept moment agree with the writer', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('move' as const), id: fc.integer({ min: 0, max: 5 }), player: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('hp' as const), id: fc.integer({ min: 0, max: 3 }), hp: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ kind: fc.constant('snapshot' as const) }),
    )
    const retention = fc.oneof(
      fc.constant<Retention>('all'),
      fc.constant<Retention>('none'),
      fc.record({ updates: fc.integer({ min: 0, max: 8 }) }).map((r): Retention => r),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), retention, fc.integer({ min: 0, max: 6 }), async (ops, policy, every) => {
        const store = openSqliteStore('', { durability: 'memory', snapshotEvery: every, snapshotTailRatio: 0, retention: policy, maxBatch: 3 })
        const { world, updates, doc } = recordingWorld()
        // The content right after each update, as the writer saw it.
        const states: unknown[] = [documentJson(doc)]
        doc.on('update', () => states.push(documentJson(doc)))
        for (const o of ops) {
          const before = updates.length
          if (o.kind === 'create' && !world.hasItem(`i${o.id}`)) world.createItem(`i${o.id}`, 'loot')
          else if (o.kind === 'move' && world.hasItem(`i${o.id}`)) world.setItemHolderUnversioned(`i${o.id}`, { type: 'player', id: `p${o.player}` })
          else if (o.kind === 'hp') {
            if (!world.hasEntity(`e${o.id}`)) world.createEntity(`e${o.id}`, 'npc')
            world.setComponent(`e${o.id}`, 'health', { hp: o.hp })
          } else if (o.kind === 'snapshot') await store.snapshot('w').catch(() => undefined)
          for (const [k, u] of updates.slice(before).entries()) await store.append('w', u, meta(before + k))
          await macrotask()
        }
        if (states.length === 1) return
        expect(documentJson(restore(await store.load('w')))).toEqual(documentJson(doc))
        const { historyStartSeq, lastSeq } = store.logInfo('w')
        if (policy === 'all') expect(historyStartSeq).toBe(0)
        for (let seq = historyStartSeq; seq <= lastSeq; seq++) expect(history(store).show('w', { seq })).toEqual(states[seq])
        expect((await verifyStore(store)).every((v) => v.ok)).toBe(true)
        await store.close()
      }),
      { numRuns: 30 },
    )
  })
})

describe('WorldDoc round trip', () => {
  it('a world document comes back with its inventories', async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 3, snapshotTailRatio: 0 })
    const { world, updates } = recordingWorld()
    world.createItem('sword', 'weapon', { type: 'player', id: 'p1' })
    world.createItem('shield', 'armour', { type: 'container', id: 'chest' })
    world.setItemHolderUnversioned('shield', { type: 'player', id: 'p1' })
    world.createEntity('p1', 'player', { health: { hp: 10 } })
    for (const [n, u] of updates.entries()) await store.append('w', u, meta(n))
    await store.close()
    await expect(store.load('w')).rejects.toThrow(/closed/)
    const fresh = openSqliteStore('', { durability: 'memory' })
    for (const [n, u] of updates.entries()) await fresh.append('w', u, meta(n))
    const restored = new WorldDoc(restore(await fresh.load('w')))
    expect(restored.inventoryOf('p1')).toEqual(['shield', 'sword'])
    expect(new Y.Doc()).toBeDefined()
    await fresh.close()
  })
})
