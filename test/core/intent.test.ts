import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  compareIntents,
  decodeIntent,
  decodeIntentResult,
  encodeIntent,
  encodeIntentResult,
  FrameDecodeError,
  MalformedFrameError,
  priorityOf,
  type Intent,
  type WorldValue,
} from '../../core/index.js'

const worldValue: fc.Arbitrary<WorldValue> = fc.letrec<{ v: WorldValue }>((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.string({ maxLength: 10 }), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), tie('v'), { maxKeys: 3 })),
})).v

const intent: fc.Arbitrary<Intent> = fc.record(
  {
    action: fc.constantFrom('move', 'pickup', 'chat', 'custom'),
    seq: fc.nat(),
    player: fc.string({ minLength: 1, maxLength: 10 }),
    payload: worldValue,
    predictedVersion: fc.nat(),
    stamp: fc.record({ wallMs: fc.nat(), counter: fc.nat(), peer: fc.string({ maxLength: 5 }) }),
  },
  { requiredKeys: ['action', 'seq', 'player', 'payload'] },
)

describe('intents', () => {
  it('maps actions to priority classes, with overrides', () => {
    expect(priorityOf('attack')).toBe('critical')
    expect(priorityOf('move')).toBe('normal')
    expect(priorityOf('chat')).toBe('bulk')
    expect(priorityOf('dance')).toBe('normal')
    expect(priorityOf('chat', { chat: 'critical' })).toBe('critical')
  })

  it('orders by class, then stamp, then player and sequence', () => {
    const base = { player: 'p1', payload: null }
    const chat: Intent = { ...base, action: 'chat', seq: 1 }
    const early: Intent = { ...base, action: 'move', seq: 2, stamp: { wallMs: 1, counter: 0, peer: 'a' } }
    const late: Intent = { ...base, action: 'move', seq: 3, stamp: { wallMs: 2, counter: 0, peer: 'a' } }
    const unstamped: Intent = { ...base, action: 'move', seq: 4 }
    const other: Intent = { ...base, player: 'p0', action: 'move', seq: 9 }
    const attack: Intent = { ...base, action: 'attack', seq: 5 }
    const sorted = [chat, unstamped, late, attack, early, other].sort((a, b) => compareIntents(a, b))
    expect(sorted.map((i) => i.seq)).toEqual([5, 2, 3, 9, 4, 1])
  })

  it('round-trips intents and results through the strict codec', () => {
    fc.assert(
      fc.property(intent, (i) => {
        expect(decodeIntent(encodeIntent(i))).toEqual(i)
      }),
      { numRuns: 300 },
    )
    const ack = { type: 'ack' as const, seq: 3, result: { ok: true } }
    const reject = { type: 'reject' as const, seq: 4, reason: 'authority-unavailable', message: 'owner peer unreachable' }
    expect(decodeIntentResult(encodeIntentResult(ack))).toEqual(ack)
    expect(decodeIntentResult(encodeIntentResult(reject))).toEqual(reject)
  })

  it('refuses malformed intents and results with typed errors only', () => {
    const good = encodeIntent({ action: 'move', seq: 1, player: 'p', payload: 1 })
    expect(() => decodeIntent(new Uint8Array([...good.slice(0, -1), 9]))).toThrow(MalformedFrameError)
    expect(() => decodeIntent(new Uint8Array([...good, 0]))).toThrow(MalformedFrameError)
    expect(() => decodeIntentResult(new Uint8Array([7, 1]))).toThrow(MalformedFrameError)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        for (const decode of [decodeIntent, decodeIntentResult]) {
          try {
            decode(bytes)
          } catch (error) {
            expect(error).toBeInstanceOf(FrameDecodeError)
          }
        }
      }),
      { numRuns: 1000 },
    )
  })
})
