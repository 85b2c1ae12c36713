import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import {
  compareIntents,
  decodeIntent,
  decodeIntentResult,
  DEFAULT_ACTION_PRIORITIES,
  encodeIntent,
  encodeIntentResult,
  FrameDecodeError,
  FrameTooLargeError,
  INTENT_CODEC_VERSION,
  INTENT_LIMITS,
  INTENT_REJECT_REASONS,
  intentComparator,
  InvalidIntentError,
  MalformedFrameError,
  priorityOf,
  TruncatedFrameError,
  UnsupportedVersionError,
  type Intent,
  type IntentResult,
  type PriorityClass,
  type WorldValue,
} from '../../core/index.js'

const text = (maxLength: number, minLength = 0) => fc.string({ unit: 'grapheme', minLength, maxLength })

const worldValue: fc.Arbitrary<WorldValue> = fc.letrec<{ v: WorldValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    text(10),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(text(5).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 3 }),
  ),
})).v

const stamp = fc.record({ wallMs: fc.nat(), counter: fc.nat(), peer: text(5) })

const intentArb: fc.Arbitrary<Intent> = fc.record(
  {
    action: fc.oneof(fc.constantFrom(...Object.keys(DEFAULT_ACTION_PRIORITIES)), text(20, 1)),
    seq: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
    player: text(10, 1),
    payload: worldValue,
    predictedVersion: fc.nat(),
    stamp,
  },
  { requiredKeys: ['action', 'seq', 'player', 'payload'] },
)

const reasonArb = fc.oneof(fc.constantFrom(...INTENT_REJECT_REASONS), fc.stringMatching(/^[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}$/))

const resultArb: fc.Arbitrary<IntentResult> = fc.oneof(
  fc.record({ type: fc.constant('ack' as const), seq: fc.nat(), result: worldValue }),
  fc.record({ type: fc.constant('reject' as const), seq: fc.nat(), reason: reasonArb, message: text(40) }),
)

describe('intent priorities', () => {
  it('maps built-in actions to priority classes, with overrides', () => {
    expect(priorityOf('attack')).toBe('critical')
    expect(priorityOf('pickup')).toBe('critical')
    expect(priorityOf('move')).toBe('normal')
    expect(priorityOf('trade')).toBe('normal')
    expect(priorityOf('chat')).toBe('bulk')
    expect(priorityOf('emote')).toBe('bulk')
    expect(priorityOf('dance')).toBe('normal')
    expect(priorityOf('chat', { chat: 'critical' })).toBe('critical')
    expect(priorityOf('dance', { dance: 'bulk' })).toBe('bulk')
    expect(Object.isFrozen(DEFAULT_ACTION_PRIORITIES)).toBe(true)
  })

  it('never reads a priority from the prototype', () => {
    for (const action of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) expect(priorityOf(action)).toBe('normal')
  })
})

describe('intent scheduling order', () => {
  it('orders by class, then stamp, then player and sequence', () => {
    const base = { player: 'p1', payload: null }
    const chat: Intent = { ...base, action: 'chat', seq: 1 }
    const early: Intent = { ...base, action: 'move', seq: 2, stamp: { wallMs: 1, counter: 0, peer: 'a' } }
    const late: Intent = { ...base, action: 'move', seq: 3, stamp: { wallMs: 2, counter: 0, peer: 'a' } }
    const unstamped: Intent = { ...base, action: 'move', seq: 4 }
    const other: Intent = { ...base, player: 'p0', action: 'move', seq: 9 }
    const attack: Intent = { ...base, action: 'attack', seq: 5 }
    const sameStamp: Intent = { ...base, player: 'p0', action: 'move', seq: 6, stamp: { wallMs: 2, counter: 0, peer: 'a' } }
    const sorted = [chat, unstamped, late, attack, early, other, sameStamp].sort((a, b) => compareIntents(a, b))
    expect(sorted.map((i) => i.seq)).toEqual([5, 2, 6, 3, 9, 4, 1])
    const promoted = [attack, chat].sort(intentComparator({ chat: 'critical', attack: 'bulk' }))
    expect(promoted.map((i) => i.action)).toEqual(['chat', 'attack'])
  })

  const keyedIntents = fc.uniqueArray(intentArb, { selector: (i) => `${i.player}\u0000${i.seq}`, maxLength: 25 })
  const overridesArb = fc.dictionary(fc.constantFrom('move', 'chat', 'attack', 'custom'), fc.constantFrom<PriorityClass>('critical', 'normal', 'bulk'))

  it('is a total order: every arrival order schedules the same way, classes never interleave', () => {
    fc.assert(
      fc.property(keyedIntents, overridesArb, (intents, overrides) => {
        const compare = intentComparator(overrides)
        const once = [...intents].sort(compare)
        const again = [...intents].reverse().sort(compare)
        expect(again).toEqual(once)
        const ranks = once.map((i) => ['critical', 'normal', 'bulk'].indexOf(priorityOf(i.action, overrides)))
        expect([...ranks].sort((a, b) => a - b)).toEqual(ranks)
        for (const a of intents) {
          expect(compare(a, a)).toBe(0)
          for (const b of intents) if (a !== b) expect(Math.sign(compare(a, b))).toBe(-Math.sign(compare(b, a)))
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe('intent codec', () => {
  it('round-trips intents and results', () => {
    fc.assert(
      fc.property(intentArb, (intent) => {
        expect(decodeIntent(encodeIntent(intent))).toEqual(intent)
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(resultArb, (result) => {
        expect(decodeIntentResult(encodeIntentResult(result))).toEqual(result)
      }),
      { numRuns: 300 },
    )
  })

  it('starts every frame with the codec version and refuses other versions', () => {
    const intent = encodeIntent({ action: 'move', seq: 1, player: 'p', payload: 1 })
    const result = encodeIntentResult({ type: 'ack', seq: 1, result: null })
    expect(intent[0]).toBe(INTENT_CODEC_VERSION)
    expect(result[0]).toBe(INTENT_CODEC_VERSION)
    expect(() => decodeIntent(new Uint8Array([9, ...intent.slice(1)]))).toThrow(UnsupportedVersionError)
    expect(() => decodeIntentResult(new Uint8Array([9, ...result.slice(1)]))).toThrow(UnsupportedVersionError)
  })

  it('refuses to encode what it would refuse to decode', () => {
    const ok: Intent = { action: 'move', seq: 1, player: 'p', payload: null }
    const bad: Array<Partial<Record<keyof Intent, unknown>>> = [
      { action: '' },
      { action: 'x'.repeat(INTENT_LIMITS.maxActionBytes + 1) },
      { action: 'a\uD800' },
      { player: '' },
      { seq: -1 },
      { seq: 1.5 },
      { seq: Number.MAX_SAFE_INTEGER + 1 },
      { payload: undefined },
      { payload: { when: new Date(0) } },
      { payload: 'x'.repeat(INTENT_LIMITS.maxPayloadBytes) },
      { predictedVersion: -2 },
      { stamp: { wallMs: -1, counter: 0, peer: 'a' } },
      { stamp: { wallMs: 0, counter: 0.5, peer: 'a' } },
      { stamp: { wallMs: 0, counter: 0, peer: 'p'.repeat(257) } },
      { stamp: { wallMs: 0, counter: 0, peer: 7 } },
    ]
    for (const change of bad) expect(() => encodeIntent({ ...ok, ...change } as Intent), JSON.stringify(change)).toThrow(InvalidIntentError)
    const badResults: unknown[] = [
      { type: 'ack', seq: -1, result: null },
      { type: 'ack', seq: 1, result: Number.NaN },
      { type: 'reject', seq: 1, reason: 'Not Kebab', message: '' },
      { type: 'reject', seq: 1, reason: 'x'.repeat(65), message: '' },
      { type: 'reject', seq: 1, reason: 'ok', message: 'm'.repeat(INTENT_LIMITS.maxMessageBytes + 1) },
      { type: 'reject', seq: 1, reason: 'ok', message: 5 },
      { type: 'maybe', seq: 1 },
    ]
    for (const result of badResults) expect(() => encodeIntentResult(result as IntentResult), JSON.stringify(result)).toThrow(InvalidIntentError)
    expect(new InvalidIntentError('seq').code).toBe('invalid-intent')
  })

  it('fits the largest valid intent and result in a frame, and refuses larger frames unread', () => {
    const big = Array.from({ length: 4 }, () => 'x'.repeat(INTENT_LIMITS.maxPayloadBytes / 4 - 16))
    const stamp = { wallMs: Number.MAX_SAFE_INTEGER, counter: Number.MAX_SAFE_INTEGER, peer: 'q'.repeat(256) }
    const intent: Intent = { action: 'a'.repeat(INTENT_LIMITS.maxActionBytes), seq: Number.MAX_SAFE_INTEGER, player: 'p'.repeat(INTENT_LIMITS.maxPlayerBytes), payload: big, predictedVersion: Number.MAX_SAFE_INTEGER, stamp }
    expect(encodeIntent(intent).length).toBeLessThanOrEqual(INTENT_LIMITS.maxFrameBytes)
    expect(decodeIntent(encodeIntent(intent))).toEqual(intent)
    const reject: IntentResult = { type: 'reject', seq: 1, reason: 'x'.repeat(INTENT_LIMITS.maxReasonBytes), message: 'm'.repeat(INTENT_LIMITS.maxMessageBytes) }
    expect(decodeIntentResult(encodeIntentResult(reject))).toEqual(reject)
    const ack: IntentResult = { type: 'ack', seq: 1, result: big }
    expect(decodeIntentResult(encodeIntentResult(ack))).toEqual(ack)
    expect(() => decodeIntent(new Uint8Array(INTENT_LIMITS.maxFrameBytes + 1))).toThrow(FrameTooLargeError)
    expect(() => decodeIntentResult(new Uint8Array(INTENT_LIMITS.maxFrameBytes + 1))).toThrow(FrameTooLargeError)
  })

  it('refuses malformed intents and results with typed errors', () => {
    const good = encodeIntent({ action: 'move', seq: 1, player: 'p', payload: 1 })
    expect(() => decodeIntent(new Uint8Array([...good.slice(0, -1), 9]))).toThrow(MalformedFrameError)
    expect(() => decodeIntent(new Uint8Array([...good, 0]))).toThrow(MalformedFrameError)
    expect(() => decodeIntent(good.slice(0, 3))).toThrow(TruncatedFrameError)
    expect(() => decodeIntent(new Uint8Array())).toThrow(TruncatedFrameError)
    expect(() => decodeIntentResult(new Uint8Array([INTENT_CODEC_VERSION, 7, 1]))).toThrow(MalformedFrameError)

    const frame = (write: (encoder: encoding.Encoder) => void): Uint8Array => {
      const encoder = encoding.createEncoder()
      encoding.writeUint8(encoder, INTENT_CODEC_VERSION)
      write(encoder)
      return encoding.toUint8Array(encoder)
    }
    const anyBytes = (value: unknown): Uint8Array => {
      const encoder = encoding.createEncoder()
      encoding.writeAny(encoder, value as Parameters<typeof encoding.writeAny>[1])
      return encoding.toUint8Array(encoder)
    }
    const intentWith = (action: string, player: string, payload: Uint8Array) =>
      frame((e) => {
        encoding.writeVarString(e, action)
        encoding.writeVarUint(e, 1)
        encoding.writeVarString(e, player)
        encoding.writeVarUint8Array(e, payload)
        encoding.writeUint8(e, 0)
      })
    expect(decodeIntent(intentWith('move', 'p', anyBytes(1)))).toEqual({ action: 'move', seq: 1, player: 'p', payload: 1 })
    expect(() => decodeIntent(intentWith('', 'p', anyBytes(1)))).toThrow(/intent action is empty/)
    expect(() => decodeIntent(intentWith('move', '', anyBytes(1)))).toThrow(/intent player is empty/)
    expect(() => decodeIntent(intentWith('move', 'p', anyBytes(undefined)))).toThrow(/not a JSON-like value/)
    expect(() => decodeIntent(intentWith('move', 'p', anyBytes(new Uint8Array([1]))))).toThrow(MalformedFrameError)
    expect(() => decodeIntent(intentWith('move', 'p', anyBytes({ n: Number.NaN })))).toThrow(MalformedFrameError)
    const rejectWith = (reason: string) =>
      frame((e) => {
        encoding.writeUint8(e, 1)
        encoding.writeVarUint(e, 3)
        encoding.writeVarString(e, reason)
        encoding.writeVarString(e, 'no')
      })
    expect(decodeIntentResult(rejectWith('rate-limited'))).toEqual({ type: 'reject', seq: 3, reason: 'rate-limited', message: 'no' })
    expect(() => decodeIntentResult(rejectWith('Rate Limited'))).toThrow(/not a kebab-case code/)
    const ackWith = (value: unknown) =>
      frame((e) => {
        encoding.writeUint8(e, 0)
        encoding.writeVarUint(e, 3)
        encoding.writeVarUint8Array(e, anyBytes(value))
      })
    expect(() => decodeIntentResult(ackWith(undefined))).toThrow(MalformedFrameError)
  })

  it('never throws anything but FrameDecodeError on fuzzed bytes, whole or mutated', () => {
    const check = (bytes: Uint8Array): void => {
      for (const decode of [decodeIntent, decodeIntentResult]) {
        try {
          decode(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(FrameDecodeError)
        }
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => check(new Uint8Array([INTENT_CODEC_VERSION, ...bytes]))),
      { numRuns: 1000 },
    )
    fc.assert(fc.property(fc.uint8Array({ maxLength: 60 }), check), { numRuns: 300 })
    // Mutations of valid frames get past the first fields and reach the deeper checks.
    fc.assert(
      fc.property(fc.oneof(intentArb.map(encodeIntent), resultArb.map(encodeIntentResult)), fc.nat(), fc.nat(255), fc.nat(3), (bytes, at, value, cut) => {
        const mutated = bytes.slice(0, bytes.length - cut)
        if (mutated.length > 0) mutated[at % mutated.length] = value
        check(mutated)
      }),
      { numRuns: 1000 },
    )
  })
})
