import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { createRandom, encodeFrame } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { encodeSyncUpdate, Peer } from '../../replication/index.js'
import { flushMicrotasks, ManualClock } from '../helpers/manual-clock.js'

const makeCluster = (count: number, seed = 1) => {
  const network = new MemoryNetwork()
  const clock = new ManualClock()
  const peers = Array.from({ length: count }, (_, i) => {
    const id = `p${i}`
    return new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(seed + i), antiEntropyIntervalMs: 200 })
  })
  for (const peer of peers) {
    peer.openDoc('world')
    peer.start()
  }
  return { network, clock, peers }
}

const contentOf = (peer: Peer, doc = 'world') => peer.getDoc(doc)!.getMap('m').toJSON()

describe('Peer', () => {
  it('replicates document writes across a fully connected cluster', async () => {
    const { network, clock, peers } = makeCluster(3)
    network.connectAll()
    await clock.advance(10)
    peers[0]!.getDoc('world')!.getMap('m').set('sword', 'p0')
    peers[2]!.getDoc('world')!.getMap('m').set('shield', 'p2')
    await clock.advance(10)
    for (const peer of peers) expect(contentOf(peer)).toEqual({ sword: 'p0', shield: 'p2' })
    expect(peers[0]!.stats().framesSent).toBeGreaterThan(0)
    expect(peers[1]!.connectedPeers().sort()).toEqual(['p0', 'p2'])
  })

  it('carries application channel payloads to the one listener of the channel and survives a throwing listener', async () => {
    const { network, clock, peers } = makeCluster(2)
    network.connectAll()
    await clock.advance(10)
    const heard: Array<[string, number[]]> = []
    const stop = peers[1]!.onChannel('resolvers/claims', (from, payload) => {
      if (payload[0] === 255) throw new Error('bad claim')
      heard.push([from, [...payload]])
    })
    expect(() => peers[1]!.onChannel('resolvers/claims', () => {})).toThrow(/already has a listener/)
    expect(peers[0]!.sendChannel('p1', 'resolvers/claims', new Uint8Array([1, 2]))).toBe(true)
    expect(peers[0]!.sendChannel('p1', 'nobody/listens', new Uint8Array([3]))).toBe(true)
    expect(peers[0]!.sendChannel('p1', 'resolvers/claims', new Uint8Array([255]))).toBe(true)
    expect(peers[0]!.sendChannel('p9', 'resolvers/claims', new Uint8Array([4]))).toBe(false)
    await clock.advance(10)
    expect(heard).toEqual([['p0', [1, 2]]])
    expect(peers[1]!.stats().unheardChannelFrames).toBe(1)
    expect(peers[1]!.stats().malformedFrames).toBe(1)
    stop()
    peers[0]!.sendChannel('p1', 'resolvers/claims', new Uint8Array([5]))
    await clock.advance(10)
    expect(heard).toHaveLength(1)
    expect(peers[1]!.stats().unheardChannelFrames).toBe(2)
    peers[0]!.close()
    expect(peers[0]!.sendChannel('p1', 'resolvers/claims', new Uint8Array([6]))).toBe(false)
  })

  it('forwards along a line topology (flooding) and catches up a late joiner', async () => {
    const { network, clock, peers } = makeCluster(4)
    network.connect('p0', 'p1')
    network.connect('p1', 'p2')
    await clock.advance(5)
    peers[0]!.getDoc('world')!.getMap('m').set('a', 1)
    await clock.advance(5)
    expect(contentOf(peers[2]!)).toEqual({ a: 1 })
    network.connect('p2', 'p3')
    await clock.advance(5)
    expect(contentOf(peers[3]!)).toEqual({ a: 1 })
  })

  it('repairs writes made during a partition once it heals', async () => {
    const { network, clock, peers } = makeCluster(3)
    network.connectAll()
    await clock.advance(5)
    network.disconnect('p0', 'p1')
    network.disconnect('p0', 'p2')
    peers[0]!.getDoc('world')!.getMap('m').set('left', 1)
    peers[1]!.getDoc('world')!.getMap('m').set('right', 2)
    await clock.advance(50)
    expect(contentOf(peers[0]!)).toEqual({ left: 1 })
    network.connectAll()
    await clock.advance(1000)
    for (const peer of peers) expect(contentOf(peer)).toEqual({ left: 1, right: 2 })
  })

  it('replicates ephemeral registers last-writer-wins, also to a peer that connects later', async () => {
    const { network, clock, peers } = makeCluster(3)
    network.connect('p0', 'p1')
    await clock.advance(5)
    peers[0]!.setEphemeral('player1', 'position', [1, 2, 3])
    await clock.advance(1)
    peers[1]!.setEphemeral('player1', 'position', [4, 5, 6])
    await clock.advance(5)
    expect(peers[0]!.ephemeral.get('player1', 'position')?.value).toEqual([4, 5, 6])
    network.connect('p1', 'p2')
    await clock.advance(5)
    expect(peers[2]!.ephemeral.get('player1', 'position')?.value).toEqual([4, 5, 6])
    expect(peers[0]!.stats().ephemeralSent).toBeGreaterThan(0)
  })

  it('opens documents on demand only when allowed', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const a = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1) })
    const b = new Peer({ id: 'b', transport: network.endpoint('b'), clock, random: createRandom(2), acceptDocument: (doc) => doc.startsWith('world/') })
    a.start()
    b.start()
    network.connect('a', 'b')
    await clock.advance(1)
    a.openDoc('world/1').getMap('m').set('k', 1)
    a.openDoc('secret').getMap('m').set('k', 1)
    await clock.advance(5)
    expect(b.docNames()).toEqual(['world/1'])
    await clock.advance(3000)
    expect(b.getDoc('world/1')!.getMap('m').get('k')).toBe(1)
  })

  it('restarts from an initial state with a fresh client id', async () => {
    const { network, clock, peers } = makeCluster(2)
    network.connectAll()
    await clock.advance(5)
    const doc = peers[0]!.getDoc('world')!
    doc.getMap('m').set('x', 1)
    await clock.advance(5)
    const state = Y.encodeStateAsUpdate(doc)
    const restarted = new Peer({ id: 'p0b', transport: network.endpoint('p0b'), clock, random: createRandom(99) })
    const restored = restarted.openDoc('world', state)
    expect(restored.getMap('m').get('x')).toBe(1)
    expect(restored.clientID).not.toBe(doc.clientID)
    expect(restarted.openDoc('world')).toBe(restored)
    expect(() => restarted.openDoc('')).toThrow(/invalid document name/)
  })

  it('drops malformed frames, counts them, and disconnects a peer that keeps sending them', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), maxMalformedFramesPerPeer: 3 })
    peer.openDoc('world').getMap('m').set('x', 1)
    peer.start()
    const evil = network.endpoint('evil')
    network.connect('a', 'evil')
    await clock.advance(1)
    const before = Y.encodeStateAsUpdate(peer.getDoc('world')!)
    evil.send('a', new Uint8Array([1, 99, 0]))
    evil.send('a', new Uint8Array([7]))
    evil.send('a', encodeFrame({ type: 'sync', doc: 'world', payload: encodeSyncUpdate(new Uint8Array([1, 2, 3])) }))
    await clock.advance(1)
    expect(peer.stats().malformedFrames).toBe(3)
    expect(peer.stats().peersDisconnectedForMalformedFrames).toBe(1)
    expect(peer.connectedPeers()).toEqual([])
    expect(Y.encodeStateAsUpdate(peer.getDoc('world')!)).toEqual(before)
  })

  it('never throws and never changes state on fuzzed frames', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), maxMalformedFramesPerPeer: 1_000_000 })
    peer.openDoc('world').getMap('m').set('x', 1)
    peer.start()
    const fuzzer = network.endpoint('fuzzer')
    network.connect('a', 'fuzzer')
    await clock.advance(1)
    const valid = encodeFrame({ type: 'sync', doc: 'world', payload: encodeSyncUpdate(Y.encodeStateAsUpdate(peer.getDoc('world')!)) })
    const mutated = fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([index, byte]) => {
      const copy = valid.slice()
      copy[index] = byte
      return copy
    })
    const truncated = fc.integer({ min: 0, max: valid.length - 1 }).map((length) => valid.slice(0, length))
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated, truncated), async (frame) => {
        const before = Y.encodeStateAsUpdate(peer.getDoc('world')!)
        const malformedBefore = peer.stats().malformedFrames
        fuzzer.send('a', frame)
        await flushMicrotasks()
        if (peer.stats().malformedFrames > malformedBefore) {
          expect(Y.encodeStateAsUpdate(peer.getDoc('world')!)).toEqual(before)
        }
      }),
      { numRuns: 300 },
    )
    expect(peer.stats().malformedFrames).toBeGreaterThan(100)
  })

  it('stops handling frames and timers after close', async () => {
    const { network, clock, peers } = makeCluster(2)
    network.connectAll()
    await clock.advance(5)
    peers[1]!.close()
    peers[1]!.close()
    peers[0]!.getDoc('world')!.getMap('m').set('after', 1)
    await clock.advance(2000)
    expect(peers[1]!.getDoc('world')).toBeUndefined()
  })
})

describe('registerPeerMetrics', () => {
  it('exposes peer counters on a prom-client registry at scrape time', async () => {
    const { Registry } = await import('prom-client')
    const { registerPeerMetrics } = await import('../../replication/index.js')
    const { network, clock, peers } = makeCluster(2)
    network.connectAll()
    await clock.advance(5)
    peers[0]!.getDoc('world')!.getMap('m').set('x', 1)
    peers[0]!.setEphemeral('e', 'position', [1, 2])
    await clock.advance(5)
    const registry = new Registry()
    registerPeerMetrics(peers[1]!, registry)
    const text = await registry.metrics()
    expect(text).toMatch(/realmsync_updates_applied_total\{peer="p1"\} [1-9]/)
    expect(text).toMatch(/realmsync_connected_peers\{peer="p1"\} 1/)
    expect(text).toMatch(/realmsync_ephemeral_registers\{peer="p1"\} 1/)
  })
})

describe('Peer with a DocumentStore', () => {
  /** A map-backed store: a test double at the edge, standing in for storage/. */
  const memoryStore = () => {
    const logs = new Map<string, Uint8Array[]>()
    const origins: string[] = []
    const store: import('../../core/index.js').DocumentStore & { corrupt: Set<string>; origins: string[] } = {
      corrupt: new Set<string>(),
      origins,
      listDocuments: async () => [...logs.keys()],
      load: async (doc) => {
        if (store.corrupt.has(doc)) throw new Error(`document ${doc} row 1 is corrupt`)
        const updates = logs.get(doc)
        return updates ? { snapshot: undefined, updates } : undefined
      },
      append: async (doc, update, meta) => {
        await Promise.resolve()
        if (!logs.has(doc)) logs.set(doc, [])
        logs.get(doc)!.push(update)
        origins.push(meta.origin)
      },
      close: async () => {},
    }
    return store
  }

  it('stores local and remote changes and restores them after a restart', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const store = memoryStore()
    const a = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), store })
    const b = new Peer({ id: 'b', transport: network.endpoint('b'), clock, random: createRandom(2) })
    a.openDoc('world').getMap('m').set('local', 1)
    b.openDoc('world').getMap('m').set('remote', 2)
    a.start()
    b.start()
    network.connect('a', 'b')
    await clock.advance(5)
    await a.flushed()
    expect(a.stats().storeAppends).toBe(2)
    expect(new Set(store.origins)).toEqual(new Set(['a', 'b']))
    a.close()
    const restarted = new Peer({ id: 'a', transport: network.endpoint('a2'), clock, random: createRandom(3), store })
    expect(await restarted.openStoredDocs()).toEqual([])
    expect(restarted.getDoc('world')!.getMap('m').toJSON()).toEqual({ local: 1, remote: 2 })
    expect(await restarted.openStoredDoc('world')).toBe(restarted.getDoc('world'))
    expect((await restarted.openStoredDoc('fresh')).getMap('m').size).toBe(0)
  })

  it('refuses to open a document whose stored rows are corrupt, and opens the rest', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const store = memoryStore()
    const a = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), store })
    a.openDoc('good').getMap('m').set('x', 1)
    a.openDoc('bad').getMap('m').set('x', 1)
    await a.flushed()
    store.corrupt.add('bad')
    const b = new Peer({ id: 'b', transport: network.endpoint('b'), clock, random: createRandom(2), store })
    const failures = await b.openStoredDocs()
    expect(failures.map((f) => f.doc)).toEqual(['bad'])
    expect(b.docNames()).toEqual(['good'])
  })

  it('counts failed writes without throwing', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const store = memoryStore()
    store.append = async () => {
      throw new Error('disk full')
    }
    const a = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), store })
    a.openDoc('world').getMap('m').set('x', 1)
    await a.flushed()
    expect(a.stats().storeFailures).toBe(1)
    const none = new Peer({ id: 'n', transport: network.endpoint('n'), clock, random: createRandom(1) })
    expect(await none.openStoredDocs()).toEqual([])
  })
})
