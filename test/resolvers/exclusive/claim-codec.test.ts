import * as fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import { FrameDecodeError, FrameTooLargeError, UnsupportedVersionError, encodeIntent } from '../../../core/index.js'
import { MAX_CLAIM_MESSAGE_BYTES, decodeClaimMessage, encodeClaimMessage, type Claim, type ClaimMessage } from '../../../resolvers/index.js'

const claim: Claim = {
  id: '["a","s",1]',
  origin: 'a',
  session: 's',
  viewEpoch: 3,
  intent: { action: 'trade', seq: 1, player: 'p', payload: { partner: 'q', give: ['x'], take: ['y'] }, predictedVersion: 2, stamp: { wallMs: 10, counter: 1, peer: 'a' } },
}

const messages: ClaimMessage[] = [
  { type: 'claim', claim },
  { type: 'prepare', claim },
  { type: 'outcome', claimId: claim.id, result: { type: 'ack', seq: 1, result: { item: 'x', version: 3 } } },
  { type: 'outcome', claimId: claim.id, result: { type: 'reject', seq: 1, reason: 'conflict', message: 'taken' }, state: { holder: { type: 'player', id: 'q' }, version: 4 } },
  { type: 'vote', claimId: claim.id, ok: false, reason: 'conflict', message: 'moved' },
  { type: 'decide', claimId: claim.id, commit: true },
  { type: 'done', claimId: claim.id },
]

const raw = (write: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder()
  write(encoder)
  return encoding.toUint8Array(encoder)
}

describe('claim codec', () => {
  it('round-trips every message kind', () => {
    for (const message of messages) expect(decodeClaimMessage(encodeClaimMessage(message))).toEqual(message)
  })

  it('refuses malformed input with typed errors', () => {
    const bytes = encodeClaimMessage(messages[0]!)
    expect(() => decodeClaimMessage(bytes.slice(0, bytes.length - 3))).toThrow(FrameDecodeError)
    expect(() => decodeClaimMessage(Uint8Array.from([...bytes, 0]))).toThrow(/trailing/)
    expect(() => decodeClaimMessage(Uint8Array.from([9, 0]))).toThrow(UnsupportedVersionError)
    expect(() => decodeClaimMessage(Uint8Array.from([1, 42]))).toThrow(/unknown claim message kind/)
    expect(() => decodeClaimMessage(new Uint8Array(MAX_CLAIM_MESSAGE_BYTES + 1))).toThrow(FrameTooLargeError)
    expect(() => decodeClaimMessage(Uint8Array.from([1, 5, 0]))).toThrow(/empty/)
    expect(() => decodeClaimMessage(Uint8Array.from([1, 4, 1, 0x61, 2, 0, 0]))).toThrow(/not 0 or 1/)
  })

  it('refuses a claim without a stamp or stamped by another peer than its origin', () => {
    const withIntent = (intentBytes: Uint8Array) =>
      raw((e) => {
        encoding.writeUint8(e, 1)
        encoding.writeUint8(e, 0)
        for (const text of ['id', 'a', 's']) encoding.writeVarString(e, text)
        encoding.writeVarUint(e, 1)
        encoding.writeVarUint8Array(e, intentBytes)
      })
    const { stamp: _stamp, ...unstamped } = claim.intent
    expect(() => decodeClaimMessage(withIntent(encodeIntent(unstamped)))).toThrow(/no stamp/)
    expect(() => decodeClaimMessage(withIntent(encodeIntent({ ...claim.intent, stamp: { wallMs: 1, counter: 0, peer: 'mallory' } })))).toThrow(/not its origin/)
  })

  it('refuses an outcome whose state is not a world value', () => {
    const bytes = raw((e) => {
      encoding.writeUint8(e, 1)
      encoding.writeUint8(e, 2)
      encoding.writeVarString(e, 'id')
      encoding.writeVarUint8Array(e, encodeClaimMessage({ type: 'outcome', claimId: 'x', result: { type: 'ack', seq: 1, result: 1 } }).slice(5, 10))
    })
    expect(() => decodeClaimMessage(bytes)).toThrow(FrameDecodeError)
  })

  it('never throws anything but a FrameDecodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 5 }), (bytes, kind) => {
        for (const input of [bytes, Uint8Array.from([1, kind, ...bytes])]) {
          try {
            decodeClaimMessage(input)
          } catch (error) {
            expect(error).toBeInstanceOf(FrameDecodeError)
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
