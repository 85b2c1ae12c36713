import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom, type ClockRange, type WireMessage } from '../../core/index.js'
import { GossipRouter, initialCoordinate, resolveRouterSettings } from '../../replication/index.js'

/** The ranges a replica holds of each client, from clock 0: what a digest of all of it names. */
const rangesOf = (doc: Y.Doc): ClockRange[] => [...Y.decodeStateVector(Y.encodeStateVector(doc))].map(([client, to]) => ({ client, from: 0, to }))

/** A router 'a' with one peer 'b' on a steady 4 ms round trip, and a digest from 'b' naming an update 'a' lacks. */
const setup = () => {
  const doc = new Y.Doc()
  const sent: Array<{ to: string; message: WireMessage }> = []
  const pulls: Array<{ peer: string; at: number; ranges: readonly ClockRange[] }> = []
  let now = 0
  const router = new GossipRouter(resolveRouterSettings({ kind: 'latency' }), {
    self: 'a',
    random: createRandom(1),
    send: (to, message) => {
      sent.push({ to, message })
      if (message.type === 'pull') pulls.push({ peer: to, at: now, ranges: message.ranges })
    },
    document: (name) => (name === 'd' ? doc : undefined),
    apply: (_from, _doc, update) => ({ waiting: false, ...Y.parseUpdateMeta(update) }),
    pull: () => {
      throw new Error('a gap named by clock ranges is pulled by range, never by state vector')
    },
    delivered: () => {},
  })
  router.peerUp('b', now)
  for (let probe = 0; probe < 10; probe++) {
    const ping = sent.filter((s) => s.message.type === 'ping').at(-1)!.message as { nonce: number }
    now += 4
    router.onPong('b', { type: 'pong', nonce: ping.nonce, coordinate: initialCoordinate() }, now)
    now += 300
    router.pingTick(now)
  }
  const remote = new Y.Doc()
  remote.getMap('m').set('k', 1)
  const digestAt = now
  router.onDigest('b', { type: 'digest', doc: 'd', ranges: rangesOf(remote) }, now)
  const advance = (to: number) => {
    now = to
    router.graftTick(now)
  }
  return { router, pulls, digestAt, advance, doc, remote }
}

describe('grafts', () => {
  it('wait only the link variation for the eager copy, then pull, and ask again while the answer is overdue', () => {
    const { router, pulls, digestAt, advance, remote } = setup()
    const due = router.nextGraftDue()!
    // A steady link: 1 ms plus twice the (small, decaying) RTT variation, well under the 5 ms graftTimeoutMs.
    expect(due - digestAt).toBeGreaterThanOrEqual(1)
    expect(due - digestAt).toBeLessThan(3)
    advance(due - 0.5)
    expect(pulls).toEqual([])
    advance(due)
    // Exactly the missing range: the remote client's one update, from clock 0.
    expect(pulls).toEqual([{ peer: 'b', at: due, ranges: [{ client: remote.clientID, from: 0, to: 1 }] }])
    // The ask or its answer may be lost: once a round trip is overdue, ask again, at most three times in all.
    const retry = router.nextGraftDue()!
    expect(retry - due).toBeGreaterThanOrEqual(4)
    expect(retry - due).toBeLessThan(8)
    advance(retry)
    advance(router.nextGraftDue()!)
    expect(pulls).toHaveLength(3)
    expect(router.nextGraftDue()).toBeUndefined()
  })

  it('do not pull what arrived meanwhile', () => {
    const { router, pulls, advance, doc, remote } = setup()
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(remote))
    advance(router.nextGraftDue()!)
    expect(pulls).toEqual([])
    expect(router.nextGraftDue()).toBeUndefined()
  })
})

describe('digests', () => {
  it('do not name what the peer is known to hold', () => {
    const told = (announce: boolean): number => {
      const doc = new Y.Doc()
      const sent: WireMessage[] = []
      const router = new GossipRouter(resolveRouterSettings({ kind: 'latency' }), {
        self: 'a',
        random: createRandom(1),
        send: (_to, message) => sent.push(message),
        document: (name) => (name === 'd' ? doc : undefined),
        apply: (_from, _doc, update) => ({ waiting: false, ...Y.parseUpdateMeta(update) }),
        pull: () => {},
        delivered: () => {},
      })
      router.peerUp('b', 0)
      doc.getMap('m').set('x', 1)
      router.publish('d', Y.encodeStateAsUpdate(doc), 1)
      if (announce) router.onDigest('b', { type: 'digest', doc: 'd', ranges: rangesOf(doc) }, 2)
      router.digestTick(10)
      return sent.filter((message) => message.type === 'digest').length
    }
    expect(told(false)).toBe(1)
    expect(told(true)).toBe(0)
  })
})
