import Database from 'better-sqlite3'
import fc from 'fast-check'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { createRandom } from '../../core/index.js'
import { epochWireName, Peer, type EpochId } from '../../replication/index.js'
import { databasePath, history, HistoryUnavailableError, openSqliteStore, parseStoredEpochName, verifyStore } from '../../storage/index.js'
import { EPOCH_DOC, epochWorld, TIMES } from './fixtures/epoch-world.js'
import { meta, recordingDoc, tempDataDir } from './fixtures/helpers.js'

const holderAt = (h: ReturnType<typeof history>, timeMs: number) => {
  const state = h.stateAt(EPOCH_DOC, { timeMs })
  return { epoch: state.epoch?.n, holder: (state.content.items as Record<string, { holder: unknown }>).sword?.holder }
}

describe('storage keeps the epoch chain', () => {
  it('reads stored names the way the peer writes them', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 1e6 }), fc.string(), fc.stringMatching(/^[0-9a-f]{64}$/), (doc, n, coordinator, hash) => {
        const id: EpochId = { n, coordinator, hash }
        expect(parseStoredEpochName(epochWireName(doc, id))).toEqual({ doc, n, tag: epochWireName(doc, id).slice(doc.length + 1 + String(n).length + 1) })
        expect(parseStoredEpochName(epochWireName(doc, { n: 0, coordinator: '', hash: '' })).n).toBe(0)
      }),
    )
  })

  it('records each epoch a real peer moves through, and the history tools answer across them', async () => {
    const { store, peers } = await epochWorld()
    const current = peers[1]!.epochOf(EPOCH_DOC)!
    expect(current.n).toBe(3)
    const chain = store.epochChain(EPOCH_DOC)
    expect(chain.map((e) => e.n)).toEqual([0, 1, 2, 3])
    expect(chain[0]!.wire).toBe(EPOCH_DOC)
    expect(chain[3]!.wire).toBe(epochWireName(EPOCH_DOC, current))
    expect(chain[3]!.hash).toBe(current.hash)
    expect(chain[1]!.switchedMs).toBeGreaterThanOrEqual(TIMES.cut1)
    expect(chain[1]!.switchedMs).toBeLessThan(TIMES.moved)
    expect(chain[2]!.switchedMs).toBeGreaterThanOrEqual(TIMES.cut2)
    expect(chain[3]!.switchedMs).toBeGreaterThanOrEqual(TIMES.cut3)
    expect(store.epochAt(EPOCH_DOC, TIMES.chest)?.n).toBe(2)

    const h = history(store)
    // A time in an old epoch is answered from that epoch's own log.
    expect(holderAt(h, TIMES.held + 5)).toEqual({ epoch: 0, holder: { type: 'player', id: 'p1' } })
    expect(holderAt(h, TIMES.moved + 10)).toEqual({ epoch: 1, holder: { type: 'player', id: 'p2' } })
    expect(holderAt(h, TIMES.chest + 10)).toEqual({ epoch: 2, holder: { type: 'container', id: 'chest' } })
    expect(holderAt(h, TIMES.hp + 10).epoch).toBe(3)
        expect((h.show(EPOCH_DOC, { timeMs: TIMES.hp + 10 }).entities as Record<string, { components: unknown }>).p1!.components).toEqual({ health: { hp: 70 } })
    // A sequence stays in the log named: epoch 0's.
    expect(h.stateAt(EPOCH_DOC, { seq: 1 }).epoch).toBeUndefined()
    expect(h.encodedStateAt(EPOCH_DOC, { timeMs: TIMES.moved + 10 }).byteLength).toBeGreaterThan(0)
    expect(h.diff(EPOCH_DOC, { timeMs: TIMES.moved + 10 }, { timeMs: TIMES.chest + 10 })).toEqual([
      { path: 'items/sword/holder/id', kind: 'changed', before: 'p2', after: 'chest' },
      { path: 'items/sword/holder/type', kind: 'changed', before: 'player', after: 'container' },
    ])

    // The trace follows the sword across the chain, and the bases add no step of their own.
    const trace = h.trace(EPOCH_DOC, { item: 'sword' })
    expect(trace.map((s) => [s.epoch?.n, s.change, s.holder?.to])).toEqual([
      [0, 'created', 'none'],
      [0, 'moved', 'player:p1'],
      [1, 'moved', 'player:p2'],
      [2, 'moved', 'container:chest'],
    ])
    expect(trace[2]!.holder?.from).toBe('player:p1')
    expect(trace[2]!.origin).toBe('c')
    const hurt = h.trace(EPOCH_DOC, { entity: 'p1' })
    expect(hurt.map((s) => [s.epoch?.n, s.change])).toEqual([
      [0, 'created'],
      [3, 'changed'],
    ])

    const epochs = h.epochs(EPOCH_DOC)
    expect(epochs.map((e) => [e.n, e.current, e.endMs === undefined])).toEqual([
      [0, false, false],
      [1, false, false],
      [2, false, false],
      [3, true, true],
    ])
    const listed = h.list(EPOCH_DOC)
    expect([...new Set(listed.map((e) => e.epoch?.n))]).toEqual([0, 1, 2, 3])
    // Every later epoch's log starts with its base.
    for (const epoch of chain.slice(1)) expect(listed.find((e) => e.epoch?.wire === epoch.wire)!.seq).toBe(1)
    const window = h.list(EPOCH_DOC, { since: { timeMs: TIMES.moved }, until: { timeMs: TIMES.cut2 - 1 } })
    expect(window.every((e) => e.epoch?.n === 1)).toBe(true)
    expect(window.some((e) => e.description.includes('items/sword'))).toBe(true)
    expect(h.list(EPOCH_DOC, { since: { seq: 1 } }).every((e) => e.epoch === undefined)).toBe(true)

    const verified = await verifyStore(store)
    expect(verified.every((v) => v.ok)).toBe(true)
    expect(verified.find((v) => v.doc === chain[2]!.wire)!.detail).toContain('epoch 2 base hash')
    for (const peer of peers) peer.close()
    await store.close()
  })

  it('a restarted peer finds the chain in storage and rejoins the current epoch without a second record', async () => {
    const { store, peers, dataDir, network, until, scheduler } = await epochWorld()
    const before = store.epochChain(EPOCH_DOC)
    peers[1]!.close()
    network.crash('b')
    await store.close()
    const reopened = openSqliteStore(dataDir, { now: () => scheduler.now() })
    expect(reopened.epochChain(EPOCH_DOC)).toEqual(before)
    const current = reopened.epochChain(EPOCH_DOC).at(-1)!
    expect(current.wire).toBe(epochWireName(EPOCH_DOC, peers[0]!.epochOf(EPOCH_DOC)!))
    // What the current epoch holds is in its own log, base first.
    expect((await reopened.load(current.wire))!.updates.length).toBeGreaterThanOrEqual(2)
    const b = new Peer({
      id: 'b',
      transport: network.endpoint('b', 1),
      clock: scheduler,
      random: createRandom(77),
      antiEntropyIntervalMs: 200,
      epochs: { minBytes: 1 << 30 },
      store: reopened,
    })
    expect(await b.openStoredDocs()).toEqual([])
    b.start()
    network.connectAll()
    until(scheduler.now() + 300)
    expect(b.epochOf(EPOCH_DOC)).toEqual(peers[0]!.epochOf(EPOCH_DOC))
    await b.flushed()
    expect(reopened.epochChain(EPOCH_DOC)).toEqual(before)
    b.close()
    for (const peer of peers) peer.close()
    await reopened.close()
  })
})

describe('retention of closed epochs', () => {
  it('drops closed epochs outside the window, keeps the chain, and says why a time in them has no answer', async () => {
    const { store, peers } = await epochWorld({ retention: { ms: 70 } })
    const chain = store.epochChain(EPOCH_DOC)
    expect(chain.map((e) => e.n)).toEqual([0, 1, 2, 3])
    // b hears of the third cut at ~165 and retires at its next step (t 190): epochs 0 (ended ~45) and
    // 1 (ended ~105) ended before the 70 ms window; epoch 2 (ended ~165, last write ~135) is kept whole.
    expect(chain.map((e) => e.droppedMs !== undefined)).toEqual([true, true, false, false])
    expect(store.stats.epochsDropped).toBe(2)
    expect(store.logInfo(EPOCH_DOC).retainedUpdates).toBe(0)
    const h = history(store)
    expect(() => h.stateAt(EPOCH_DOC, { timeMs: TIMES.held + 5 })).toThrow(HistoryUnavailableError)
    expect(() => h.show(EPOCH_DOC, { timeMs: TIMES.moved + 10 })).toThrow(/epoch 1 .* retention dropped/)
    // The kept window still answers, across the cut inside it.
    expect(holderAt(h, TIMES.chest + 10)).toEqual({ epoch: 2, holder: { type: 'container', id: 'chest' } })
    expect(holderAt(h, TIMES.hp + 10).epoch).toBe(3)
    const trace = h.trace(EPOCH_DOC, { item: 'sword' })
    expect(trace.map((s) => [s.epoch?.n, s.change, s.holder?.to])).toEqual([
      [2, 'present', 'player:p2'],
      [2, 'moved', 'container:chest'],
    ])
    expect(h.epochs(EPOCH_DOC).map((e) => e.droppedMs !== undefined)).toEqual([true, true, false, false])
    expect(h.list(EPOCH_DOC).every((e) => (e.epoch?.n ?? 0) >= 2)).toBe(true)
    // A dropped epoch still loads (empty), so a restart never trips on it; verify accepts it.
    expect(await store.load(EPOCH_DOC)).toEqual({ snapshot: expect.any(Uint8Array), updates: [] })
    const verified = await verifyStore(store)
    expect(verified.every((v) => v.ok)).toBe(true)
    expect(verified.find((v) => v.doc === EPOCH_DOC)!.detail).toContain('dropped by retention')
    for (const peer of peers) peer.close()
    await store.close()
  })

  it('compacts closed epochs inside the window to a final snapshot under policy none, and keeps everything by default', async () => {
    const none = await epochWorld({ retention: 'none' })
    expect(none.store.epochChain(EPOCH_DOC).filter((e) => e.droppedMs !== undefined).map((e) => e.n)).toEqual([0, 1, 2])
    expect(history(none.store).stateAt(EPOCH_DOC, { timeMs: TIMES.hp + 10 }).epoch?.n).toBe(3)
    for (const peer of none.peers) peer.close()
    await none.store.close()

    const all = await epochWorld()
    expect(all.store.epochChain(EPOCH_DOC).every((e) => e.droppedMs === undefined)).toBe(true)
    expect(all.store.stats.epochsDropped).toBe(0)
    await all.store.retireEpochs(EPOCH_DOC)
    expect(all.store.stats.epochsDropped).toBe(0)
    for (const peer of all.peers) peer.close()
    await all.store.close()
  })

  it('snapshots a closed epoch still inside the window, applying the ordinary cut to it', async () => {
    const { store, peers, scheduler } = await epochWorld({ retention: { ms: 1000 } })
    const chain = store.epochChain(EPOCH_DOC)
    expect(chain.every((e) => e.droppedMs === undefined)).toBe(true)
    for (const epoch of chain.slice(0, -1)) expect(store.logInfo(epoch.wire).snapshots.at(-1)?.seq).toBe(store.logInfo(epoch.wire).lastSeq)
    // Once the window has passed them, the next pass drops every closed epoch.
    scheduler.runUntil(scheduler.now() + 2000)
    await store.retireEpochs(EPOCH_DOC)
    expect(store.epochChain(EPOCH_DOC).map((e) => e.droppedMs !== undefined)).toEqual([true, true, true, false])
    for (const peer of peers) peer.close()
    await store.close()
  })

  it('fills the chain of an older database from its stored names', async () => {
    const { store, peers, dataDir } = await epochWorld()
    const before = store.epochChain(EPOCH_DOC)
    for (const peer of peers) peer.close()
    await store.close()
    const db = new Database(databasePath(dataDir))
    db.exec('DROP TABLE epochs')
    db.close()
    const reopened = openSqliteStore(dataDir)
    expect(reopened.epochChain(EPOCH_DOC)).toEqual(before)
    await reopened.close()
  })

  it('keeps both epochs of one number after a fork, in the order held, and a chain whose bases retention dropped', async () => {
    const dir = tempDataDir()
    const store = openSqliteStore(dir, { snapshotEvery: 0 })
    // Each epoch's base holds the whole content, as the peer's bases do.
    const { doc } = recordingDoc()
    const stateWith = (a: number) => {
      doc.getMap('m').set('a', a)
      return Y.encodeStateAsUpdate(doc)
    }
    const [u1, u2, u3] = [stateWith(1), stateWith(2), stateWith(3)]
    const losing = `d#1.${'a'.repeat(16)}`
    const winning = `d#1.${'b'.repeat(16)}`
    await store.append('d', u1, meta(10))
    await store.append(losing, u2, meta(20))
    await store.append(winning, u3, meta(30))
    expect(store.epochChain('d').map((e) => e.wire)).toEqual(['d', losing, winning])
    expect(store.epochAt('d', 25)?.wire).toBe(losing)
    expect(store.epochAt('d', 5)?.wire).toBe('d')
    expect(history(store).stateAt('d', { timeMs: 25 }).content).toEqual({ m: { a: 2 } })
    // Without their base rows, an older database's epochs are still found, hash unknown.
    await store.snapshot(losing)
    await store.close()
    const db = new Database(databasePath(dir))
    db.exec('DROP TABLE epochs')
    db.prepare('DELETE FROM updates WHERE doc = (SELECT id FROM documents WHERE name = ?)').run(losing)
    db.close()
    const reopened = openSqliteStore(dir, { snapshotEvery: 0 })
    const chain = reopened.epochChain('d')
    expect(chain.map((e) => [e.wire, e.hash === ''])).toEqual([
      ['d', true],
      [losing, true],
      [winning, false],
    ])
    expect((await verifyStore(reopened)).find((v) => v.doc === losing)?.detail).toContain('base row dropped by retention')
    await reopened.close()
  })
})
