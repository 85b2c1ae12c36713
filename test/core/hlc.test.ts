import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import {
  ClockDriftError,
  compareHlc,
  decodeHlc,
  encodeHlc,
  FrameDecodeError,
  HLC_ZERO,
  HybridLogicalClock,
  isEncodableHlc,
  isValidHlc,
  MalformedFrameError,
  MAX_HLC_COUNTER,
  MAX_HLC_PEER_BYTES,
  RealmsyncError,
  TruncatedFrameError,
  type HlcTimestamp,
} from '../../core/index.js'

const t = (wallMs: number, counter: number, peer: string): HlcTimestamp => ({ wallMs, counter, peer })

const encoded = (ts: HlcTimestamp): Uint8Array => {
  const encoder = encoding.createEncoder()
  encodeHlc(encoder, ts)
  return encoding.toUint8Array(encoder)
}

const thrownBy = (run: () => unknown): unknown => {
  try {
    run()
  } catch (error) {
    return error
  }
  return undefined
}

describe('HybridLogicalClock: tick', () => {
  it('ticks monotonically, counting within one millisecond and when physical time goes back', () => {
    let now = 1000
    const clock = new HybridLogicalClock('a', () => now)
    expect(clock.peek()).toEqual(t(0, 0, 'a'))
    const t1 = clock.tick()
    const t2 = clock.tick()
    now = 999 // physical time went backwards: the HLC must not
    const t3 = clock.tick()
    now = 2000
    const t4 = clock.tick()
    expect([t1, t2, t3, t4]).toEqual([t(1000, 0, 'a'), t(1000, 1, 'a'), t(1000, 2, 'a'), t(2000, 0, 'a')])
    expect(compareHlc(t1, t2)).toBe(-1)
    expect(clock.peek()).toEqual(t4)
    expect(clock.peer).toBe('a')
  })

  it('uses whole milliseconds, so a stamp decodes on every peer exactly as its writer keeps it', () => {
    let now = 1000.75
    const clock = new HybridLogicalClock('a', () => now)
    const first = clock.tick()
    now = 1000.9
    const second = clock.tick()
    expect(first).toEqual(t(1000, 0, 'a'))
    expect(second).toEqual(t(1000, 1, 'a'))
    expect(clock.receive(t(1001, 0, 'b'))).toEqual(t(1001, 1, 'a'))
    for (const stamp of [first, second]) expect(decodeHlc(decoding.createDecoder(encoded(stamp)))).toEqual(stamp)
  })

  it('carries an exhausted counter into the wall time instead of losing precision', () => {
    const clock = new HybridLogicalClock('a', () => 1000)
    const received = clock.receive(t(1000, MAX_HLC_COUNTER, 'b'))
    expect(received).toEqual(t(1001, 0, 'a'))
    expect(compareHlc(received, t(1000, MAX_HLC_COUNTER, 'b'))).toBe(1)
    // A peer that sends the largest safe counter cannot stall our clock either.
    const other = new HybridLogicalClock('c', () => 1000)
    const afterHuge = other.receive(t(1000, Number.MAX_SAFE_INTEGER, 'b'))
    expect(afterHuge).toEqual(t(1001, 0, 'c'))
    const next = other.tick()
    expect(compareHlc(afterHuge, next)).toBe(-1)
    // Ticking through the limit behaves the same.
    const ticking = new HybridLogicalClock('d', () => 5)
    ticking.receive(t(5, MAX_HLC_COUNTER - 2, 'b'))
    expect(ticking.peek()).toEqual(t(5, MAX_HLC_COUNTER - 1, 'd'))
    expect(ticking.tick()).toEqual(t(5, MAX_HLC_COUNTER, 'd'))
    expect(ticking.tick()).toEqual(t(6, 0, 'd'))
  })
})

describe('HybridLogicalClock: receive', () => {
  it('merges a received time so the local time is after both', () => {
    let now = 1000
    const a = new HybridLogicalClock('a', () => now)
    const remote = t(1500, 4, 'b')
    expect(a.receive(remote)).toEqual(t(1500, 5, 'a'))
    expect(compareHlc(a.tick(), remote)).toBe(1)
    now = 1500
    // Equal wall times: the larger counter plus one.
    expect(a.receive(t(1500, 9, 'b'))).toEqual(t(1500, 10, 'a'))
    expect(a.receive(t(1500, 2, 'b'))).toEqual(t(1500, 11, 'a'))
    // An older remote time: local counter moves on.
    expect(a.receive(t(1200, 0, 'b'))).toEqual(t(1500, 12, 'a'))
    // Physical time ahead of both: counter resets.
    now = 3000
    expect(a.receive(t(1200, 0, 'b'))).toEqual(t(3000, 0, 'a'))
  })

  it('rejects remote times too far ahead with a ClockDriftError, changing nothing', () => {
    const now = 1000
    const strict = new HybridLogicalClock('a', () => now, { maxDriftMs: 100 })
    expect(strict.maxDriftMs).toBe(100)
    expect(strict.driftPolicy).toBe('reject')
    strict.tick()
    // Exactly at the limit is still accepted.
    expect(strict.receive(t(1100, 0, 'b'))).toEqual(t(1100, 1, 'a'))
    const before = strict.peek()
    const error = thrownBy(() => strict.receive(t(1201, 0, 'liar')))
    expect(error).toBeInstanceOf(ClockDriftError)
    expect(error).toBeInstanceOf(RealmsyncError)
    const drift = error as ClockDriftError
    expect(drift.code).toBe('clock-drift')
    expect(drift.message).toContain('liar')
    expect(drift.message).toContain('201 ms ahead')
    expect([drift.remoteWallMs, drift.localWallMs, drift.maxDriftMs, drift.peer]).toEqual([1201, 1000, 100, 'liar'])
    expect(strict.peek()).toEqual(before)
  })

  it('in clamp mode caps a remote time at now plus the drift limit', () => {
    const now = 1000
    const clamping = new HybridLogicalClock('a', () => now, { maxDriftMs: 100, driftPolicy: 'clamp' })
    expect(clamping.driftPolicy).toBe('clamp')
    expect(clamping.receive(t(5000, 7, 'liar'))).toEqual(t(1100, 1, 'a'))
    expect(clamping.receive(t(9000, 0, 'liar'))).toEqual(t(1100, 2, 'a'))
    expect(clamping.tick()).toEqual(t(1100, 3, 'a'))
  })

  it('defaults to a 60 s drift limit and the reject policy', () => {
    const clock = new HybridLogicalClock('a', () => 0)
    expect(clock.maxDriftMs).toBe(60_000)
    expect(clock.receive(t(60_000, 0, 'b')).wallMs).toBe(60_000)
    expect(() => clock.receive(t(60_001, 0, 'b'))).toThrow(ClockDriftError)
  })

  it('refuses timestamps that would poison the clock (NaN, negative, fractional), changing nothing', () => {
    const clock = new HybridLogicalClock('a', () => 1000)
    clock.tick()
    for (const bad of [t(Number.NaN, 0, 'b'), t(-1, 0, 'b'), t(1000.5, 0, 'b'), t(1000, -1, 'b'), t(1000, Number.POSITIVE_INFINITY, 'b'), t(1000, 0, 7 as unknown as string)]) {
      expect(isValidHlc(bad)).toBe(false)
      expect(() => clock.receive(bad)).toThrow(RangeError)
    }
    expect(clock.peek()).toEqual(t(1000, 0, 'a'))
    expect(clock.tick()).toEqual(t(1000, 1, 'a'))
  })
})

describe('compareHlc', () => {
  it('orders by wall time, then counter, then peer id', () => {
    expect(compareHlc(t(1, 0, 'b'), t(2, 0, 'a'))).toBe(-1)
    expect(compareHlc(t(2, 0, 'a'), t(1, 9, 'b'))).toBe(1)
    expect(compareHlc(t(1, 1, 'a'), t(1, 0, 'b'))).toBe(1)
    expect(compareHlc(t(1, 1, 'a'), t(1, 1, 'b'))).toBe(-1)
    expect(compareHlc(t(1, 1, 'b'), t(1, 1, 'a'))).toBe(1)
    expect(compareHlc(t(1, 1, 'a'), t(1, 1, 'a'))).toBe(0)
    expect(compareHlc(HLC_ZERO, t(0, 0, 'a'))).toBe(-1)
    expect(Object.isFrozen(HLC_ZERO)).toBe(true)
  })

  it('property: is a total order (antisymmetric, transitive, zero only for equal stamps)', () => {
    const stamp = fc.record({ wallMs: fc.nat(3), counter: fc.nat(3), peer: fc.constantFrom('', 'a', 'b', 'ab') })
    fc.assert(
      fc.property(stamp, stamp, stamp, (a, b, c) => {
        expect(compareHlc(a, b)).toBe(-compareHlc(b, a) || 0)
        expect(compareHlc(a, b) === 0).toBe(a.wallMs === b.wallMs && a.counter === b.counter && a.peer === b.peer)
        if (compareHlc(a, b) <= 0 && compareHlc(b, c) <= 0) expect(compareHlc(a, c)).toBeLessThanOrEqual(0)
      }),
      { numRuns: 500 },
    )
  })
})

describe('HLC encoding', () => {
  it('property: round-trips through lib0 encoding, and every truncation is refused with a typed error', () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.string({ maxLength: 40 }), (wallMs, counter, peer) => {
        fc.pre(isEncodableHlc({ wallMs, counter, peer }))
        const bytes = encoded({ wallMs, counter, peer })
        const decoder = decoding.createDecoder(bytes)
        expect(decodeHlc(decoder)).toEqual({ wallMs, counter, peer })
        expect(decoder.pos).toBe(bytes.length)
        for (let cut = 0; cut < bytes.length; cut++) {
          expect(() => decodeHlc(decoding.createDecoder(bytes.slice(0, cut)))).toThrow(TruncatedFrameError)
        }
      }),
      { numRuns: 300 },
    )
    expect(() => decodeHlc(decoding.createDecoder(new Uint8Array([])))).toThrow(TruncatedFrameError)
  })

  it('refuses to encode what the decoder would refuse, instead of truncating it silently', () => {
    const bad = [t(1000.5, 0, 'a'), t(-1, 0, 'a'), t(1, Number.NaN, 'a'), t(1, 0, 'p'.repeat(MAX_HLC_PEER_BYTES + 1)), t(1, 0, 'é'.repeat(129)), t(1, 0, 'a\ud800')]
    for (const ts of bad) {
      expect(isEncodableHlc(ts)).toBe(false)
      expect(() => encoded(ts)).toThrow(MalformedFrameError)
    }
    expect(isEncodableHlc(t(1, 0, 'p'.repeat(MAX_HLC_PEER_BYTES)))).toBe(true)
    expect(isEncodableHlc(t(1, 0, 'é'.repeat(128)))).toBe(true)
  })

  it('refuses malformed input: oversized integers, overlong or invalid peer ids', () => {
    const raw = (write: (encoder: encoding.Encoder) => void) => {
      const encoder = encoding.createEncoder()
      write(encoder)
      return decoding.createDecoder(encoding.toUint8Array(encoder))
    }
    // A wall time past 2^53 would lose precision.
    const tooBig = decoding.createDecoder(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f, 0, 0]))
    expect(() => decodeHlc(tooBig)).toThrow(MalformedFrameError)
    const longPeer = raw((e) => {
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 0)
      encoding.writeVarString(e, 'p'.repeat(MAX_HLC_PEER_BYTES + 1))
    })
    expect(() => decodeHlc(longPeer)).toThrow(MalformedFrameError)
    const badUtf8 = raw((e) => {
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 0)
      encoding.writeVarUint8Array(e, new Uint8Array([0xc3, 0x28]))
    })
    const error = thrownBy(() => decodeHlc(badUtf8))
    expect(error).toBeInstanceOf(MalformedFrameError)
    expect(error).toBeInstanceOf(FrameDecodeError)
  })
})

describe('HybridLogicalClock: properties', () => {
  it('clocks exchanging messages issue strictly increasing times, and a received message is below the next tick', () => {
    const step = fc.record({
      actor: fc.nat(3),
      to: fc.nat(3),
      send: fc.boolean(),
      // Physical clocks jump forwards and backwards, and report fractions of a millisecond.
      advance: fc.double({ min: -5, max: 20, noNaN: true }),
    })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 4, maxLength: 4 }), (steps, skews) => {
        const physical = skews.map((skew) => 10_000 + skew)
        const clocks = physical.map((_, i) => new HybridLogicalClock(`p${i}`, () => physical[i]!))
        const last: (HlcTimestamp | undefined)[] = physical.map(() => undefined)
        const issued = (i: number, ts: HlcTimestamp) => {
          const previous = last[i]
          if (previous) expect(compareHlc(previous, ts)).toBe(-1)
          expect(ts.peer).toBe(`p${i}`)
          last[i] = ts
        }
        for (const s of steps) {
          physical[s.actor] = Math.max(0, physical[s.actor]! + s.advance)
          const sent = clocks[s.actor]!.tick()
          issued(s.actor, sent)
          if (!s.send || s.to === s.actor) continue
          // The message crosses the wire, as it would between peers.
          const delivered = decodeHlc(decoding.createDecoder(encoded(sent)))
          expect(delivered).toEqual(sent)
          const received = clocks[s.to]!.receive(delivered)
          expect(compareHlc(delivered, received)).toBe(-1)
          issued(s.to, received)
          const next = clocks[s.to]!.tick()
          expect(compareHlc(delivered, next)).toBe(-1)
          issued(s.to, next)
        }
      }),
      { numRuns: 200 },
    )
  })
})
