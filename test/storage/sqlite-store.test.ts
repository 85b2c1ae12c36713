import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom, WorldDoc } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import {
  CorruptRowError,
  databasePath,
  history,
  HistoryUnavailableError,
  openSqliteStore,
  StoreClosedError,
  UnknownDocumentError,
  verifyStore,
} from '../../storage/index.js'
import { ManualClock } from '../helpers/manual-clock.js'

const tempDir = () => mkdtempSync(join(tmpdir(), 'realmsync-store-'))
const meta = (n: number, origin = 'peer-a') => ({ hlc: { wallMs: n, counter: 0, peer: origin }, wallMs: n, origin })

/** A world document whose updates are captured for appending. */
const recordingWorld = () => {
  const doc = new Y.Doc()
  doc.clientID = 7
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  return { world: new WorldDoc(doc), updates, doc }
}

const restore = (loaded: { snapshot: Uint8Array | undefined; updates: readonly Uint8Array[] } | undefined): Y.Doc => {
  const doc = new Y.Doc()
  const parts = loaded ? (loaded.snapshot ? [loaded.snapshot, ...loaded.updates] : [...loaded.updates]) : []
  if (parts.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(parts))
  return doc
}

describe('SqliteDocumentStore', () => {
  it('appends with group commit, resolves after commit, and loads back after reopening', async () => {
    const dir = tempDir()
    const store = openSqliteStore(dir)
    const { world, updates } = recordingWorld()
    for (let i = 0; i < 50; i++) world.createItem(`i${i}`, 'loot')
    await Promise.all(updates.map((u, n) => store.append('world/1', u, meta(n))))
    expect(store.stats.updatesCommitted).toBe(50)
    expect(store.stats.commits).toBeLessThan(50)
    await store.close()
    await store.close()
    await expect(store.append('world/1', updates[0]!, meta(0))).rejects.toBeInstanceOf(StoreClosedError)
    const reopened = openSqliteStore(dir)
    expect(await reopened.listDocuments()).toEqual(['world/1'])
    expect(new WorldDoc(restore(await reopened.load('world/1'))).listItems()).toHaveLength(50)
    expect(await reopened.load('nope')).toBeUndefined()
    // Sequence numbers continue after a restart.
    await reopened.append('world/1', updates[0]!, meta(99))
    expect(reopened.readUpdates('world/1').map((r) => r.seq).slice(-2)).toEqual([50, 51])
    await reopened.close()
  })

  it('snapshots every N updates, loads from the snapshot plus the tail, and honours retention', async () => {
    const store = openSqliteStore('', { inMemory: true, snapshotEvery: 10, retainUpdates: 5, maxBatch: 4, now: () => 1234 })
    const { world, updates, doc } = recordingWorld()
    for (let i = 0; i < 25; i++) world.createEntity(`e${i}`, 'npc', { health: { hp: i } })
    for (const [n, u] of updates.entries()) await store.append('w', u, meta(n))
    await store.flushed()
    const snapshots = store.readSnapshots('w')
    expect(snapshots.length).toBe(1)
    expect(snapshots[0]!.seq).toBeGreaterThanOrEqual(20)
    expect(snapshots[0]!.wallMs).toBe(1234)
    const loaded = await store.load('w')
    expect(loaded?.snapshot).toBeDefined()
    expect(loaded!.updates.length).toBeLessThan(10)
    expect(restore(loaded).getMap('entities').toJSON()).toEqual(doc.getMap('entities').toJSON())
    expect(store.readUpdates('w')[0]!.seq).toBeGreaterThan(1)
    expect(() => history(store).show('w', { seq: 3 })).toThrow(HistoryUnavailableError)
    const manual = await store.snapshot('w')
    expect(manual?.seq).toBe(25)
    expect((await verifyStore(store))[0]).toMatchObject({ doc: 'w', ok: true })
    await store.close()
  })

  it('refuses to load a document with a corrupt or truncated row, naming it, while others load', async () => {
    const dir = tempDir()
    const store = openSqliteStore(dir)
    const { world, updates } = recordingWorld()
    world.createItem('a', 'x')
    world.createItem('b', 'x')
    await store.append('bad', updates[0]!, meta(1))
    await store.append('bad', updates[1]!, meta(2))
    await store.append('good', updates[0]!, meta(1))
    await store.close()
    const db = new Database(databasePath(dir))
    db.prepare("UPDATE updates SET data = substr(data, 1, 3) WHERE seq = 2 AND doc = (SELECT id FROM documents WHERE name = 'bad')").run()
    db.close()
    const reopened = openSqliteStore(dir)
    const error = await reopened.load('bad').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CorruptRowError)
    expect((error as Error).message).toMatch(/document bad: updates row 2 is corrupt/)
    expect(restore(await reopened.load('good')).getMap('items').has('a')).toBe(true)
    const verification = await verifyStore(reopened)
    expect(verification.find((v) => v.doc === 'bad')).toMatchObject({ ok: false })
    expect(verification.find((v) => v.doc === 'good')).toMatchObject({ ok: true })
    await reopened.close()
  })

  it('names an undecodable row whose checksum was forged to match', async () => {
    const dir = tempDir()
    const store = openSqliteStore(dir)
    const { world, updates } = recordingWorld()
    world.createItem('a', 'x')
    await store.append('w', updates[0]!, meta(1))
    await store.close()
    const { crc32 } = await import('node:zlib')
    const garbage = new Uint8Array([5, 200, 1, 9, 9, 9])
    const db = new Database(databasePath(dir))
    db.prepare('UPDATE updates SET data = ?, checksum = ? WHERE seq = 1').run(garbage, crc32(garbage))
    db.close()
    const reopened = openSqliteStore(dir)
    await expect(reopened.load('w')).rejects.toThrow(/updates row 1 is corrupt \(not a decodable Yjs update\)/)
    expect(() => reopened.readUpdates('missing')).toThrow(UnknownDocumentError)
    await reopened.close()
  })

  it('backs a Peer: changes are stored, and a restarted peer comes back with them', async () => {
    const dir = tempDir()
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const store = openSqliteStore(dir)
    const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), store })
    const world = new WorldDoc(peer.openDoc('world/1'))
    world.createItem('sword', 'weapon', { type: 'player', id: 'p1' })
    await peer.flushed()
    peer.close()
    await store.close()
    const store2 = openSqliteStore(dir)
    const restarted = new Peer({ id: 'a', transport: network.endpoint('a2'), clock, random: createRandom(2), store: store2 })
    expect(await restarted.openStoredDocs()).toEqual([])
    expect(new WorldDoc(restarted.getDoc('world/1')!).inventoryOf('p1')).toEqual(['sword'])
    await store2.close()
  })
})

describe('history', () => {
  const seed = async () => {
    const store = openSqliteStore('', { inMemory: true, snapshotEvery: 4 })
    const { world, updates } = recordingWorld()
    world.createItem('sword', 'weapon')
    world.createEntity('p1', 'player', { health: { hp: 100 } })
    world.setItemHolder('sword', { type: 'player', id: 'p1' })
    world.setComponent('p1', 'health', { hp: 70 })
    world.setItemHolder('sword', { type: 'container', id: 'chest' })
    world.removeItem('sword')
    const origins = ['a', 'b', 'a', 'c', 'b', 'a']
    for (const [n, u] of updates.entries()) await store.append('w', u, meta(1000 + n * 10, origins[n]))
    return { store, h: history(store) }
  }

  it('lists each update with time, origin, size and decoded paths', async () => {
    const { store, h } = await seed()
    const entries = h.list('w')
    expect(entries.map((e) => [e.seq, e.origin, e.summary.paths])).toEqual([
      [1, 'a', ['items/sword']],
      [2, 'b', ['entities/p1']],
      [3, 'a', ['items/sword']],
      [4, 'c', ['entities/p1']],
      [5, 'b', ['items/sword']],
      [6, 'a', ['items/sword']],
    ])
    expect(entries[2]!.summary.deletes).toBe(true)
    expect(entries.every((e) => e.bytes > 0)).toBe(true)
    expect(h.list('w', { sinceMs: 1020, untilMs: 1030 }).map((e) => e.seq)).toEqual([3, 4])
    await store.close()
  })

  it('shows the state at a sequence or a time, and diffs two moments', async () => {
    const { store, h } = await seed()
    expect((h.show('w', { seq: 3 }).items as Record<string, unknown>).sword).toEqual({ kind: 'weapon', holder: { type: 'player', id: 'p1' } })
    expect((h.show('w', { timeMs: 1045 }).items as Record<string, unknown>).sword).toEqual({ kind: 'weapon', holder: { type: 'container', id: 'chest' } })
    expect(h.show('w', { seq: 6 }).items).toEqual({})
    expect(h.diff('w', { seq: 2 }, { seq: 4 })).toEqual([
      { path: 'entities/p1/components/health/hp', before: 100, after: 70 },
      { path: 'items/sword/holder/id', before: undefined, after: 'p1' },
      { path: 'items/sword/holder/type', before: 'none', after: 'player' },
    ])
    await store.close()
  })

  it('traces an item holder by holder, and an entity, with origin peers', async () => {
    const { store, h } = await seed()
    expect(h.trace('w', { item: 'sword' }).map((s) => [s.seq, s.origin, JSON.stringify(s.value)])).toEqual([
      [1, 'a', '{"kind":"weapon","holder":{"type":"none"}}'],
      [3, 'a', '{"kind":"weapon","holder":{"type":"player","id":"p1"}}'],
      [5, 'b', '{"kind":"weapon","holder":{"type":"container","id":"chest"}}'],
      [6, 'a', undefined],
    ])
    expect(h.trace('w', { entity: 'p1' }).map((s) => s.seq)).toEqual([2, 4])
    await store.close()
  })
})
