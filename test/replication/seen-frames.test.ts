import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom, type GossipFrame, type WireMessage } from '../../core/index.js'
import { GossipRouter, resolveRouterSettings, SeenFrames, TREE_SLOTS } from '../../replication/index.js'

const ORIGINS = ['12D3KooWGePyt9h4pwmocRb5Bp4mFUsY8b9wXt9x4YPL8NQ1rkvJ', 'b', 'c']

describe('SeenFrames', () => {
  it('answers exactly as an unbounded set would while under its bounds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...ORIGINS), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: TREE_SLOTS - 1 })), { maxLength: 300 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (frames, shift) => {
          const seen = new SeenFrames(1000, 10)
          const model = new Set<string>()
          for (const [origin, seq, tree] of frames) {
            // Seqs of one origin sit near each other, as a counter's do.
            const near = shift + (seq % 5000)
            const key = `${origin}|${near}|${tree}`
            expect(seen.remember(origin, near, tree)).toBe(!model.has(key))
            model.add(key)
          }
          expect(seen.size).toBe(model.size)
        },
      ),
    )
  })

  it('keeps at most its bound per origin, dropping the oldest first', () => {
    const seen = new SeenFrames(4, 2)
    for (let seq = 1; seq <= 6; seq++) expect(seen.remember('a', seq)).toBe(true)
    expect(seen.size).toBe(4)
    expect(seen.remember('a', 6)).toBe(false)
    expect(seen.remember('a', 3)).toBe(false)
    // 1 and 2 fell out: taken again as new (a duplicate that old is only relayed once more).
    expect(seen.remember('a', 1)).toBe(true)
    // Another origin has its own bound: a busy one does not push out a quiet one's frames.
    expect(seen.remember('b', 1)).toBe(true)
    for (let seq = 100; seq < 110; seq++) seen.remember('a', seq)
    expect(seen.remember('b', 1)).toBe(false)
  })

  it('forgets the oldest origin past its origin bound', () => {
    const seen = new SeenFrames(8, 2)
    seen.remember('a', 1)
    seen.remember('b', 1)
    seen.remember('c', 1)
    expect(seen.remember('b', 1)).toBe(false)
    expect(seen.remember('a', 1)).toBe(true)
  })

  it('tells trees apart and refuses tree indexes no tree can have', () => {
    const seen = new SeenFrames()
    expect(seen.remember('a', 7, 0)).toBe(true)
    expect(seen.remember('a', 7, 1)).toBe(true)
    expect(seen.remember('a', 7, 1)).toBe(false)
    // An out-of-range tree could otherwise alias another frame's key ((7 + 1) * 128 + 0 = 7 * 128 + 128).
    expect(seen.remember('a', 7, TREE_SLOTS)).toBe(false)
    expect(seen.remember('a', 7, -1)).toBe(false)
    expect(seen.remember('a', 7, 0.5)).toBe(false)
    expect(seen.remember('a', 8, 0)).toBe(true)
  })

  it('starts an origin afresh when its seqs jump far (a restart), and refuses nonsense limits', () => {
    const seen = new SeenFrames()
    expect(seen.remember('a', 5)).toBe(true)
    const far = 5 + 2 ** 30
    expect(seen.remember('a', far)).toBe(true)
    expect(seen.remember('a', far)).toBe(false)
    expect(seen.size).toBe(1)
    expect(() => new SeenFrames(0)).toThrow(RangeError)
    expect(() => new SeenFrames(1, 0)).toThrow(RangeError)
  })
})

describe('a restarted origin', () => {
  const markers = new Map<Uint8Array, number>()
  const update = (marker: number): Uint8Array => {
    const source = new Y.Doc()
    source.getMap('m').set('k', marker)
    const bytes = Y.encodeStateAsUpdate(source)
    markers.set(bytes, marker)
    return bytes
  }
  const router = (self: string, sent: Array<{ to: string; message: WireMessage }>, applied: string[]) => {
    const doc = new Y.Doc()
    return new GossipRouter(resolveRouterSettings({ kind: 'latency' }), {
      self,
      random: createRandom(1),
      send: (to, message) => sent.push({ to, message }),
      document: (name) => (name === 'd' ? doc : undefined),
      apply: (from, _doc, bytes) => {
        applied.push(`${from}:${markers.get(bytes)}`)
        return { waiting: false, ...Y.parseUpdateMeta(bytes) }
      },
      pull: () => {},
      delivered: () => {},
    })
  }

  it('has its first frames taken by a neighbour that still remembers its last run', () => {
    const toB: Array<{ to: string; message: WireMessage }> = []
    const applied: string[] = []
    const b = router('b', [], applied)
    b.peerUp('a', 0)
    const gossipTo = (run: GossipRouter, at: number, marker: number): GossipFrame => {
      toB.length = 0
      run.publish('d', update(marker), at)
      const frame = toB.find((sent) => sent.to === 'b' && sent.message.type === 'gossip')?.message
      expect(frame).toBeDefined()
      return frame as GossipFrame
    }
    const first = router('a', toB, [])
    first.peerUp('b', 0)
    for (let marker = 1; marker <= 3; marker++) b.onGossip('a', gossipTo(first, 1000 + marker, marker), 1000 + marker)
    expect(applied).toEqual(['a:1', 'a:2', 'a:3'])
    // The same peer id starts again a few seconds later: its seqs continue after the old ones.
    const second = router('a', toB, [])
    second.peerUp('b', 5000)
    const again = gossipTo(second, 5000, 4)
    expect(again.seq).toBeGreaterThan(gossipTo(first, 1004, 9).seq)
    b.onGossip('a', again, 5000)
    expect(applied).toEqual(['a:1', 'a:2', 'a:3', 'a:4'])
  })
})
