import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { createRandom, encodeFrame, type ClockRange, type WireMessage } from '../../core/index.js'
import { DigestLedger, encodeRangeAnswer, missingRanges, parseSyncMessage, Peer, pendingRanges, stateVectorOf, SyncCore } from '../../replication/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { ManualClock } from '../helpers/manual-clock.js'

/** A replica whose Yjs client `client` has made `writes` updates (clocks 0 to writes). */
const writer = (client: number, writes: number): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = client
  for (let i = 0; i < writes; i++) doc.getMap('m').set(`k${client}`, i)
  return doc
}

/** Copies what `from` holds into `to`. */
const sync = (to: Y.Doc, from: Y.Doc): void => Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))

/** Client 1's one write (`source`), and client 2's update that only deletes it (`deletion`). */
const deletionOfClient1 = (): { source: Y.Doc; deletion: Uint8Array } => {
  const source = writer(1, 1)
  const deleter = new Y.Doc()
  deleter.clientID = 2
  sync(deleter, source)
  const before = Y.encodeStateVector(deleter)
  deleter.getMap('m').delete('k1')
  return { source, deletion: Y.encodeStateAsUpdate(deleter, before) }
}

describe('the digest ledger', () => {
  it('names each newly seen range once per peer, never to a peer known to hold it, and only within its window', () => {
    const doc = new Y.Doc()
    const ledger = new DigestLedger(2, 10)
    ledger.changed('d', doc, () => new Map())
    sync(doc, writer(7, 3))
    expect(ledger.beginRound('d', doc)).toEqual([{ client: 7, from: 0, to: 3 }])
    expect(ledger.rangesFor('a', 'd', undefined, false)).toEqual([{ client: 7, from: 0, to: 3 }])
    expect(ledger.rangesFor('a', 'd', undefined, false)).toEqual([])
    // 'b' said it holds clocks 0-1 of client 7: it hears only of clock 2.
    expect(ledger.rangesFor('b', 'd', new Map([[7, 2]]), false)).toEqual([{ client: 7, from: 2, to: 3 }])
    expect(ledger.rangesFor('c', 'd', new Map([[7, 3]]), false)).toEqual([])
    // Two rounds later the range has left the window: a peer not told by then never is, by us.
    ledger.beginRound('d', doc)
    expect(ledger.rangesFor('e', 'd', undefined, false)).toEqual([{ client: 7, from: 0, to: 3 }])
    ledger.beginRound('d', doc)
    expect(ledger.rangesFor('f', 'd', undefined, false)).toEqual([])
  })

  it('tells near peers of every update, and only a few budgeted ones of each', () => {
    const doc = new Y.Doc()
    const ledger = new DigestLedger(5, 2)
    ledger.changed('d', doc, () => new Map())
    sync(doc, writer(7, 1))
    ledger.beginRound('d', doc)
    const told = ['a', 'b', 'c', 'e'].map((peer) => ledger.rangesFor(peer, 'd', undefined, true).length)
    expect(told).toEqual([1, 1, 0, 0])
    expect(ledger.rangesFor('near', 'd', undefined, false)).toHaveLength(1)
    // A newer update of the client has a budget of its own, and names what the peer was not told.
    const later = writer(7, 1)
    sync(later, doc)
    later.getMap('m').set('k7', 'again')
    sync(doc, later)
    ledger.beginRound('d', doc)
    expect(ledger.rangesFor('c', 'd', undefined, true)).toEqual([{ client: 7, from: 0, to: 2 }])
    expect(ledger.rangesFor('a', 'd', undefined, true)).toEqual([{ client: 7, from: 1, to: 2 }])
    expect(ledger.rangesFor('b', 'd', undefined, true)).toEqual([])
  })

  it('opens a quiet document at its state before the change, and forgets peers and documents', () => {
    const doc = writer(1, 4)
    const ledger = new DigestLedger(5, 4)
    const update = writer(2, 1)
    const before = Y.parseUpdateMeta(Y.encodeStateAsUpdate(update)).from
    sync(doc, update)
    ledger.changed('d', doc, () => before)
    // Client 1's old updates are not news; client 2's one update is.
    expect(ledger.beginRound('d', doc)).toEqual([{ client: 2, from: 0, to: 1 }])
    expect(ledger.rangesFor('a', 'd', undefined, false)).toHaveLength(1)
    ledger.forgetPeer('a')
    expect(ledger.rangesFor('a', 'd', undefined, false)).toHaveLength(1)
    ledger.forgetDocument('d')
    expect(ledger.rangesFor('b', 'd', undefined, false)).toEqual([])
  })

  it('never names a range twice to one peer, never an empty one, and only what the replica holds (property)', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), client: fc.integer({ min: 1, max: 4 }), writes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('round' as const), peers: fc.subarray(['a', 'b', 'c', 'd']), budgeted: fc.boolean() }),
      fc.record({ kind: fc.constant('idle' as const) }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), (steps, window, budget) => {
        const doc = new Y.Doc()
        const writers = new Map<number, Y.Doc>()
        const ledger = new DigestLedger(window, budget)
        const told = new Map<string, Map<number, number>>()
        for (const s of steps) {
          if (s.kind === 'write') {
            const source = writers.get(s.client) ?? writer(s.client, 0)
            writers.set(s.client, source)
            const before = stateVectorOf(doc)
            for (let i = 0; i < s.writes; i++) source.getMap('m').set(`k${s.client}`, i)
            sync(doc, source)
            ledger.changed('d', doc, () => before)
          } else if (s.kind === 'idle') {
            ledger.idle('d')
          } else {
            ledger.beginRound('d', doc)
            for (const peer of s.peers) {
              const byClient = told.get(peer) ?? new Map<number, number>()
              told.set(peer, byClient)
              const ranges = ledger.rangesFor(peer, 'd', undefined, s.budgeted)
              expect(new Set(ranges.map((r) => r.client)).size).toBe(ranges.length)
              for (const range of ranges) {
                expect(range.to).toBeGreaterThan(range.from)
                expect(range.to).toBeLessThanOrEqual(Y.getState(doc.store, range.client))
                expect(range.from).toBeGreaterThanOrEqual(byClient.get(range.client) ?? 0)
                byClient.set(range.client, range.to)
              }
            }
          }
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe('range pulls', () => {
  it('are answered with exactly the asked clients from the asked clock on, and not at all when the replica lacks them', () => {
    const holder = new Y.Doc()
    sync(holder, writer(1, 5))
    sync(holder, writer(2, 3))
    const asker = new Y.Doc()
    sync(asker, writer(1, 2))
    const wanted = new Map([[1, 5]])
    const ranges: ClockRange[] = missingRanges(asker, wanted)
    expect(ranges).toEqual([{ client: 1, from: 2, to: 5 }])
    const answer = encodeRangeAnswer(holder, ranges)!
    const message = parseSyncMessage(answer, 1 << 20)
    expect(message.kind).toBe('step2')
    if (message.kind !== 'step1') Y.applyUpdate(asker, message.update)
    expect(stateVectorOf(asker)).toEqual(new Map([[1, 5]]))
    expect(asker.store.pendingStructs).toBeNull()
    expect(missingRanges(asker, wanted)).toEqual([])
    expect(encodeRangeAnswer(holder, [{ client: 9, from: 0, to: 1 }])).toBeUndefined()
    expect(encodeRangeAnswer(holder, [{ client: 2, from: 3, to: 4 }])).toBeUndefined()
  })

  it('name what a replica waits on when an update arrives over a gap', () => {
    const source = writer(1, 3)
    const first = Y.encodeStateAsUpdate(source)
    source.getMap('m').set('k1', 'late')
    const last = Y.encodeStateAsUpdate(source, Y.encodeStateVector(writer(1, 3)))
    const replica = new Y.Doc()
    expect(pendingRanges(replica)).toBeUndefined()
    Y.applyUpdate(replica, last)
    expect(pendingRanges(replica)).toEqual([{ client: 1, from: 0, to: 3 }])
    Y.applyUpdate(replica, first)
    expect(pendingRanges(replica)).toBeUndefined()
  })

  it('name the structs that pending deletions target', () => {
    const { source, deletion } = deletionOfClient1()
    const replica = new Y.Doc()
    Y.applyUpdate(replica, deletion)
    expect(replica.store.pendingStructs).toBeNull()
    expect(pendingRanges(replica)).toEqual([{ client: 1, from: 0, to: 1 }])
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(source))
    expect(pendingRanges(replica)).toBeUndefined()
    expect(replica.getMap('m').has('k1')).toBe(false)
  })

  it('pull a deletion\'s missing target by range as soon as the deletion arrives, once', () => {
    const settings = { kind: 'latency' as const, d: 6, dLow: 4, dHigh: 12, rootFanout: 12, pingIntervalMs: 1000, digestIntervalMs: 10, lazyFanout: 4, digestLingerRounds: 5, graftTimeoutMs: 5, redundancy: 1 }
    const core = new SyncCore({ self: 'a', random: createRandom(1), maxUpdateBytes: 1 << 20, router: settings, now: () => 0 })
    const replica = new Y.Doc()
    core.openDocument('world', replica)
    core.handle({ type: 'peerUp', peer: 'b' }, 0)
    const { deletion } = deletionOfClient1()
    const gossip = (update: Uint8Array, seq: number, at: number): WireMessage[] =>
      core
        .handle({ type: 'message', from: 'b', message: { type: 'gossip', doc: 'world', origin: 'b', seq, tree: 0, sentAt: at, update } }, at)
        .flatMap((command) => (command.type === 'send' && command.to === 'b' ? [command.frame] : []))
    const sent = gossip(deletion, 1, 1)
    expect(sent.filter((frame) => frame.type === 'pull')).toEqual([{ type: 'pull', doc: 'world', ranges: [{ client: 1, from: 0, to: 1 }] }])
    // Never a whole-state-vector ask for it.
    expect(sent.filter((frame) => frame.type === 'sync')).toEqual([])
    // A later update that deletes nothing unseen does not ask again.
    const more = writer(3, 1)
    expect(gossip(Y.encodeStateAsUpdate(more), 2, 100).filter((frame) => frame.type === 'pull' || frame.type === 'sync')).toEqual([])
  })

  it('reach the sync core as pull frames: answered by step 2, or counted when the document is unknown', () => {
    const core = new SyncCore({ self: 'b', random: createRandom(1), maxUpdateBytes: 1 << 20, router: { kind: 'latency', d: 6, dLow: 4, dHigh: 12, rootFanout: 12, pingIntervalMs: 1000, digestIntervalMs: 10, lazyFanout: 4, digestLingerRounds: 5, graftTimeoutMs: 5, redundancy: 1 }, now: () => 0 })
    const doc = writer(3, 2)
    core.openDocument('world', doc)
    core.handle({ type: 'peerUp', peer: 'a' }, 0)
    const pull = (name: string): WireMessage[] =>
      core.handle({ type: 'message', from: 'a', message: { type: 'pull', doc: name, ranges: [{ client: 3, from: 1, to: 2 }] } }, 1).flatMap((command) => (command.type === 'send' ? [command.frame] : []))
    const answers = pull('world')
    expect(answers).toHaveLength(1)
    expect(answers[0]).toMatchObject({ type: 'sync', doc: 'world' })
    expect(core.stats.step2Sent).toBe(1)
    expect(pull('elsewhere')).toEqual([])
    expect(core.stats.unknownDocumentFrames).toBe(1)
  })
})

describe('a peer fed digest and pull frames', () => {
  it('never throws, drops malformed ones with a count, and never lets one change the document (fuzz)', async () => {
    const network = new MemoryNetwork()
    const clock = new ManualClock()
    const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), router: { kind: 'latency' }, maxMalformedFramesPerPeer: 1_000_000 })
    peer.openDoc('world').getMap('m').set('x', 1)
    peer.start()
    const fuzzer = network.endpoint('fuzzer')
    network.connect('a', 'fuzzer')
    await clock.advance(1)
    const client = peer.getDoc('world')!.clientID
    const ranges = fc.uniqueArray(fc.record({ client: fc.oneof(fc.constant(client), fc.nat()), from: fc.nat({ max: 1000 }), length: fc.integer({ min: 1, max: 2 ** 20 }) }), { selector: (r) => r.client, maxLength: 6 })
    const valid = fc
      .tuple(fc.constantFrom('digest' as const, 'pull' as const), fc.constantFrom('world', 'other'), ranges)
      .map(([type, doc, list]) => encodeFrame({ type, doc, ranges: list.map(({ client: c, from, length }) => ({ client: c, from, to: from + length })) }))
    const mutated = fc.tuple(valid, fc.nat(), fc.nat(255)).map(([frame, index, byte]) => {
      const copy = frame.slice()
      copy[index % copy.length] = byte
      return copy
    })
    await fc.assert(
      fc.asyncProperty(fc.oneof(valid, mutated, valid.map((frame) => frame.slice(0, -1))), async (frame) => {
        const before = Y.encodeStateAsUpdate(peer.getDoc('world')!)
        fuzzer.send('a', frame)
        await clock.advance(20)
        // Digests and pulls only announce and ask: whatever they say, the replica stays as it was.
        expect(Y.encodeStateAsUpdate(peer.getDoc('world')!)).toEqual(before)
      }),
      { numRuns: 150 },
    )
    expect(peer.stats().malformedFrames).toBeGreaterThan(10)
    expect(peer.connectedPeers()).toEqual(['fuzzer'])
  })
})
