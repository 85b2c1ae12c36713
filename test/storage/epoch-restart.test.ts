import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { contentJson, createRandom, type StoredEpoch } from '../../core/index.js'
import { epochWireName, Peer } from '../../replication/index.js'
import { SimNetwork, SimScheduler, uniformLatencyMatrix } from '../../sim/index.js'
import { databasePath, openSqliteStore, StoreWriteError, verifyStore, type SqliteDocumentStore } from '../../storage/index.js'
import { meta, tempDataDir } from './fixtures/helpers.js'

const DOC = 'world/restart'

/** Two peers over the simulator's in-memory network; `a` (the coordinator: lowest id) stores in a real SQLite store. */
const world = () => {
  const scheduler = new SimScheduler()
  const network = new SimNetwork(scheduler, createRandom(11), uniformLatencyMatrix(2, 5), { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
  const dataDir = tempDataDir()
  const openStore = () => openSqliteStore(dataDir, { now: () => scheduler.now() })
  const make = (id: string, index: number, store: SqliteDocumentStore | undefined, seed: number) =>
    new Peer({
      id,
      transport: network.endpoint(id, index),
      clock: scheduler,
      random: createRandom(seed),
      antiEntropyIntervalMs: 200,
      epochs: { minBytes: 1 << 30 },
      ...(store !== undefined ? { store } : {}),
    })
  const run = (ms: number) => scheduler.runUntil(scheduler.now() + ms)
  const map = (peer: Peer) => (peer.getDoc(DOC) as Y.Doc).getMap<unknown>('m')
  /** Peers a and b on the document, connected; a writes `k` and cuts once. */
  const cutOnce = (stores: { readonly a?: SqliteDocumentStore; readonly b?: SqliteDocumentStore }) => {
    const a = make('a', 0, stores.a, 1)
    const b = make('b', 1, stores.b, 2)
    for (const peer of [a, b]) {
      peer.openDoc(DOC)
      peer.start()
    }
    network.connectAll()
    run(20)
    map(a).set('k', 1)
    run(20)
    a.cutEpoch(DOC)
    run(20)
    return { a, b }
  }
  return { scheduler, network, dataDir, openStore, make, run, map, cutOnce }
}

describe('a restarted peer reopens its current epoch from storage', () => {
  it('cuts several times, reopens alone at the same epoch and content, and tells a neighbour left on an older epoch', async () => {
    const { network, openStore, make, run, map } = world()
    const store = openStore()
    const a = make('a', 0, store, 1)
    const b = make('b', 1, undefined, 2)
    for (const peer of [a, b]) {
      peer.openDoc(DOC)
      peer.start()
    }
    network.connectAll()
    run(20)
    map(a).set('a0', 0)
    map(b).set('b0', 0)
    run(30)
    expect(a.cutEpoch(DOC)).toBe(true)
    run(30)
    expect(b.epochOf(DOC)?.n).toBe(1)
    // b is cut off on epoch 1 and keeps writing there; a cuts twice more alone.
    network.partition([['a'], ['b']])
    run(10)
    map(b).set('b-partitioned', 1)
    map(b).set('b0', 'overwritten by b')
    for (const n of [2, 3]) {
      map(a).set(`a${n}`, n)
      map(a).delete('a0')
      run(10)
      expect(a.cutEpoch(DOC)).toBe(true)
      run(10)
    }
    map(a).set('a-after-cut', 4)
    run(10)
    const epoch = a.epochOf(DOC)!
    expect(epoch.n).toBe(3)
    const content = contentJson(a.getDoc(DOC) as Y.Doc)
    await a.flushed()
    a.close()
    network.crash('a')
    await store.close()

    // Reopened with no neighbour: the stored current epoch, its chain, its content.
    const reopenedStore = openStore()
    const stored = (await reopenedStore.loadEpoch(DOC))!
    expect(stored.wire).toBe(epochWireName(DOC, epoch))
    expect(stored.chain.map((link) => link.n)).toEqual([0, 1, 2, 3])
    expect(stored.chain.at(-1)).toMatchObject({ n: 3, coordinator: 'a', hash: epoch.hash })
    const verified = await verifyStore(reopenedStore)
    expect(verified.every((v) => v.ok)).toBe(true)
    expect(verified.find((v) => v.doc === stored.wire)?.detail).toContain('switch record agrees')
    const a2 = make('a', 0, reopenedStore, 3)
    expect(await a2.openStoredDocs()).toEqual([])
    a2.start()
    run(50)
    expect(a2.epochOf(DOC)).toEqual(epoch)
    expect(contentJson(a2.getDoc(DOC) as Y.Doc)).toEqual(content)
    expect(a2.docNames()).toEqual([DOC])
    map(a2).set('a-after-restart', 5)
    run(10)

    // The neighbour comes back on epoch 1: it is told, switches, and carries its own writes once.
    network.heal()
    run(300)
    expect(b.epochOf(DOC)).toEqual(epoch)
    expect(b.epochStats()!.carriedWrites).toBe(2)
    const expected = { a2: 2, a3: 3, 'a-after-cut': 4, 'a-after-restart': 5, b0: 'overwritten by b', 'b-partitioned': 1 }
    expect(map(a2).toJSON()).toEqual(expected)
    expect(map(b).toJSON()).toEqual(expected)
    expect(a2.epochOf(DOC)).toEqual(epoch)
    expect(a2.epochStats()!.switches).toBe(0)

    // A second restart finds the same epoch and everything written since, the carried writes included.
    await a2.flushed()
    a2.close()
    network.crash('a')
    await reopenedStore.close()
    const thirdStore = openStore()
    const a3 = make('a', 0, thirdStore, 4)
    await a3.openStoredDocs()
    expect(a3.epochOf(DOC)).toEqual(epoch)
    expect(map(a3).toJSON()).toEqual(expected)
    a3.close()
    b.close()
    await thirdStore.close()
  })

  it('a reopened peer whose neighbour cut again while it was down holds the newer epoch\'s frames and follows', async () => {
    const { network, openStore, make, run, map, cutOnce } = world()
    const store = openStore()
    // b (with the store) restarts; a coordinates and cuts again while b is down.
    const { a, b } = cutOnce({ b: store })
    map(b).set('b', 1)
    run(20)
    await b.flushed()
    const stale = b.epochOf(DOC)!
    b.close()
    network.crash('b')
    await store.close()
    map(a).set('k', 2)
    a.cutEpoch(DOC)
    map(a).set('after', 3)
    run(20)
    const reopened = openStore()
    const b2 = make('b', 1, reopened, 5)
    await b2.openStoredDocs()
    expect(b2.epochOf(DOC)).toEqual(stale)
    b2.start()
    network.connectAll()
    run(300)
    expect(b2.epochOf(DOC)).toEqual(a.epochOf(DOC))
    expect(b2.epochOf(DOC)!.n).toBe(2)
    expect(map(b2).toJSON()).toEqual({ k: 2, b: 1, after: 3 })
    expect(b2.epochStats()!.staleFrames).toBe(0)
    await b2.flushed()
    expect((await reopened.loadEpoch(DOC))!.wire).toBe(epochWireName(DOC, a.epochOf(DOC)!))
    a.close()
    b2.close()
    await reopened.close()
  })

  it('records the switch and its base in one transaction: a failed commit keeps neither', async () => {
    const dataDir = tempDataDir()
    const store = openSqliteStore(dataDir)
    await store.append('doc', Y.encodeStateAsUpdate(new Y.Doc()), meta(1))
    const base = new Y.Doc()
    base.getMap('m').set('k', 1)
    const update = Y.encodeStateAsUpdate(base)
    const epoch = (n: number, cut: number[]): StoredEpoch => ({
      doc: 'doc',
      wire: `doc#${n}.${'ab'.repeat(8)}`,
      chain: [
        { n: n - 1, coordinator: '', hash: '', cut: new Uint8Array([0]) },
        { n, coordinator: 'a', hash: 'f'.repeat(64), cut: new Uint8Array(cut) },
      ],
      base: update,
    })
    const raw = new Database(databasePath(dataDir))
    raw.exec("CREATE TRIGGER refuse_switch BEFORE UPDATE OF chain ON epochs WHEN NEW.chain IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    await expect(store.saveEpoch(epoch(1, [0]), meta(2))).rejects.toBeInstanceOf(StoreWriteError)
    expect(await store.load('doc#1.abababababababab')).toBeUndefined()
    expect(await store.loadEpoch('doc')).toBeUndefined()
    raw.exec('DROP TRIGGER refuse_switch')
    raw.close()
    await store.saveEpoch(epoch(1, [1, 5, 2]), meta(3))
    expect((await store.load('doc#1.abababababababab'))!.updates).toEqual([update])
    expect(await store.loadEpoch('doc')).toEqual(epoch(1, [1, 5, 2]))
    // Only the current epoch keeps its chain and base.
    await store.saveEpoch(epoch(2, [0]), meta(4))
    expect((await store.loadEpoch('doc'))?.wire).toBe('doc#2.abababababababab')
    // A wire name that is not the tip's is refused.
    await expect(store.saveEpoch({ ...epoch(2, [0]), wire: 'doc' }, meta(5))).rejects.toThrow(/not the wire name/)
    await store.close()
  })

  it('opens a database written before switch records were kept, and its peer starts from epoch 0 as before', async () => {
    const { network, openStore, make, run, map, cutOnce } = world()
    const store = openStore()
    const { a, b } = cutOnce({ a: store })
    await a.flushed()
    a.close()
    network.crash('a')
    const chain = store.epochChain(DOC)
    const dataDir = store.dataDir
    await store.close()
    const raw = new Database(databasePath(dataDir))
    for (const column of ['coordinator', 'cut', 'chain', 'base']) raw.exec(`ALTER TABLE epochs DROP COLUMN ${column}`)
    raw.close()

    const old = openStore()
    expect(old.epochChain(DOC)).toEqual(chain)
    expect(await old.loadEpoch(DOC)).toBeUndefined()
    const a2 = make('a', 0, old, 3)
    expect(await a2.openStoredDocs()).toEqual([])
    expect(a2.epochOf(DOC)?.n).toBe(0)
    a2.start()
    network.connectAll()
    run(300)
    // Brought to the current epoch by its neighbour, and from then on its switches are recorded.
    expect(a2.epochOf(DOC)).toEqual(b.epochOf(DOC))
    await a2.flushed()
    expect((await old.loadEpoch(DOC))?.wire).toBe(epochWireName(DOC, b.epochOf(DOC)!))
    expect(map(a2).toJSON()).toEqual({ k: 1 })
    a2.close()
    b.close()
    await old.close()
  })

  it('refuses a stored switch record whose base is not the tip epoch\'s', async () => {
    const { openStore, make } = world()
    const store = openStore()
    const base = Y.encodeStateAsUpdate(new Y.Doc())
    await store.saveEpoch(
      {
        doc: DOC,
        wire: epochWireName(DOC, { n: 1, coordinator: 'x', hash: 'f'.repeat(64) }),
        chain: [
          { n: 0, coordinator: '', hash: '', cut: new Uint8Array([0]) },
          { n: 1, coordinator: 'x', hash: 'f'.repeat(64), cut: new Uint8Array([0]) },
        ],
        base,
      },
      meta(1),
    )
    // `history verify` says so too: the base row is fine, the switch record names another base.
    const verdict = (await verifyStore(store)).find((v) => v.doc.startsWith(`${DOC}#1.`))
    expect(verdict).toMatchObject({ ok: false, code: 'corrupt-row' })
    expect(verdict?.detail).toMatch(/switch record's chain ends at epoch 1 \(f{64}\), not at this epoch's base/)
    const a = make('a', 0, store, 1)
    const failures = await a.openStoredDocs()
    expect(failures.map((failure) => failure.doc)).toEqual([DOC])
    expect(failures[0]!.error.message).toMatch(/does not match its hash/)
    expect(a.getDoc(DOC)).toBeUndefined()
    a.close()
    await store.close()
  })

  it('has `history verify` check the switch record\'s copy of the base', async () => {
    const dataDir = tempDataDir()
    const store = openSqliteStore(dataDir)
    const content = new Y.Doc()
    content.getMap('m').set('k', 1)
    const base = Y.encodeStateAsUpdate(content)
    const hash = createHash('sha256').update(base).digest('hex')
    const wire = epochWireName(DOC, { n: 1, coordinator: 'a', hash })
    const genesis = { n: 0, coordinator: '', hash: '', cut: new Uint8Array([0]) }
    await store.saveEpoch({ doc: DOC, wire, chain: [genesis, { n: 1, coordinator: 'a', hash, cut: new Uint8Array([0]) }], base }, meta(1))
    expect((await verifyStore(store)).find((v) => v.doc === wire)).toMatchObject({ ok: true })
    const raw = new Database(databasePath(dataDir))
    raw.prepare('UPDATE epochs SET base = ? WHERE wire = ?').run(Buffer.from(Y.encodeStateAsUpdate(new Y.Doc())), wire)
    raw.close()
    const verdict = (await verifyStore(store)).find((v) => v.doc === wire)
    expect(verdict).toMatchObject({ ok: false, code: 'corrupt-row' })
    expect(verdict?.detail).toContain("switch record's copy of the base does not hash to")
    await store.close()
  })
})
