import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import {
  decodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  encodeEphemeralValue,
  encodeFrame,
  FrameDecodeError,
  FrameTooLargeError,
  MalformedFrameError,
  TruncatedFrameError,
  UnknownMessageTypeError,
  UnsupportedVersionError,
  WIRE_VERSION,
  type EphemeralValue,
  type WireMessage,
} from '../../core/index.js'

const stamp = fc.record({ wallMs: fc.nat({ max: 2 ** 48 }), counter: fc.nat({ max: 1_000_000 }), peer: fc.string({ maxLength: 20 }) })
const ephemeralValue: fc.Arbitrary<EphemeralValue> = fc.letrec<{ value: EphemeralValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ maxLength: 20 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value
// Clock ranges as digests and pulls carry them: one per client, each non-empty.
const clockRanges = fc
  .uniqueArray(fc.record({ client: fc.nat({ max: 2 ** 32 }), from: fc.nat({ max: 2 ** 40 }), length: fc.integer({ min: 1, max: 5000 }) }), { selector: (range) => range.client, maxLength: 12 })
  .map((ranges) => ranges.map(({ client, from, length }) => ({ client, from, to: from + length })))
const message: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record({ type: fc.constant('digest' as const), doc: fc.string({ minLength: 1, maxLength: 60 }), ranges: clockRanges }),
  fc.record({ type: fc.constant('pull' as const), doc: fc.string({ minLength: 1, maxLength: 60 }), ranges: clockRanges }),
  fc.record({ type: fc.constant('channel' as const), channel: fc.string({ minLength: 1, maxLength: 40 }), payload: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ type: fc.constant('sync' as const), doc: fc.string({ minLength: 1, maxLength: 60 }), payload: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({
    type: fc.constant('ephemeral' as const),
    entries: fc.array(fc.record({ entity: fc.string({ maxLength: 20 }), field: fc.string({ maxLength: 20 }), stamp, value: ephemeralValue }), { maxLength: 8 }),
  }),
)

const raw = (...parts: Array<(e: encoding.Encoder) => void>) => {
  const encoder = encoding.createEncoder()
  for (const part of parts) part(encoder)
  return encoding.toUint8Array(encoder)
}

describe('wire codec', () => {
  it('round-trips every message type', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const decoded = decodeFrame(encodeFrame(msg))
        expect(decoded).toEqual(msg)
      }),
      { numRuns: 300 },
    )
  })

  it('refuses oversized frames on both sides', () => {
    const big: WireMessage = { type: 'sync', doc: 'd', payload: new Uint8Array(2000) }
    expect(() => encodeFrame(big, { maxFrameBytes: 1000 })).toThrow(FrameTooLargeError)
    const frame = encodeFrame(big)
    expect(() => decodeFrame(frame, { maxFrameBytes: 1000 })).toThrow(FrameTooLargeError)
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(1024 * 1024)
  })

  it('raises the specific typed error for each kind of bad frame', () => {
    expect(() => decodeFrame(new Uint8Array([]))).toThrow(TruncatedFrameError)
    expect(() => decodeFrame(new Uint8Array([WIRE_VERSION]))).toThrow(TruncatedFrameError)
    expect(() => decodeFrame(new Uint8Array([WIRE_VERSION + 1, 0]))).toThrow(UnsupportedVersionError)
    expect(() => decodeFrame(new Uint8Array([WIRE_VERSION, 99]))).toThrow(UnknownMessageTypeError)
    const good = encodeFrame({ type: 'sync', doc: 'world', payload: new Uint8Array([1, 2, 3]) })
    expect(() => decodeFrame(good.slice(0, good.length - 1))).toThrow(TruncatedFrameError)
    expect(() => decodeFrame(new Uint8Array([...good, 0]))).toThrow(MalformedFrameError)
    // Invalid UTF-8 in the document name.
    expect(() => decodeFrame(raw((e) => encoding.writeVarUint(e, WIRE_VERSION), (e) => encoding.writeVarUint(e, 0), (e) => encoding.writeVarUint8Array(e, new Uint8Array([0xff, 0xfe])), (e) => encoding.writeVarUint8Array(e, new Uint8Array())))).toThrow(MalformedFrameError)
    // A name longer than the limit.
    expect(() => decodeFrame(raw((e) => encoding.writeVarUint(e, WIRE_VERSION), (e) => encoding.writeVarUint(e, 0), (e) => encoding.writeVarString(e, 'x'.repeat(600)), (e) => encoding.writeVarUint8Array(e, new Uint8Array())))).toThrow(MalformedFrameError)
    // An ephemeral frame that claims far more entries than it could hold.
    expect(() => decodeFrame(raw((e) => encoding.writeVarUint(e, WIRE_VERSION), (e) => encoding.writeVarUint(e, 1), (e) => encoding.writeVarUint(e, 1_000_000)))).toThrow(MalformedFrameError)
    // An ephemeral value that is not a valid lib0 value, or is undefined.
    const entryPrefix = (e: encoding.Encoder) => {
      encoding.writeVarUint(e, WIRE_VERSION)
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 1)
      encoding.writeVarString(e, 'p1')
      encoding.writeVarString(e, 'pos')
      encoding.writeVarUint(e, 5)
      encoding.writeVarUint(e, 0)
      encoding.writeVarString(e, 'a')
    }
    expect(() => decodeFrame(raw(entryPrefix, (e) => encoding.writeVarUint8Array(e, new Uint8Array([1]))))).toThrow(MalformedFrameError)
    expect(() => decodeFrame(raw(entryPrefix, (e) => encoding.writeVarUint8Array(e, new Uint8Array([127]))))).toThrow(MalformedFrameError)
    expect(() => decodeFrame(raw(entryPrefix, (e) => encoding.writeVarUint8Array(e, encodeEphemeralValue(1)), (e) => encoding.writeUint8(e, 0)))).toThrow(MalformedFrameError)
  })

  it('refuses clock ranges a well-formed peer never sends, with typed errors on both sides', () => {
    const ranges = (count: number, ...entries: Array<[number, number, number]>) => (e: encoding.Encoder) => {
      encoding.writeVarUint(e, count)
      for (const [client, from, length] of entries) {
        encoding.writeVarUint(e, client)
        encoding.writeVarUint(e, from)
        encoding.writeVarUint(e, length)
      }
    }
    for (const tag of [7, 8]) {
      const frame = (part: (e: encoding.Encoder) => void) => raw((e) => encoding.writeVarUint(e, WIRE_VERSION), (e) => encoding.writeVarUint(e, tag), (e) => encoding.writeVarString(e, 'world'), part)
      expect(decodeFrame(frame(ranges(1, [5, 10, 2])))).toMatchObject({ doc: 'world', ranges: [{ client: 5, from: 10, to: 12 }] })
      // An empty range, the same client twice, a count the frame cannot hold, a range past 2^53.
      expect(() => decodeFrame(frame(ranges(1, [5, 10, 0])))).toThrow(MalformedFrameError)
      expect(() => decodeFrame(frame(ranges(2, [5, 10, 1], [5, 20, 1])))).toThrow(MalformedFrameError)
      expect(() => decodeFrame(frame(ranges(1_000_000, [5, 10, 1])))).toThrow(MalformedFrameError)
      expect(() => decodeFrame(frame(ranges(1, [5, Number.MAX_SAFE_INTEGER, 1])))).toThrow(MalformedFrameError)
      expect(() => decodeFrame(frame(ranges(2, [5, 10, 1])))).toThrow(FrameDecodeError)
      expect(() => decodeFrame(frame(ranges(1, [5, 300, 1])).subarray(0, -1))).toThrow(TruncatedFrameError)
    }
    // Tag 3 carried state-vector digests and is retired: a peer of an older version is refused, typed.
    expect(() => decodeFrame(raw((e) => encoding.writeVarUint(e, WIRE_VERSION), (e) => encoding.writeVarUint(e, 3), (e) => encoding.writeVarString(e, 'world')))).toThrow(UnknownMessageTypeError)
    expect(() => encodeFrame({ type: 'digest', doc: 'd', ranges: [{ client: 1, from: 4, to: 4 }] })).toThrow(MalformedFrameError)
    expect(() => encodeFrame({ type: 'pull', doc: 'd', ranges: [{ client: 1, from: 0, to: 1 }, { client: 1, from: 2, to: 3 }] })).toThrow(MalformedFrameError)
    expect(() => encodeFrame({ type: 'digest', doc: 'd', ranges: [{ client: -1, from: 0, to: 1 }] })).toThrow(MalformedFrameError)
  })

  it('never throws anything but FrameDecodeError on random or mutated bytes', () => {
    const mutated = fc.tuple(message, fc.nat(), fc.nat(255)).map(([msg, index, byte]) => {
      const frame = encodeFrame(msg)
      const copy = frame.slice()
      copy[index % copy.length] = byte
      return copy
    })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (bytes) => {
        try {
          decodeFrame(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(FrameDecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })
})
