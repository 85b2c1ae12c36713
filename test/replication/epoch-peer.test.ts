import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { contentJson, createRandom, rebuildContent, type DocumentStore } from '../../core/index.js'
import {
  encodeEpochMessage,
  EPOCH_CHANNEL,
  epochWireName,
  GENESIS_EPOCH,
  Peer,
  resolveEpochSettings,
  type EpochOptions,
  type EpochSwitch,
} from '../../replication/index.js'
import { SimNetwork, SimScheduler, uniformLatencyMatrix } from '../../sim/index.js'

const DOC = 'world/test'

const cluster = (count: number, epochs: EpochOptions = { minBytes: 1 << 30 }, extra: { accept?: boolean; holders?: readonly number[] } = {}) => {
  const scheduler = new SimScheduler()
  const network = new SimNetwork(scheduler, createRandom(99), uniformLatencyMatrix(count, 5), { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
  const switches: EpochSwitch[] = []
  const peers = Array.from({ length: count }, (_, i) => {
    const peer = new Peer({
      id: `p${i}`,
      transport: network.endpoint(`p${i}`, i),
      clock: scheduler,
      random: createRandom(i + 1),
      antiEntropyIntervalMs: 200,
      epochs,
      ...(extra.accept ? { acceptDocument: () => true } : {}),
    })
    if (extra.holders === undefined || extra.holders.includes(i)) peer.openDoc(DOC)
    peer.onEpochSwitch((event) => switches.push(event))
    peer.start()
    return peer
  })
  network.connectAll()
  scheduler.runUntil(50)
  const run = (ms: number) => scheduler.runUntil(scheduler.now() + ms)
  const map = (i: number, root = 'm') => (peers[i]!.getDoc(DOC) as Y.Doc).getMap<unknown>(root)
  const contents = () => peers.map((peer) => JSON.stringify(contentJson(peer.getDoc(DOC) as Y.Doc)))
  return { scheduler, network, peers, switches, run, map, contents }
}

describe('document epochs between peers', () => {
  it('moves every replica to the cut epoch with the same content, on a fresh Y.Doc under a new wire name', () => {
    const { peers, switches, run, map, contents } = cluster(3)
    for (let i = 0; i < 300; i++) map(i % 3).set(`k${i % 10}`, i)
    run(100)
    const before = peers[1]!.getDoc(DOC) as Y.Doc
    const sizeBefore = Y.encodeStateAsUpdate(before).length
    expect(peers[2]!.cutEpoch(DOC)).toBe(true)
    run(100)
    const epoch = peers[0]!.epochOf(DOC)!
    expect(epoch.n).toBe(1)
    expect(epoch.coordinator).toBe('p2')
    for (const peer of peers) expect(peer.epochOf(DOC)).toEqual(epoch)
    expect(new Set(contents()).size).toBe(1)
    expect(peers[1]!.getDoc(DOC)).not.toBe(before)
    expect(Y.encodeStateAsUpdate(peers[1]!.getDoc(DOC) as Y.Doc).length).toBeLessThan(sizeBefore / 3)
    expect(switches.filter((s) => s.epoch.n === 1)).toHaveLength(3)
    expect(switches.find((s) => s.cutHere)?.previous).toEqual(GENESIS_EPOCH.id)
    // Every replica hears the coordinator's state vector at the cut: which writes the base holds.
    const cut = switches.find((s) => s.cutHere)!.cut!
    expect(Y.decodeStateVector(cut)).toEqual(Y.decodeStateVector(Y.encodeStateVector(before)))
    for (const s of switches.filter((s) => s.epoch.n === 1)) expect(s.cut).toEqual(cut)
    expect(peers[0]!.docNames()).toEqual([DOC])
    // Writes keep flowing in the new epoch.
    map(0).set('after', 1)
    run(50)
    expect(map(2).get('after')).toBe(1)
    expect(peers[0]!.epochStats()!.switches).toBe(1)
    expect(epochWireName(DOC, epoch)).toContain('#1.')
  })

  it('carries writes made past the cut by their author, once, and refuses the old epoch frames that crossed the switch', () => {
    const { peers, run, map, contents } = cluster(3)
    map(0).set('base', 1)
    map(2).set('doomed', 'x')
    run(50)
    // p1 and p2 write while the cut is in flight: their updates cross the announcement. p2's is a
    // pure delete: no struct, no clock, so the cut's state vector cannot say whether it is in.
    expect(peers[0]!.cutEpoch(DOC)).toBe(true)
    map(1).set('crossing', 'p1')
    map(2).delete('doomed')
    run(200)
    expect(new Set(contents()).size).toBe(1)
    expect(map(0).toJSON()).toEqual({ base: 1, crossing: 'p1' })
    const stats = peers.map((peer) => peer.epochStats()!)
    expect(stats[0]!.staleFrames).toBeGreaterThan(0)
    expect(stats[1]!.carriedWrites + stats[2]!.carriedWrites).toBe(2)
  })

  it('brings a partitioned peer that missed cuts across: its old-epoch writes are refused, then carried by it', () => {
    const { network, peers, run, map, contents } = cluster(3)
    map(0).set('a', 1)
    run(50)
    network.partition([['p0', 'p1'], ['p2']])
    run(20)
    map(2).set('from-p2', 'partitioned')
    const entity = new Y.Map<unknown>()
    entity.set('hp', 5)
    map(2, 'entities').set('orc', entity)
    map(0).set('a', 2)
    peers[0]!.cutEpoch(DOC)
    run(50)
    map(1).set('b', 1)
    peers[0]!.cutEpoch(DOC)
    run(50)
    // p2 edits inside an entity it made before the cut: the nested path is carried too.
    ;(map(2, 'entities').get('orc') as Y.Map<unknown>).set('hp', 4)
    map(2).delete('from-p2')
    map(2).set('late', true)
    expect(peers[2]!.epochOf(DOC)!.n).toBe(0)
    network.heal()
    run(1500)
    expect(peers.map((peer) => peer.epochOf(DOC)!.n)).toEqual([2, 2, 2])
    expect(new Set(contents()).size).toBe(1)
    expect(map(0).toJSON()).toEqual({ a: 2, b: 1, late: true })
    expect(map(1, 'entities').toJSON()).toEqual({ orc: { hp: 4 } })
  })

  it('does not hand the cut to a second peer while the lower-id replica is only briefly away, and does after the grace', () => {
    // The age bound stands in for any bound: p1 would cut as soon as it believed itself coordinator.
    const { network, peers, run, map } = cluster(2, { maxAgeMs: 300, minBytes: 1, checkIntervalMs: 50, coordinatorGraceMs: 2000 })
    map(0).set('a', 1)
    run(100)
    // p1 has heard p0 replicate the document; the link drops (a stalled event loop past a keep-alive).
    network.disconnect('p0', 'p1')
    map(1).set('b', 2)
    run(1000)
    expect(peers[1]!.epochStats()!.cuts).toBe(0)
    network.connect('p0', 'p1')
    map(0).set('c', 3)
    run(200)
    network.disconnect('p0', 'p1')
    map(1).set('d', 4)
    run(1500)
    // Heard again after the reconnect, so the grace counts from the second drop.
    expect(peers[1]!.epochStats()!.cuts).toBe(0)
    run(1000)
    expect(peers[1]!.epochStats()!.cuts).toBeGreaterThan(0)
    expect(peers[1]!.epochOf(DOC)!.coordinator).toBe('p1')
  })

  it('settles forks cut on both sides of a partition on the lower coordinator, keeping both sides writes', () => {
    const { network, peers, run, map, contents, switches } = cluster(4)
    map(0).set('shared', 0)
    run(50)
    network.partition([['p0', 'p1'], ['p2', 'p3']])
    run(20)
    map(1).set('left', 1)
    map(3).set('right', 1)
    expect(peers[0]!.cutEpoch(DOC)).toBe(true)
    expect(peers[2]!.cutEpoch(DOC)).toBe(true)
    run(50)
    map(0).set('left-after', 2)
    map(2).set('right-after', 2)
    expect(peers[2]!.cutEpoch(DOC)).toBe(true)
    run(50)
    map(3).set('right-epoch-2', 3)
    expect(peers[3]!.epochOf(DOC)!.n).toBe(2)
    network.heal()
    run(1500)
    const epochs = peers.map((peer) => peer.epochOf(DOC)!)
    expect(new Set(epochs.map((e) => `${e.n}/${e.coordinator}`)).size).toBe(1)
    expect(epochs[0]!.coordinator).toBe('p0')
    expect(new Set(contents()).size).toBe(1)
    expect(map(0).toJSON()).toEqual({ shared: 0, left: 1, right: 1, 'left-after': 2, 'right-after': 2, 'right-epoch-2': 3 })
    expect(switches.some((s) => s.carried > 0 && s.previous.coordinator === 'p2')).toBe(true)
  })

  it('carries writes an application makes on a replica the document has already left', () => {
    const { peers, run, map } = cluster(2)
    const old = peers[1]!.getDoc(DOC) as Y.Doc
    peers[0]!.cutEpoch(DOC)
    run(50)
    expect(peers[1]!.getDoc(DOC)).not.toBe(old)
    old.getMap('m').set('stale-handle', 1)
    run(50)
    expect(map(0).get('stale-handle')).toBe(1)
    expect(peers[1]!.epochStats()!.retiredReplicaWrites).toBe(1)
  })

  it('cuts on its own when the encoded size passes the bound, or the age bound', () => {
    const { peers, run, map } = cluster(2, { maxSizeRatio: 3, minBytes: 512, checkIntervalMs: 20 })
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50; i++) map(round % 2).set(`k${i % 5}`, round * 100 + i)
      run(10)
    }
    run(100)
    expect(peers[0]!.epochStats()!.cuts).toBeGreaterThan(0)
    expect(peers[1]!.epochStats()!.cuts).toBe(0)
    const encoded = Y.encodeStateAsUpdate(peers[1]!.getDoc(DOC) as Y.Doc).length
    expect(encoded).toBeLessThan(3 * 2 * rebuildContent(peers[1]!.getDoc(DOC) as Y.Doc).update.length + 512)
    const aged = cluster(2, { maxAgeMs: 200, minBytes: 1, checkIntervalMs: 50 })
    aged.map(1).set('x', 1)
    aged.run(400)
    expect(aged.peers[0]!.epochOf(DOC)!.n).toBeGreaterThan(0)
  })

  it('leaves the cut to the lowest peer that holds the document, not the lowest peer connected', () => {
    const { peers, run, map } = cluster(3, { maxSizeRatio: 3, minBytes: 512, checkIntervalMs: 20 }, { holders: [1, 2] })
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) map(1 + (round % 2)).set(`k${i % 5}`, round * 100 + i)
      run(10)
    }
    run(100)
    expect(peers[0]!.getDoc(DOC)).toBeUndefined()
    expect(peers[1]!.epochStats()!.cuts).toBeGreaterThan(0)
    expect(peers[2]!.epochStats()!.cuts).toBe(0)
    expect(peers[2]!.epochOf(DOC)).toEqual(peers[1]!.epochOf(DOC))
  })

  it('opens a document it is offered in a later epoch and catches up', () => {
    const { peers, run, map } = cluster(2, { minBytes: 1 << 30 }, { accept: true, holders: [0] })
    map(0).set('x', 1)
    peers[0]!.cutEpoch(DOC)
    run(300)
    expect(peers[1]!.epochOf(DOC)).toEqual(peers[0]!.epochOf(DOC))
    expect(map(1).get('x')).toBe(1)
  })

  it('refuses forged bases, malformed announcements, epoch names as document names and content it cannot rebuild', () => {
    const { peers, run, map } = cluster(2)
    map(0).set('x', 1)
    run(50)
    const bogusBase = rebuildContent(peers[0]!.getDoc(DOC) as Y.Doc).update
    const link = { id: { n: 1, coordinator: 'p0', hash: 'f'.repeat(64) }, cut: new Uint8Array([0]) }
    peers[0]!.sendChannel('p1', EPOCH_CHANNEL, encodeEpochMessage({ kind: 'announce', doc: DOC, chain: [GENESIS_EPOCH, link], base: bogusBase }))
    peers[0]!.sendChannel('p1', EPOCH_CHANNEL, new Uint8Array([9, 9, 9]))
    run(50)
    expect(peers[1]!.epochStats()!.basesRefused).toBe(1)
    expect(peers[1]!.stats().malformedFrames).toBe(1)
    expect(peers[1]!.epochOf(DOC)!.n).toBe(0)
    expect(() => peers[0]!.openDoc(`${DOC}#1.0123456789abcdef`)).toThrow(/invalid document name/)
    const xml = peers[0]!.openDoc('xml-doc')
    xml.getXmlFragment('x')
    expect(peers[0]!.cutEpoch('xml-doc')).toBe(false)
    expect(peers[0]!.epochStats()!.uncuttableDocuments).toBe(1)
    expect(peers[0]!.cutEpoch('missing')).toBe(false)
  })

  it('stores each epoch under its wire name, base first, and a restarted peer is brought to the current epoch', async () => {
    const scheduler = new SimScheduler()
    const network = new SimNetwork(scheduler, createRandom(5), uniformLatencyMatrix(3, 5), { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
    const logs = new Map<string, Uint8Array[]>()
    const store: DocumentStore = {
      listDocuments: async () => [...logs.keys()],
      load: async (doc) => (logs.has(doc) ? { snapshot: undefined, updates: logs.get(doc)! } : undefined),
      append: async (doc, update) => {
        logs.set(doc, [...(logs.get(doc) ?? []), update])
      },
      close: async () => {},
    }
    const make = (id: string, index: number, withStore: boolean, seed = index + 10) =>
      new Peer({ id, transport: network.endpoint(id, index), clock: scheduler, random: createRandom(seed), epochs: { minBytes: 1 << 30 }, ...(withStore ? { store } : {}) })
    const a = make('a', 0, false)
    let b = make('b', 1, true)
    a.openDoc(DOC)
    b.openDoc(DOC)
    a.start()
    b.start()
    network.connectAll()
    scheduler.runUntil(20)
    b.getDoc(DOC)!.getMap('m').set('before', 1)
    scheduler.runUntil(40)
    a.cutEpoch(DOC)
    scheduler.runUntil(60)
    b.getDoc(DOC)!.getMap('m').set('after', 2)
    scheduler.runUntil(80)
    await b.flushed()
    const wire = epochWireName(DOC, b.epochOf(DOC)!)
    const stored = new Y.Doc()
    Y.applyUpdate(stored, Y.mergeUpdates(logs.get(wire)!))
    expect(stored.getMap('m').toJSON()).toEqual({ before: 1, after: 2 })
    b.close()
    network.crash('b')
    b = make('b', 1, true, 77)
    expect(await b.openStoredDocs()).toEqual([])
    expect(b.docNames()).toEqual([DOC])
    b.start()
    network.connectAll()
    scheduler.runUntil(300)
    expect(b.epochOf(DOC)).toEqual(a.epochOf(DOC))
    expect(b.getDoc(DOC)!.getMap('m').toJSON()).toEqual({ before: 1, after: 2 })
  })

  it('checks its settings', () => {
    expect(() => resolveEpochSettings({ maxSizeRatio: 1 })).toThrow(RangeError)
    expect(() => resolveEpochSettings({ checkIntervalMs: 0 })).toThrow(RangeError)
    expect(() => resolveEpochSettings({ maxAgeMs: -1 })).toThrow(RangeError)
    expect(resolveEpochSettings({}).maxSizeRatio).toBe(4)
  })
})
