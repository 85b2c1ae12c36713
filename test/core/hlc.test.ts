import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ClockDriftError, compareHlc, decodeHlc, encodeHlc, HLC_ZERO, HybridLogicalClock, TruncatedFrameError, type HlcTimestamp } from '../../core/index.js'

describe('HybridLogicalClock', () => {
  it('ticks monotonically, using the counter within one millisecond', () => {
    let now = 1000
    const clock = new HybridLogicalClock('a', () => now)
    const t1 = clock.tick()
    const t2 = clock.tick()
    now = 999 // physical time went backwards: the HLC must not
    const t3 = clock.tick()
    now = 2000
    const t4 = clock.tick()
    expect([t1, t2, t3, t4].map((t) => [t.wallMs, t.counter])).toEqual([[1000, 0], [1000, 1], [1000, 2], [2000, 0]])
    expect(compareHlc(t1, t2)).toBe(-1)
    expect(clock.peek()).toEqual(t4)
  })

  it('merges a received time so the next local time is after both', () => {
    let now = 1000
    const a = new HybridLogicalClock('a', () => now)
    const remote: HlcTimestamp = { wallMs: 1500, counter: 4, peer: 'b' }
    const merged = a.receive(remote)
    expect(merged).toEqual({ wallMs: 1500, counter: 5, peer: 'a' })
    expect(compareHlc(a.tick(), remote)).toBe(1)
    now = 1500
    expect(a.receive({ wallMs: 1500, counter: 9, peer: 'b' })).toEqual({ wallMs: 1500, counter: 10, peer: 'a' })
    expect(a.receive({ wallMs: 1200, counter: 0, peer: 'b' })).toEqual({ wallMs: 1500, counter: 11, peer: 'a' })
    now = 3000
    expect(a.receive({ wallMs: 1200, counter: 0, peer: 'b' })).toEqual({ wallMs: 3000, counter: 0, peer: 'a' })
  })

  it('rejects or clamps remote times too far ahead', () => {
    const now = 1000
    const strict = new HybridLogicalClock('a', () => now, { maxDriftMs: 100 })
    expect(() => strict.receive({ wallMs: 5000, counter: 0, peer: 'liar' })).toThrow(ClockDriftError)
    expect(strict.peek().wallMs).toBe(0)
    const error = (() => {
      try {
        strict.receive({ wallMs: 5000, counter: 0, peer: 'liar' })
      } catch (e) {
        return e as ClockDriftError
      }
    })()
    expect(error?.message).toContain('liar')
    expect(error?.code).toBe('clock-drift')
    const clamping = new HybridLogicalClock('a', () => now, { maxDriftMs: 100, driftPolicy: 'clamp' })
    expect(clamping.receive({ wallMs: 5000, counter: 7, peer: 'liar' })).toEqual({ wallMs: 1100, counter: 1, peer: 'a' })
  })

  it('orders by wall time, counter, then peer id, totally', () => {
    const t = (wallMs: number, counter: number, peer: string) => ({ wallMs, counter, peer })
    expect(compareHlc(t(1, 0, 'b'), t(2, 0, 'a'))).toBe(-1)
    expect(compareHlc(t(1, 1, 'a'), t(1, 0, 'b'))).toBe(1)
    expect(compareHlc(t(1, 1, 'a'), t(1, 1, 'b'))).toBe(-1)
    expect(compareHlc(t(1, 1, 'a'), t(1, 1, 'a'))).toBe(0)
    expect(compareHlc(HLC_ZERO, t(0, 0, 'a'))).toBe(-1)
  })

  it('round-trips through lib0 encoding and refuses truncated input', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 48 }), fc.nat({ max: 2 ** 31 }), fc.string({ maxLength: 40 }), (wallMs, counter, peer) => {
        const encoder = encoding.createEncoder()
        encodeHlc(encoder, { wallMs, counter, peer })
        const bytes = encoding.toUint8Array(encoder)
        expect(decodeHlc(decoding.createDecoder(bytes))).toEqual({ wallMs, counter, peer })
        if (bytes.length > 1) expect(() => decodeHlc(decoding.createDecoder(bytes.slice(0, bytes.length - 1)))).toThrow()
      }),
    )
    expect(() => decodeHlc(decoding.createDecoder(new Uint8Array([])))).toThrow(TruncatedFrameError)
  })

  it('property: clocks exchanging messages issue strictly increasing times, and a receive lands after the message', () => {
    const step = fc.record({ actor: fc.nat(3), kind: fc.constantFrom('tick', 'send'), to: fc.nat(3), advance: fc.integer({ min: -5, max: 20 }) })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 100 }), (steps) => {
        const physical = [1000, 1000, 1000, 1000]
        const clocks = physical.map((_, i) => new HybridLogicalClock(`p${i}`, () => physical[i]!))
        const last: (HlcTimestamp | undefined)[] = [undefined, undefined, undefined, undefined]
        for (const s of steps) {
          physical[s.actor] = Math.max(0, physical[s.actor]! + s.advance)
          const sent = clocks[s.actor]!.tick()
          if (last[s.actor]) expect(compareHlc(last[s.actor]!, sent)).toBe(-1)
          last[s.actor] = sent
          if (s.kind === 'send' && s.to !== s.actor) {
            const received = clocks[s.to]!.receive(sent)
            expect(compareHlc(sent, received)).toBe(-1)
            if (last[s.to]) expect(compareHlc(last[s.to]!, received)).toBe(-1)
            last[s.to] = received
            expect(compareHlc(received, clocks[s.to]!.tick())).toBe(-1)
            last[s.to] = clocks[s.to]!.peek()
          }
        }
      }),
    )
  })
})
