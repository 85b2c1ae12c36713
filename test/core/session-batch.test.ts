import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeSessionBatch,
  encodeIntentResult,
  encodeSessionBatch,
  encodeSessionBatchFrame,
  encodeSessionBatchRegister,
  FrameTooLargeError,
  isSessionBatch,
  MalformedFrameError,
  RealmsyncError,
  SESSION_BATCH_LIMITS,
  SESSION_BATCH_VERSION,
  TruncatedFrameError,
  UnsupportedVersionError,
  type EphemeralValue,
  type IntentResult,
  type SessionBatchItem,
} from '../../core/index.js'

// The intent channel's batch frame (core/session-batch.ts): everything it encodes decodes to the
// same items in the same order, and anything else (truncated, padded, garbage) is refused whole
// with a typed error.

const name = fc.string({ minLength: 1, maxLength: 12 })
// -0 is written as the integer 0 by lib0, as it is by JSON: not a value a register round-trips.
const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)))
const ephemeralValue: fc.Arbitrary<EphemeralValue> = fc.letrec<{ value: EphemeralValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    number,
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 8 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(name.filter((key) => key !== '__proto__'), tie('value'), { maxKeys: 3 }),
  ),
})).value
const result: fc.Arbitrary<IntentResult> = fc.oneof(
  fc.record({ type: fc.constant('ack' as const), seq: fc.nat(), result: fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.dictionary(name.filter((key) => key !== '__proto__'), fc.integer(), { maxKeys: 3 })) }),
  fc.record({ type: fc.constant('reject' as const), seq: fc.nat(), reason: fc.constantFrom('conflict', 'not-permitted', 'stale-version'), message: fc.string() }),
)
const item: fc.Arbitrary<SessionBatchItem> = fc.oneof(
  fc.record({ kind: fc.constant('answer' as const), result }),
  fc.record({
    kind: fc.constant('ephemeral' as const),
    entries: fc.array(fc.record({ entity: name, field: name, value: ephemeralValue }), { maxLength: 4 }),
    gone: fc.array(name, { maxLength: 3 }),
  }),
)
const items = fc.array(item, { minLength: 1, maxLength: 6 })

const refusal = (bytes: Uint8Array): unknown => {
  try {
    decodeSessionBatch(bytes)
  } catch (error) {
    return error
  }
  return undefined
}

describe('session batch frame', () => {
  it('decodes what it encodes, item for item and in order', () => {
    fc.assert(fc.property(items, (batch) => {
      const frame = encodeSessionBatch(batch)
      expect(isSessionBatch(frame)).toBe(true)
      expect(decodeSessionBatch(frame)).toEqual(batch)
    }), { numRuns: 300 })
  })

  it('writes multi-byte lengths and counts as lib0 does', () => {
    const many: SessionBatchItem[] = Array.from({ length: 300 }, (_, seq) => ({ kind: 'answer', result: { type: 'reject', seq: seq * 1000, reason: 'conflict', message: 'm'.repeat(seq) } }))
    many.push({ kind: 'ephemeral', entries: Array.from({ length: 200 }, (_, i) => ({ entity: `e${i}`, field: 'f', value: i })), gone: ['ü'.repeat(200), 'g'] })
    expect(decodeSessionBatch(encodeSessionBatch(many))).toEqual(many)
  })

  it('shares register bytes: a frame of pre-encoded items equals the one built from values', () => {
    const register = { entity: 'orc', field: 'position', value: { x: 1.5, y: -2 } }
    const answer: IntentResult = { type: 'ack', seq: 7, result: 3 }
    const direct = encodeSessionBatch([{ kind: 'ephemeral', entries: [register], gone: ['elf'] }, { kind: 'answer', result: answer }])
    const shared = encodeSessionBatchFrame([{ kind: 'ephemeral', entries: [encodeSessionBatchRegister(register)], gone: ['elf'] }, { kind: 'answer', bytes: encodeIntentResult(answer) }])
    expect(shared).toEqual(direct)
  })

  it('writes every byte of the memory it is given, so a pooled, unzeroed allocation leaks nothing', () => {
    fc.assert(fc.property(items, (batch) => {
      const encoded = batch.map((entry) => (entry.kind === 'answer' ? { kind: 'answer' as const, bytes: encodeIntentResult(entry.result) } : { kind: 'ephemeral' as const, entries: entry.entries.map(encodeSessionBatchRegister), gone: entry.gone }))
      const dirty = encodeSessionBatchFrame(encoded, (bytes) => new Uint8Array(bytes).fill(0xaa))
      expect(dirty).toEqual(encodeSessionBatch(batch))
    }), { numRuns: 100 })
  })

  it('is told apart from a single intent result by its first byte', () => {
    const single = encodeIntentResult({ type: 'ack', seq: 1, result: null })
    expect(isSessionBatch(single)).toBe(false)
    expect(isSessionBatch(new Uint8Array())).toBe(false)
    expect(refusal(single)).toBeInstanceOf(UnsupportedVersionError)
  })

  it('refuses every truncation and any trailing byte', () => {
    fc.assert(fc.property(items, (batch) => {
      const frame = encodeSessionBatch(batch)
      for (let length = 0; length < frame.length; length++) {
        const error = refusal(frame.subarray(0, length))
        expect(error).toBeInstanceOf(RealmsyncError)
      }
      expect(refusal(Uint8Array.from([...frame, 0]))).toBeInstanceOf(MalformedFrameError)
    }), { numRuns: 100 })
  })

  it('refuses garbage with a typed error, never anything else', () => {
    const garbage = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }).map((bytes) => Uint8Array.from([SESSION_BATCH_VERSION, ...bytes])))
    fc.assert(fc.property(garbage, (bytes) => {
      const error = refusal(bytes)
      return error === undefined || error instanceof RealmsyncError
    }), { numRuns: 2000 })
  })

  it('refuses empty batches, unknown kinds, counts the frame cannot hold, and oversized frames', () => {
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 0]))).toBeInstanceOf(MalformedFrameError)
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 1, 9, 0]))).toBeInstanceOf(MalformedFrameError)
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 100, 0, 0]))).toBeInstanceOf(MalformedFrameError)
    // One ephemeral item claiming a million entries in a few bytes.
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 1, 1, 0xc0, 0x84, 0x3d, 0, 0]))).toBeInstanceOf(MalformedFrameError)
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 1, 1, 0, 0x40]))).toBeInstanceOf(MalformedFrameError)
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 1, 0, 5, 1]))).toBeInstanceOf(TruncatedFrameError)
    expect(refusal(new Uint8Array(SESSION_BATCH_LIMITS.maxFrameBytes + 1).fill(SESSION_BATCH_VERSION, 0, 1))).toBeInstanceOf(FrameTooLargeError)
    // An answer inside a batch is decoded as strictly as a single one.
    expect(refusal(Uint8Array.from([SESSION_BATCH_VERSION, 1, 0, 3, 1, 7, 0]))).toBeInstanceOf(RealmsyncError)
  })

  it('encodes only what a client would accept', () => {
    expect(() => encodeSessionBatch([])).toThrow(MalformedFrameError)
    expect(() => encodeSessionBatchRegister({ entity: '\ud800', field: 'f', value: 1 })).toThrow(MalformedFrameError)
    expect(() => encodeSessionBatchRegister({ entity: 'e', field: 'f', value: undefined as unknown as EphemeralValue })).toThrow(MalformedFrameError)
    expect(() => encodeSessionBatch([{ kind: 'ephemeral', entries: [], gone: ['x'.repeat(600)] }])).toThrow(MalformedFrameError)
    expect(() => encodeSessionBatch([{ kind: 'answer', result: { type: 'reject', seq: 1, reason: 'Not Kebab', message: '' } }])).toThrow(RealmsyncError)
  })
})
