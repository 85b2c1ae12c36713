import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom, WorldDoc } from '../../core/index.js'
import { Peer } from '../../replication/index.js'
import {
  databasePath,
  MissingDataDirError,
  openSqliteStore,
  resolveStoreOptions,
  StoreClosedError,
  StoreWriteError,
  UnsupportedSchemaError,
  UnstorableUpdateError,
} from '../../storage/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { meta, recordingDoc, recordingWorld, restore, tempDataDir } from './fixtures/helpers.js'

/** Rows of a document as another connection sees them: what is committed, nothing else. */
const committedRows = (dir: string, doc: string): number => {
  const db = new Database(databasePath(dir), { readonly: true })
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM updates JOIN documents ON documents.id = updates.doc WHERE documents.name = ?').get(doc) as { n: number }).n
  } finally {
    db.close()
  }
}

describe('SqliteDocumentStore appends', () => {
  it('group-commits concurrent appends and resolves each only once its row is committed', async () => {
    const dir = tempDataDir()
    const store = openSqliteStore(dir)
    const { world, updates } = recordingWorld()
    for (let i = 0; i < 50; i++) world.createItem(`i${i}`, 'loot')
    const seen: number[] = []
    await Promise.all(
      updates.map((u, n) =>
        store.append('world/1', u, meta(n)).then(() => {
          // Visible to a second connection the moment the promise resolves: committed, not just queued.
          seen.push(committedRows(dir, 'world/1'))
        }),
      ),
    )
    expect(Math.min(...seen)).toBe(50)
    expect(store.stats).toMatchObject({ commits: 1, updatesCommitted: 50, largestBatch: 50 })
    await store.close()
    await store.close()
    await expect(store.append('world/1', updates[0]!, meta(0))).rejects.toBeInstanceOf(StoreClosedError)
    await expect(store.listDocuments()).rejects.toBeInstanceOf(StoreClosedError)

    const reopened = openSqliteStore(dir)
    expect(await reopened.listDocuments()).toEqual(['world/1'])
    expect(new WorldDoc(restore(await reopened.load('world/1'))).listItems()).toHaveLength(50)
    expect(await reopened.load('never-stored')).toBeUndefined()
    // Sequence numbers continue after a restart.
    const { doc: other, updates: more } = recordingDoc(99)
    other.getMap('m').set('x', 1)
    await reopened.append('world/1', more[0]!, meta(99))
    expect(reopened.readUpdates('world/1').map((r) => r.seq).slice(-2)).toEqual([50, 51])
    await reopened.close()
  })

  it('bounds each transaction by maxBatch and commits a full batch at once', async () => {
    const store = openSqliteStore('', { durability: 'memory', maxBatch: 7 })
    const { doc, updates } = recordingDoc()
    for (let i = 0; i < 30; i++) doc.getMap('m').set(`k${i}`, i)
    const acks = updates.map((u, n) => store.append('d', u, meta(n)))
    // 30 appends, batches of at most 7: four full batches committed synchronously, two left queued.
    expect(store.stats.updatesCommitted).toBe(28)
    await Promise.all(acks)
    expect(store.stats).toMatchObject({ commits: 5, updatesCommitted: 30, largestBatch: 7 })
    expect(store.readUpdates('d').map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    await store.close()
  })

  it('in sync mode commits every append in its own transaction before returning', async () => {
    const dir = tempDataDir()
    const store = openSqliteStore(dir, { durability: 'sync' })
    const { doc, updates } = recordingDoc()
    doc.getMap('m').set('a', 1)
    doc.getMap('m').set('b', 2)
    const first = store.append('d', updates[0]!, meta(1))
    expect(committedRows(dir, 'd')).toBe(1)
    const second = store.append('d', updates[1]!, meta(2))
    expect(committedRows(dir, 'd')).toBe(2)
    await Promise.all([first, second])
    expect(store.stats.commits).toBe(2)
    expect(store.options.synchronous).toBe('full')
    await store.close()
  })

  it('waits for the commit tick when one is configured, and flushed() commits at once', async () => {
    const store = openSqliteStore('', { durability: 'memory', commitDelayMs: 5 })
    expect(store.options.synchronous).toBe('off')
    const { doc, updates } = recordingDoc()
    doc.getMap('m').set('a', 1)
    doc.getMap('m').set('b', 2)
    const first = store.append('d', updates[0]!, meta(1))
    await new Promise((resolve) => setImmediate(resolve))
    expect(store.stats.commits).toBe(0)
    await first
    expect(store.stats.commits).toBe(1)
    const second = store.append('d', updates[1]!, meta(2))
    await store.flushed()
    expect(store.stats.updatesCommitted).toBe(2)
    await second
    await store.close()
  })

  it('refuses empty and undecodable updates before they reach the log, unless validation is off', async () => {
    const store = openSqliteStore('', { durability: 'memory' })
    await expect(store.append('d', new Uint8Array(0), meta(1))).rejects.toBeInstanceOf(UnstorableUpdateError)
    await expect(store.append('d', new Uint8Array([1, 200, 200, 200]), meta(1))).rejects.toThrow(/update for document d was not stored/)
    expect(store.documentNames()).toEqual([])
    const lenient = openSqliteStore('', { durability: 'memory', validateAppends: false })
    await lenient.append('d', new Uint8Array([1, 200, 200, 200]), meta(1))
    await expect(lenient.load('d')).rejects.toThrow(/updates row 1 is corrupt \(not a decodable Yjs update/)
    await store.close()
    await lenient.close()
  })

  it('rejects a whole failed batch with StoreWriteError and rolls sequence numbers back', async () => {
    const dir = tempDataDir()
    const store = openSqliteStore(dir)
    const { doc, updates } = recordingDoc()
    for (let i = 0; i < 4; i++) doc.getMap('m').set(`k${i}`, i)
    await store.append('d', updates[0]!, meta(1))
    // Another writer takes sequence 2 behind the store's back: the next commit hits the primary key.
    const intruder = new Database(databasePath(dir))
    intruder.prepare('INSERT INTO updates (doc, seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum) SELECT doc, 2, 0, 0, ?, 0, ?, data, 0 FROM updates WHERE seq = 1').run('x', 'x')
    const failed = await Promise.allSettled([store.append('d', updates[1]!, meta(2)), store.append('brand-new', updates[2]!, meta(3))])
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    const error = (failed[0] as PromiseRejectedResult).reason as StoreWriteError
    expect(error).toBeInstanceOf(StoreWriteError)
    expect(error.message).toMatch(/could not commit updates of d, brand-new: .*UNIQUE|PRIMARY/)
    expect(store.documentNames()).toEqual(['d'])
    intruder.prepare('DELETE FROM updates WHERE seq = 2').run()
    intruder.close()
    await store.append('d', updates[1]!, meta(2))
    await store.append('brand-new', updates[2]!, meta(3))
    expect(store.readUpdates('d').map((r) => r.seq)).toEqual([1, 2])
    expect(store.documentNames()).toEqual(['brand-new', 'd'])
    await store.close()
  })

  it('opens only existing data when asked not to create, and refuses another schema version', () => {
    const dir = tempDataDir()
    expect(() => openSqliteStore(dir, { create: false })).toThrow(MissingDataDirError)
    expect(() => openSqliteStore(dir, { create: false })).toThrow(/no realmsync data in/)
    const db = new Database(databasePath(dir))
    db.exec('CREATE TABLE other (x)')
    db.pragma('user_version = 1')
    db.close()
    expect(() => openSqliteStore(dir)).toThrow(UnsupportedSchemaError)
  })

  it('checks its settings', () => {
    expect(() => resolveStoreOptions({ maxBatch: 0 })).toThrow(RangeError)
    expect(() => resolveStoreOptions({ snapshotEvery: -1 })).toThrow(RangeError)
    expect(() => resolveStoreOptions({ retention: { updates: -5 } })).toThrow(/retention.updates/)
    expect(resolveStoreOptions({})).toMatchObject({ durability: 'group', synchronous: 'full', maxBatch: 1000, snapshotEvery: 1000, retention: 'all' })
    expect(resolveStoreOptions({ synchronous: 'normal' }).synchronous).toBe('normal')
  })

  it('backs a Peer: changes are stored, and a restarted peer comes back with them', async () => {
    const dir = tempDataDir()
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const store = openSqliteStore(dir)
    const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), store })
    const world = new WorldDoc(peer.openDoc('world/1'))
    world.createItem('sword', 'weapon', { type: 'player', id: 'p1' })
    await peer.flushed()
    peer.close()
    await store.close()
    const reopened = openSqliteStore(dir)
    const restarted = new Peer({ id: 'a', transport: network.endpoint('a2'), clock, random: createRandom(2), store: reopened })
    expect(await restarted.openStoredDocs()).toEqual([])
    expect(new WorldDoc(restarted.getDoc('world/1') as Y.Doc).inventoryOf('p1')).toEqual(['sword'])
    restarted.close()
    await reopened.close()
  })
})
