import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { FrameDecodeError, MalformedFrameError } from '../../core/index.js'
import {
  compareChains,
  decodeEpochMessage,
  encodeEpochMessage,
  epochTag,
  epochWireName,
  GENESIS_EPOCH,
  MAX_CHAIN_LINKS,
  parseEpochWireName,
  type EpochLink,
} from '../../replication/index.js'

const hash = (seed: string): string => seed.repeat(64).slice(0, 64)
const link = (n: number, coordinator: string, h = 'a'): EpochLink => ({ id: { n, coordinator, hash: hash(h) }, cut: Y.encodeStateVector(new Y.Doc()) })
const chain = (...links: EpochLink[]): EpochLink[] => [GENESIS_EPOCH, ...links]

describe('epoch wire names', () => {
  it('names epoch 0 by the document name and later epochs with a number and tag, and parses them back', () => {
    const id = { n: 3, coordinator: 'p1', hash: hash('b') }
    expect(epochWireName('world/a', GENESIS_EPOCH.id)).toBe('world/a')
    const wire = epochWireName('world/a', id)
    expect(wire).toBe(`world/a#3.${epochTag(id)}`)
    expect(parseEpochWireName(wire)).toEqual({ doc: 'world/a', n: 3, tag: epochTag(id) })
    expect(parseEpochWireName('world/a')).toEqual({ doc: 'world/a', n: 0, tag: '' })
    expect(parseEpochWireName('chat#general')).toEqual({ doc: 'chat#general', n: 0, tag: '' })
    expect(epochTag({ ...id, coordinator: 'p2' })).not.toBe(epochTag(id))
  })
})

describe('compareChains', () => {
  it('prefers a chain that extends ours and names the fork and its cut', () => {
    const ours = chain(link(1, 'p0'))
    const theirs = chain(link(1, 'p0'), link(2, 'p0', 'c'))
    const verdict = compareChains(ours, theirs)
    expect(verdict).toEqual({ kind: 'theirs', fork: ours[1]!.id, cut: theirs[2]!.cut })
    expect(compareChains(theirs, ours)).toEqual({ kind: 'ours' })
    expect(compareChains(ours, ours)).toEqual({ kind: 'same' })
  })

  it('orders forks at the fork point: lower coordinator, then lower hash, however long each side grew', () => {
    const left = chain(link(1, 'p0'), link(2, 'p0'))
    const right = chain(link(1, 'p2'), link(2, 'p2'), link(3, 'p2'), link(4, 'p2'))
    expect(compareChains(right, left)).toEqual({ kind: 'theirs', fork: GENESIS_EPOCH.id, cut: left[1]!.cut })
    expect(compareChains(left, right)).toEqual({ kind: 'ours' })
    const low = chain(link(1, 'p0', 'a'))
    const high = chain(link(1, 'p0', 'b'))
    expect(compareChains(high, low).kind).toBe('theirs')
    expect(compareChains(low, high).kind).toBe('ours')
  })

  it('is a total order: exactly one side wins any pair of different chains', () => {
    const linkArb = fc.record({ coordinator: fc.constantFrom('p0', 'p1', 'p2'), h: fc.constantFrom('a', 'b') })
    const chainArb = fc.array(linkArb, { minLength: 0, maxLength: 4 }).map((links) => chain(...links.map((l, i) => link(i + 1, l.coordinator, l.h))))
    fc.assert(
      fc.property(chainArb, chainArb, (a, b) => {
        const ab = compareChains(a, b).kind
        const ba = compareChains(b, a).kind
        if (ab === 'same') expect(ba).toBe('same')
        else expect([ab, ba].sort()).toEqual(['ours', 'theirs'])
      }),
      { numRuns: 60 },
    )
  })

  it('takes a longer chain it shares nothing with, without a fork point', () => {
    const far = Array.from({ length: 5 }, (_, i) => link(40 + i, 'p0'))
    expect(compareChains(chain(link(1, 'p0')), far)).toEqual({ kind: 'theirs', fork: undefined, cut: undefined })
    expect(compareChains(far, chain(link(1, 'p0')))).toEqual({ kind: 'ours' })
    // Overlapping but different from the first shared number on: compared there, fork unknown.
    const mine = [link(40, 'p1'), link(41, 'p1')]
    expect(compareChains(mine, far)).toEqual({ kind: 'theirs', fork: undefined, cut: undefined })
  })
})

describe('epoch messages', () => {
  it('round-trips announcements and wants', () => {
    const announce = { kind: 'announce' as const, doc: 'world/a', chain: chain(link(1, 'p0')), base: new Uint8Array([0, 0]) }
    expect(decodeEpochMessage(encodeEpochMessage(announce), 1 << 20)).toEqual(announce)
    expect(decodeEpochMessage(encodeEpochMessage({ kind: 'want', doc: 'w' }), 1 << 20)).toEqual({ kind: 'want', doc: 'w' })
  })

  it('refuses malformed messages with a typed error', () => {
    const good = encodeEpochMessage({ kind: 'announce', doc: 'w', chain: chain(link(1, 'p0')), base: new Uint8Array([0, 0]) })
    expect(() => decodeEpochMessage(good.subarray(0, good.length - 1), 1 << 20)).toThrow(FrameDecodeError)
    expect(() => decodeEpochMessage(new Uint8Array([7, 1, 119]), 1 << 20)).toThrow(MalformedFrameError)
    const gap = encodeEpochMessage({ kind: 'announce', doc: 'w', chain: [GENESIS_EPOCH, link(2, 'p0')], base: new Uint8Array([0, 0]) })
    expect(() => decodeEpochMessage(gap, 1 << 20)).toThrow(/rise by one/)
    const badHash = encodeEpochMessage({ kind: 'announce', doc: 'w', chain: [GENESIS_EPOCH, { ...link(1, 'p0'), id: { n: 1, coordinator: 'p0', hash: 'zz' } }], base: new Uint8Array([0, 0]) })
    expect(() => decodeEpochMessage(badHash, 1 << 20)).toThrow(/64 hex/)
    const long = encodeEpochMessage({ kind: 'announce', doc: 'w', chain: Array.from({ length: MAX_CHAIN_LINKS + 1 }, (_, i) => link(i + 1, 'p0')), base: new Uint8Array([0, 0]) })
    expect(() => decodeEpochMessage(long, 1 << 20)).toThrow(/links/)
    const wantTrailing = new Uint8Array([...encodeEpochMessage({ kind: 'want', doc: 'w' }), 9])
    expect(() => decodeEpochMessage(wantTrailing, 1 << 20)).toThrow(MalformedFrameError)
  })
})
