import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom } from '../../core/index.js'
import { LaneOrigin, laneOf, Peer, PriorityLanes, resolveLaneSettings } from '../../replication/index.js'
import { SimNetwork, SimScheduler, uniformLatencyMatrix } from '../../sim/index.js'

describe('laneOf', () => {
  it('reads a LaneOrigin, any object with a valid priority, or falls back', () => {
    expect(laneOf(new LaneOrigin('bulk'), 'critical')).toBe('bulk')
    expect(laneOf({ priority: 'normal' }, 'critical')).toBe('normal')
    expect(laneOf({ priority: 'urgent' }, 'critical')).toBe('critical')
    expect(laneOf('workload', 'normal')).toBe('normal')
    expect(laneOf(null, 'bulk')).toBe('bulk')
  })

  it('checks settings', () => {
    expect(resolveLaneSettings()).toEqual({ defaultPriority: 'critical', normalBatchMs: 5, bulkBatchMs: 50, maxQueuedBytes: 1024 * 1024, coalesceCritical: true })
    expect(() => resolveLaneSettings({ normalBatchMs: -1 })).toThrow(RangeError)
    expect(() => resolveLaneSettings({ defaultPriority: 'urgent' as 'bulk' })).toThrow(RangeError)
  })
})

/** A source document whose local updates are captured with their origins. */
const source = () => {
  const doc = new Y.Doc()
  doc.clientID = 1
  const map = doc.getMap('m')
  return { doc, write: (key: string, value: number, origin: unknown) => doc.transact(() => map.set(key, value), origin) }
}

describe('PriorityLanes', () => {
  it('sends critical at once, merges normal and bulk by their deadlines, and takes queued updates along with an urgent one', () => {
    const sent: Array<{ doc: string; update: Uint8Array }> = []
    // Without coalescing (the default coalesces critical updates per event-loop turn: see below).
    const lanes = new PriorityLanes(resolveLaneSettings({ coalesceCritical: false }), (doc, update) => sent.push({ doc, update }))
    const { doc, write } = source()
    let now = 0
    doc.on('update', (update: Uint8Array, origin: unknown) => lanes.push('d', update, origin, now))
    write('a', 1, new LaneOrigin('normal'))
    write('b', 1, new LaneOrigin('normal'))
    write('c', 1, new LaneOrigin('bulk'))
    expect(sent).toHaveLength(0)
    expect(lanes.nextDue()).toBe(5)
    expect(lanes.queued).toBeGreaterThan(0)
    now = 5
    lanes.flush(now)
    expect(sent).toHaveLength(1)
    expect(lanes.nextDue()).toBeUndefined()
    write('d', 1, new LaneOrigin('bulk'))
    expect(lanes.nextDue()).toBe(55)
    write('e', 1, 'untagged')
    // The critical update left at once and took the queued bulk one with it.
    expect(sent).toHaveLength(2)
    expect(lanes.stats).toMatchObject({ criticalUpdates: 1, normalUpdates: 2, bulkUpdates: 2, sends: 2, promoted: 1 })
    const replica = new Y.Doc()
    for (const { update } of sent) Y.applyUpdate(replica, update)
    expect(replica.getMap('m').toJSON()).toEqual({ a: 1, b: 1, c: 1, d: 1, e: 1 })
  })

  it('sends everything early when the queue bound is hit', () => {
    const sent: Uint8Array[] = []
    const lanes = new PriorityLanes(resolveLaneSettings({ maxQueuedBytes: 100 }), (_doc, update) => sent.push(update))
    const { doc, write } = source()
    doc.on('update', (update: Uint8Array, origin: unknown) => lanes.push('d', update, origin, 0))
    for (let i = 0; i < 10; i++) write(`k${i}`, i, new LaneOrigin('bulk'))
    expect(lanes.stats.overloadFlushes).toBeGreaterThan(0)
    expect(lanes.queued).toBeLessThanOrEqual(100)
    lanes.clear()
    expect(lanes.nextDue()).toBeUndefined()
  })

  it('whatever the lanes and timing, every update leaves once and in causal order', () => {
    const step = fc.record({ lane: fc.constantFrom('critical', 'normal', 'bulk' as const), key: fc.integer({ min: 0, max: 5 }), advance: fc.integer({ min: 0, max: 30 }), docIndex: fc.integer({ min: 0, max: 1 }) })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const sent: Array<{ doc: string; update: Uint8Array }> = []
        const lanes = new PriorityLanes(resolveLaneSettings(), (doc, update) => sent.push({ doc, update }))
        let now = 0
        const docs = [0, 1].map((i) => {
          const doc = new Y.Doc()
          doc.clientID = 10 + i
          doc.on('update', (update: Uint8Array, origin: unknown) => lanes.push(`d${i}`, update, origin, now))
          return doc
        })
        for (const { lane, key, advance, docIndex } of steps) {
          now += advance
          lanes.flush(now)
          docs[docIndex]!.transact(() => docs[docIndex]!.getMap('m').set(`k${key}`, now), new LaneOrigin(lane))
        }
        lanes.flush(now + 1000)
        const replicas = [0, 1].map(() => new Y.Doc())
        for (const { doc, update } of sent) {
          const replica = replicas[Number(doc.slice(1))]!
          Y.applyUpdate(replica, update)
          // In order: nothing ever waits for an update that has not been sent yet.
          expect(replica.store.pendingStructs).toBeNull()
        }
        for (const i of [0, 1]) expect(replicas[i]!.getMap('m').toJSON()).toEqual(docs[i]!.getMap('m').toJSON())
      }),
      { numRuns: 150 },
    )
  })
})

describe('lanes on a peer', () => {
  it('batches normal writes into fewer frames and sends critical ones at once', () => {
    const scheduler = new SimScheduler()
    const network = new SimNetwork(scheduler, createRandom(1), uniformLatencyMatrix(2, 10), { jitterMs: 0, loss: 0, duplicate: 0, reorder: false })
    const peers = [0, 1].map((i) => new Peer({ id: `p${i}`, transport: network.endpoint(`p${i}`, i), clock: scheduler, random: createRandom(i + 1), antiEntropyIntervalMs: 60_000 }))
    for (const peer of peers) {
      peer.openDoc('d')
      peer.start()
    }
    network.connectAll()
    scheduler.runUntil(100)
    const sentBefore = peers[0]!.stats().framesSent
    const doc = peers[0]!.getDoc('d')!
    for (let i = 0; i < 10; i++) doc.transact(() => doc.getMap('m').set(`walk${i}`, i), new LaneOrigin('normal'))
    expect(peers[0]!.stats().framesSent).toBe(sentBefore)
    scheduler.runUntil(105)
    expect(peers[0]!.stats().framesSent).toBe(sentBefore + 1)
    doc.transact(() => doc.getMap('m').set('hit', 1))
    // Critical leaves at the end of this turn (coalesced by default), without waiting any virtual time.
    scheduler.runUntil(105)
    expect(peers[0]!.stats().framesSent).toBe(sentBefore + 2)
    scheduler.runUntil(200)
    expect(peers[1]!.getDoc('d')!.getMap('m').size).toBe(11)
    expect(peers[0]!.laneStats()).toMatchObject({ normalUpdates: 10, criticalUpdates: 1, sends: 2 })
    for (const peer of peers) peer.close()
  })
})

describe('coalesced critical updates', () => {
  it('leave together, merged, once due; without coalescing each leaves alone', () => {
    const sent: Uint8Array[] = []
    const lanes = new PriorityLanes(resolveLaneSettings({ coalesceCritical: true }), (_doc, update) => sent.push(update))
    const { doc, write } = source()
    doc.on('update', (update: Uint8Array, origin: unknown) => lanes.push('d', update, origin, 0))
    for (let i = 0; i < 20; i++) write(`k${i}`, i, 'tick')
    expect(sent).toHaveLength(0)
    expect(lanes.nextDue()).toBe(0)
    lanes.flush(0)
    expect(sent).toHaveLength(1)
    const replica = new Y.Doc()
    Y.applyUpdate(replica, sent[0] as Uint8Array)
    expect(Object.keys(replica.getMap('m').toJSON())).toHaveLength(20)
  })

  it('go out at the end of the turn on a real clock by default: one message per peer for a burst of writes', async () => {
    const { createSystemClock } = await import('../../core/index.js')
    const { MemoryNetwork } = await import('../../transports/index.js')
    const clock = createSystemClock()
    const network = new MemoryNetwork()
    const peers = ['a', 'b'].map((id, i) => new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(i + 1) }))
    for (const peer of peers) {
      peer.openDoc('d')
      peer.start()
    }
    network.connectAll()
    await new Promise((resolve) => setTimeout(resolve, 20))
    const before = peers[1]!.stats().framesReceived
    const map = peers[0]!.getDoc('d')!.getMap('m')
    for (let i = 0; i < 20; i++) map.set(`k${i}`, i)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(peers[1]!.getDoc('d')!.getMap('m').size).toBe(20)
    expect(peers[1]!.stats().framesReceived - before).toBe(1)
    expect(peers[0]!.laneStats()?.sends).toBe(1)
    for (const peer of peers) peer.close()
  })
})
