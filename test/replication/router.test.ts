import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom, decodeFrame, encodeFrame, FrameDecodeError, type WireMessage } from '../../core/index.js'
import {
  buildTree,
  coordinateDistance,
  initialCoordinate,
  LatencyMap,
  Peer,
  resolveRouterSettings,
  RttEstimator,
  updateCoordinate,
} from '../../replication/index.js'
import { BUILTIN_SCENARIOS, parseScenario, runScenario, SimNetwork, SimScheduler, uniformLatencyMatrix } from '../../sim/index.js'

describe('RttEstimator', () => {
  it('smooths samples as RFC 6298 does and measures loss over a window', () => {
    const e = new RttEstimator()
    expect(e.up).toBe(false)
    expect(e.oneWayMs()).toBeUndefined()
    expect(e.timeoutMs()).toBe(1000)
    e.sample(100)
    expect(e.srtt).toBe(100)
    expect(e.rttvar).toBe(50)
    e.sample(200)
    expect(e.srtt).toBeCloseTo(112.5)
    expect(e.rttvar).toBeCloseTo(62.5)
    expect(e.oneWayMs()).toBeCloseTo(56.25)
    expect(e.timeoutMs()).toBeCloseTo(112.5 + 4 * 62.5)
    expect(e.up).toBe(true)
    for (let i = 0; i < 20; i++) (i % 4 === 0 ? e.lost() : e.sample(100))
    expect(e.lossRate).toBeCloseTo(0.25)
    expect(e.oneWayLoss()).toBeCloseTo(1 - Math.sqrt(0.75))
    expect(e.probes).toBe(20)
  })

  it('calls a silent link down, later on a lossy one, and up again on an answer', () => {
    const clean = new RttEstimator()
    clean.sample(10)
    clean.lost()
    clean.lost()
    expect(clean.up).toBe(true)
    clean.lost()
    expect(clean.up).toBe(false)
    clean.sample(10)
    expect(clean.up).toBe(true)
    const lossy = new RttEstimator()
    for (let i = 0; i < 20; i++) (i % 2 === 0 ? lossy.lost() : lossy.sample(10))
    for (let i = 0; i < 3; i++) lossy.lost()
    expect(lossy.up).toBe(true)
    for (let i = 0; i < 10; i++) lossy.lost()
    expect(lossy.up).toBe(false)
  })
})

describe('Vivaldi coordinates', () => {
  it('learn the latencies of a metric layout', () => {
    const truth = [
      { x: 0, y: 0 },
      { x: 40, y: 0 },
      { x: 0, y: 30 },
      { x: 80, y: 60 },
    ]
    const ms = (a: number, b: number) => Math.hypot(truth[a]!.x - truth[b]!.x, truth[a]!.y - truth[b]!.y) + 1
    const coords = truth.map(() => initialCoordinate())
    const random = createRandom(3)
    for (let round = 0; round < 400; round++) {
      const a = random.int(0, 3)
      const b = (a + random.int(1, 3)) % 4
      coords[a] = updateCoordinate(coords[a]!, coords[b]!, ms(a, b), random.next())
    }
    for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) expect(Math.abs(coordinateDistance(coords[a]!, coords[b]!) - ms(a, b)) / ms(a, b)).toBeLessThan(0.2)
    expect(updateCoordinate(coords[0]!, coords[1]!, Number.NaN, 0)).toBe(coords[0])
  })
})

describe('LatencyMap', () => {
  it('averages both directions in buckets, marks down links, falls back to coordinates', () => {
    const map = new LatencyMap()
    expect(map.oneWay('a', 'a')).toBe(0)
    expect(map.oneWay('a', 'b', 77)).toBe(77)
    map.coordinate('a', { x: 0, y: 0, height: 1, error: 0.1 })
    map.coordinate('b', { x: 30, y: 40, height: 1, error: 0.1 })
    expect(map.oneWay('a', 'b')).toBeCloseTo(52, -1)
    const version = map.version
    map.report('a', [{ peer: 'b', oneWayMs: 20 }])
    expect(map.version).toBeGreaterThan(version)
    map.report('b', [{ peer: 'a', oneWayMs: 22 }])
    expect(map.oneWay('a', 'b')).toBeCloseTo(21, -0.5)
    const stable = map.version
    map.report('b', [{ peer: 'a', oneWayMs: 21.8 }])
    expect(map.version).toBe(stable)
    map.report('b', [{ peer: 'a', oneWayMs: null }])
    expect(map.oneWay('b', 'a')).toBe(Infinity)
    map.forget('b')
    expect(map.oneWay('a', 'b')).toBeCloseTo(20, -0.5)
  })
})

describe('buildTree', () => {
  const layout = fc.record({
    n: fc.integer({ min: 1, max: 30 }),
    fanout: fc.integer({ min: 1, max: 6 }),
    rootFanout: fc.integer({ min: 1, max: 12 }),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    down: fc.double({ min: 0, max: 0.3, noNaN: true }),
  })
  it('reaches every reachable member once, within fan-out, in arrival order, the same from any member order', () => {
    fc.assert(
      fc.property(layout, ({ n, fanout, rootFanout, seed, down }) => {
        const random = createRandom(seed)
        const ids = Array.from({ length: n }, (_, i) => `p${i}`)
        const ms = new Map<string, number>()
        for (const a of ids) for (const b of ids) if (a < b) ms.set(`${a}|${b}`, random.chance(down) ? Infinity : 1 + random.int(0, 100))
        const latency = (a: string, b: string) => (a === b ? 0 : (ms.get(a < b ? `${a}|${b}` : `${b}|${a}`) as number))
        const tree = buildTree('p0', ids, latency, fanout, rootFanout)
        const shuffled = buildTree('p0', [...ids].reverse(), latency, fanout, rootFanout)
        expect([...shuffled.children.entries()].sort()).toEqual([...tree.children.entries()].sort())
        const seen = new Set<string>(['p0'])
        for (const [parent, children] of tree.children) {
          expect(children.length).toBeLessThanOrEqual(parent === 'p0' ? rootFanout : fanout)
          for (const child of children) {
            expect(seen.has(child) || child === 'p0').toBe(false)
            seen.add(child)
            expect(tree.arrival.get(child)).toBeCloseTo((tree.arrival.get(parent) as number) + latency(parent, child))
          }
        }
        expect(seen.size).toBe(tree.arrival.size)
        if (down === 0) expect(seen.size).toBe(n)
      }),
      { numRuns: 200 },
    )
  })
})

describe('router settings and messages', () => {
  it('fills defaults and refuses nonsense', () => {
    expect(resolveRouterSettings({ kind: 'latency' })).toMatchObject({ d: 6, dLow: 4, dHigh: 12, rootFanout: 12, redundancy: 'adaptive' })
    expect(() => resolveRouterSettings({ kind: 'latency', d: 0 })).toThrow(RangeError)
    expect(() => resolveRouterSettings({ kind: 'latency', d: 6, dLow: 7 })).toThrow(/dLow <= d <= dHigh/)
    expect(() => resolveRouterSettings({ kind: 'latency', graftTimeoutMs: 0 })).toThrow(RangeError)
    expect(() => resolveRouterSettings({ kind: 'latency', redundancy: 9 })).toThrow(RangeError)
    expect(() => resolveRouterSettings({ kind: 'nope' as 'flood' })).toThrow(/unknown router/)
  })

  it('encodes gossip, digest, pull, ping and pong frames and refuses truncated ones', () => {
    const messages: WireMessage[] = [
      { type: 'gossip', doc: 'world/1', origin: 'peer-1', seq: 7, tree: 1, sentAt: 1234.5, update: new Uint8Array([1, 2, 3]) },
      { type: 'digest', doc: 'world/1', ranges: [{ client: 1, from: 5, to: 8 }, { client: 2 ** 32 - 1, from: 0, to: 1 }] },
      { type: 'pull', doc: 'world/1', ranges: [{ client: 9, from: 300, to: 301 }] },
      { type: 'ping', nonce: 3, coordinate: { x: 1.5, y: -2, height: 0.5, error: 0.3 }, full: true, links: [{ peer: 'a', oneWayMs: 12.3 }, { peer: 'b', oneWayMs: null }] },
      { type: 'ping', nonce: 4, coordinate: { x: 1.5, y: -2, height: 0.5, error: 0.3 }, full: false, links: [] },
      { type: 'pong', nonce: 3, coordinate: { x: 0, y: 0, height: 0.05, error: 1 } },
    ]
    for (const message of messages) {
      const frame = encodeFrame(message)
      expect(decodeFrame(frame)).toEqual(message)
      for (let cut = 1; cut < frame.length; cut++) expect(() => decodeFrame(frame.subarray(0, cut))).toThrow(FrameDecodeError)
    }
    expect(() => encodeFrame({ type: 'gossip', doc: 'd', origin: 'o', seq: -1, tree: 0, sentAt: 0, update: new Uint8Array() })).toThrow(FrameDecodeError)
    expect(() => encodeFrame({ type: 'pong', nonce: 1, coordinate: { x: Number.NaN, y: 0, height: 0, error: 0 } })).toThrow(FrameDecodeError)
    // The report-kind byte is 0 or 1; anything else is a malformed frame, not a third kind.
    const ping = encodeFrame({ type: 'ping', nonce: 1, coordinate: { x: 0, y: 0, height: 0, error: 0 }, full: true, links: [] })
    const kindAt = ping.length - 2
    expect(ping[kindAt]).toBe(1)
    const garbled = Uint8Array.from(ping)
    garbled[kindAt] = 2
    expect(() => decodeFrame(garbled)).toThrow(/ping report kind 2/)
  })
})

describe('the latency router on the simulator', () => {
  const regions = (peers: number, overrides: Record<string, unknown> = {}) =>
    parseScenario({ ...BUILTIN_SCENARIOS.regions, peers, workload: { updatesPerSecond: 100, durationMs: 3000, ephemeralPerSecond: 0, startMs: 1500 }, ...overrides })

  it('delivers near the direct latency at about one update message per peer, where a random mesh needs D', () => {
    const latency = runScenario(regions(20), { seed: 4, router: 'latency' })
    const random = runScenario(regions(20), { seed: 4, router: 'random' })
    expect(latency.converged && random.converged).toBe(true)
    expect(latency.undeliveredWrites).toBe(0)
    expect(latency.messagesPerUpdatePerPeer).toBeLessThan(1.3)
    expect(random.messagesPerUpdatePerPeer).toBeGreaterThan(4)
    expect(latency.stretch.p99).toBeLessThan(random.stretch.p99)
    expect(latency.stretch.p50).toBeLessThan(1.1)
    expect(latency.routerStats.eagerSent).toBeGreaterThan(0)
    // Digests name each update to a bounded number of peers (the near window of 6 and lazyFanout
    // far ones), not to every peer as state-vector deltas did: per update per peer at most 10 ranges.
    expect(latency.routerStats.digestRanges).toBeGreaterThan(0)
    expect(latency.routerStats.digestRanges!).toBeLessThanOrEqual(10 * latency.updates * 20)
  })

  it('loses nothing under 20% loss, using redundant trees and repairs', () => {
    const report = runScenario(regions(12, { link: { jitterMs: 0.5, loss: 0.2, duplicate: 0, reorder: false } }), { seed: 9, router: 'latency' })
    expect(report.converged).toBe(true)
    expect(report.undeliveredWrites).toBe(0)
    expect(report.routerStats.trees).toBeGreaterThan(1)
    expect((report.routerStats.grafts ?? 0) + (report.routerStats.gapPulls ?? 0)).toBeGreaterThan(0)
  })

  it('re-forms the eager set around a link whose latency spikes, and takes it back after', () => {
    const scheduler = new SimScheduler()
    const matrix = uniformLatencyMatrix(4, 20)
    // Peer 0 is 2 ms from peer 1, 20 ms from the others.
    matrix[0]![1] = 2
    matrix[1]![0] = 2
    const network = new SimNetwork(scheduler, createRandom(1), matrix, { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
    const peers = [0, 1, 2, 3].map(
      (i) =>
        new Peer({ id: `p${i}`, transport: network.endpoint(`p${i}`, i), clock: scheduler, random: createRandom(i + 1), router: { kind: 'latency', pingIntervalMs: 100, rootFanout: 1, d: 3 } }),
    )
    for (const peer of peers) {
      peer.openDoc('d')
      peer.start()
    }
    network.connectAll()
    scheduler.runUntil(1_000)
    const router = peers[0]!.router!
    expect(router.eagerPeers()).toEqual(['p1'])
    expect(router.rttTo('p1')).toBeCloseTo(4, 0)
    network.spike('p0', 'p1', 300, 3_000)
    scheduler.runUntil(2_500)
    expect(router.eagerPeers()).not.toContain('p1')
    scheduler.runUntil(8_000)
    expect(router.eagerPeers()).toEqual(['p1'])
    expect(router.stats.eagerSetChanges).toBeGreaterThanOrEqual(2)
    peers[0]!.getDoc('d')!.getMap('m').set('k', 1)
    scheduler.runUntil(8_200)
    for (const peer of peers) expect(peer.getDoc('d')!.getMap('m').get('k')).toBe(1)
    expect(Y.encodeStateVector(peers[3]!.getDoc('d')!)).toEqual(Y.encodeStateVector(peers[0]!.getDoc('d')!))
    for (const peer of peers) peer.close()
  })
})

describe('router metrics', () => {
  it('exports router and lane counters, RTTs and a propagation histogram', async () => {
    const { Registry } = await import('prom-client')
    const { registerPeerMetrics, LaneOrigin } = await import('../../replication/index.js')
    const scheduler = new SimScheduler()
    const network = new SimNetwork(scheduler, createRandom(1), uniformLatencyMatrix(3, 5), { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
    const peers = [0, 1, 2].map((i) => new Peer({ id: `p${i}`, transport: network.endpoint(`p${i}`, i), clock: scheduler, random: createRandom(i + 1), router: { kind: 'latency', pingIntervalMs: 100 } }))
    for (const peer of peers) {
      peer.openDoc('d')
      peer.start()
    }
    network.connectAll()
    scheduler.runUntil(500)
    const registry = new Registry()
    registerPeerMetrics(peers[1]!, registry)
    const doc = peers[0]!.getDoc('d')!
    doc.transact(() => doc.getMap('m').set('a', 1))
    doc.transact(() => doc.getMap('m').set('b', 1), new LaneOrigin('normal'))
    scheduler.runUntil(600)
    const text = await registry.metrics()
    // Both writes were made in one turn: the critical one took the queued normal one along, one message.
    expect(text).toMatch(/realmsync_propagation_seconds_count\{peer="p1"\} 1/)
    expect(text).toMatch(/realmsync_router_pings_sent_total\{peer="p1"\} [1-9]/)
    expect(text).toMatch(/realmsync_router_digest_ranges_total\{peer="p1"\} \d/)
    expect(text).toMatch(/realmsync_peer_rtt_seconds\{peer="p1",remote="p0"\} 0\.01/)
    expect(text).toMatch(/realmsync_lane_sends_total\{peer="p1"\} 0/)
    for (const peer of peers) peer.close()
  })
})

describe('late probe answers', () => {
  it('take a counted loss back', () => {
    const e = new RttEstimator()
    e.sample(10)
    e.lost()
    e.lost()
    expect(e.lossRate).toBeCloseTo(2 / 3)
    e.recovered()
    expect(e.lossRate).toBeCloseTo(1 / 3)
    expect(e.lostInARow).toBe(0)
    e.recovered()
    e.recovered()
    expect(e.lossRate).toBe(0)
  })
})

describe('a stalled peer', () => {
  it('is not taken for a lossy one: every late answer takes its own counted loss back', () => {
    const scheduler = new SimScheduler()
    const network = new SimNetwork(scheduler, createRandom(1), uniformLatencyMatrix(2, 5), { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
    const peers = [0, 1].map(
      (i) => new Peer({ id: `p${i}`, transport: network.endpoint(`p${i}`, i), clock: scheduler, random: createRandom(i + 1), router: { kind: 'latency', pingIntervalMs: 100 } }),
    )
    for (const peer of peers) peer.start()
    network.connectAll()
    scheduler.runUntil(1_000)
    // Answers take 1.2 s for a while, like a peer whose event loop is stuck: several probes in a
    // row time out before the first answer comes back.
    network.spike('p0', 'p1', 600, 1_600)
    scheduler.runUntil(1_500)
    expect(peers[0]!.router!.stats.pingsLost).toBeGreaterThanOrEqual(2)
    scheduler.runUntil(5_000)
    expect(peers[0]!.router!.stats.pingsLost).toBe(0)
    for (const peer of peers) peer.close()
  })
})

describe('router defaults over a reliable transport', () => {
  it('send one tree: lost probes there mean slowness, not loss', () => {
    expect(resolveRouterSettings({ kind: 'latency' }, { reliable: true }).redundancy).toBe(1)
    expect(resolveRouterSettings({ kind: 'latency', redundancy: 'adaptive' }, { reliable: true }).redundancy).toBe('adaptive')
    expect(resolveRouterSettings({ kind: 'latency' }, { reliable: false }).redundancy).toBe('adaptive')
  })
})
