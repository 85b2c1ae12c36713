import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeLengthPrefixed, LengthPrefixedDecoder, MalformedLengthPrefixError } from '../../transports/index.js'

const decodeAll = (stream: Uint8Array, cuts: number[], limit: number) => {
  const frames: Uint8Array[] = []
  const oversized: number[] = []
  const decoder = new LengthPrefixedDecoder({ frame: (f) => frames.push(f), oversized: (size) => oversized.push(size) }, () => limit)
  let from = 0
  for (const cut of [...cuts.map((c) => c % (stream.length + 1))].sort((a, b) => a - b)) {
    decoder.push(stream.subarray(from, Math.max(from, cut)))
    from = Math.max(from, cut)
  }
  decoder.push(stream.subarray(from))
  return { frames, oversized }
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

describe('length-prefixed frames', () => {
  it('splits any chunking of a stream into the frames written, skipping the oversized ones', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), fc.integer({ min: 0, max: 200 }), (frames, cuts, limit) => {
        const stream = concat(frames.map(encodeLengthPrefixed))
        const decoded = decodeAll(stream, cuts, limit)
        expect(decoded.frames).toEqual(frames.filter((f) => f.length <= limit))
        expect(decoded.oversized).toEqual(frames.filter((f) => f.length > limit).map((f) => f.length))
      }),
    )
  })

  it('throws a typed error on a length prefix that is not a safe integer, then ignores the stream', () => {
    const frames: Uint8Array[] = []
    const decoder = new LengthPrefixedDecoder({ frame: (f) => frames.push(f), oversized: () => {} }, () => 100, 'peer-x')
    expect(() => decoder.push(new Uint8Array(9).fill(0x80))).toThrow(MalformedLengthPrefixError)
    decoder.push(encodeLengthPrefixed(new Uint8Array([1])))
    expect(frames).toEqual([])
    const huge = new LengthPrefixedDecoder({ frame: () => {}, oversized: () => {} }, () => 100)
    // 2^56: fits 8 varint bytes but is beyond a safe integer.
    expect(() => huge.push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]))).toThrow(/not a safe integer/)
  })
})
