import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { FrameDecodeError } from '../../../core/index.js'
import {
  decodeDecisionMessage,
  DECISION_LIMITS,
  decisionKeysFromSeed,
  DecisionKeyRegistry,
  encodeDecisionMessage,
  generateDecisionKeys,
  InvalidDecisionError,
  InvalidDecisionKeyError,
  rankValidators,
  chooseValidators,
  signBytes,
  verifyBytes,
  type SignedAttestation,
  type SignedDecision,
} from '../../../resolvers/index.js'
import { killInputs } from './fixtures.js'

const signed: SignedDecision = {
  decision: { id: 'p0:5:0', decider: 'p0', kind: 'kill', inputs: killInputs(), outcome: { killed: true, n: 1.5 }, stamp: { wallMs: 5, counter: 0, peer: 'p0' } },
  signature: new Uint8Array(64).fill(7),
}
const attestation: SignedAttestation = {
  attestation: { decisionId: 'p0:5:0', decider: 'p0', decisionDigest: 'a'.repeat(64), attester: 'p1', verdict: 'reject', reason: 'revalidation-failed' },
  signature: new Uint8Array(64).fill(9),
}

describe('decision wire format', () => {
  it('round-trips every message type', () => {
    for (const message of [
      { type: 'request', decision: signed },
      { type: 'verdict', attestation },
      { type: 'verdict', attestation: { ...attestation, attestation: { ...attestation.attestation, verdict: 'attest', reason: '' } } },
      { type: 'evidence', decision: signed, rejection: attestation },
    ] as const) {
      expect(decodeDecisionMessage(encodeDecisionMessage(message))).toEqual(message)
    }
  })

  it('refuses to encode what would not decode', () => {
    expect(() => encodeDecisionMessage({ type: 'request', decision: { ...signed, signature: new Uint8Array(3) } })).toThrow(InvalidDecisionError)
    expect(() => encodeDecisionMessage({ type: 'request', decision: { ...signed, decision: { ...signed.decision, kind: '' } } })).toThrow(InvalidDecisionError)
    expect(() => encodeDecisionMessage({ type: 'request', decision: { ...signed, decision: { ...signed.decision, outcome: 'x'.repeat(DECISION_LIMITS.maxValueBytes) } } })).toThrow(InvalidDecisionError)
    expect(() => encodeDecisionMessage({ type: 'request', decision: { ...signed, decision: { ...signed.decision, outcome: { bad: Number.NaN } } } })).toThrow(InvalidDecisionError)
    expect(() => encodeDecisionMessage({ type: 'verdict', attestation: { ...attestation, attestation: { ...attestation.attestation, decisionDigest: 'xyz' } } })).toThrow(InvalidDecisionError)
    expect(() => encodeDecisionMessage({ type: 'request', decision: { ...signed, decision: { ...signed.decision, inputs: { ...signed.decision.inputs, intent: { ...signed.decision.inputs.intent, seq: -1 } } } } })).toThrow(InvalidDecisionError)
  })

  it('decodes strictly: wrong version, unknown type, trailing bytes, bad verdicts and oversize frames are typed errors', () => {
    const good = encodeDecisionMessage({ type: 'verdict', attestation })
    expect(() => decodeDecisionMessage(Uint8Array.of(2, ...good.slice(1)))).toThrow(/wire version/)
    expect(() => decodeDecisionMessage(Uint8Array.of(1, 9))).toThrow(/unknown decision message type/)
    expect(() => decodeDecisionMessage(Uint8Array.of(...good, 0))).toThrow(/trailing/)
    expect(() => decodeDecisionMessage(new Uint8Array(DECISION_LIMITS.maxMessageBytes + 1))).toThrow(FrameDecodeError)
    const attestWithReason = encodeDecisionMessage({ type: 'verdict', attestation: { ...attestation, attestation: { ...attestation.attestation, verdict: 'attest' } } })
    expect(() => decodeDecisionMessage(attestWithReason)).toThrow(/attest with reason/)
    const encoder = encoding.createEncoder()
    encoding.writeUint8(encoder, 1)
    encoding.writeUint8(encoder, 2)
    for (const text of ['id', 'p0', 'a'.repeat(64), 'p1']) encoding.writeVarString(encoder, text)
    encoding.writeUint8(encoder, 7)
    expect(() => decodeDecisionMessage(encoding.toUint8Array(encoder))).toThrow(/unknown verdict/)
    const shortSig = encodeDecisionMessage({ type: 'verdict', attestation })
    const cut = Uint8Array.of(...shortSig.slice(0, shortSig.length - 65), 63, ...new Uint8Array(63))
    expect(() => decodeDecisionMessage(cut)).toThrow(/must be 64 bytes/)
  })

  it('never throws anything but a typed decode error on random bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeDecisionMessage(Uint8Array.of(1, ...bytes))
        } catch (error) {
          expect(error).toBeInstanceOf(FrameDecodeError)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('decision keys and validator choice', () => {
  it('signs and verifies with Ed25519; seeded keys are reproducible; bad keys are typed errors', () => {
    const keys = generateDecisionKeys()
    const registry = new DecisionKeyRegistry()
    registry.register('a', keys.publicKey)
    const signature = signBytes(keys.privateKey, Uint8Array.of(1, 2, 3))
    expect(verifyBytes(registry.keyOf('a')!, Uint8Array.of(1, 2, 3), signature)).toBe(true)
    expect(verifyBytes(registry.keyOf('a')!, Uint8Array.of(1, 2, 4), signature)).toBe(false)
    expect(verifyBytes(registry.keyOf('a')!, Uint8Array.of(1, 2, 3), signature.slice(1))).toBe(false)
    const seed = new Uint8Array(32).fill(4)
    expect(decisionKeysFromSeed(seed).publicKey).toEqual(decisionKeysFromSeed(seed).publicKey)
    expect(() => decisionKeysFromSeed(new Uint8Array(31))).toThrow(InvalidDecisionKeyError)
    expect(() => registry.register('b', new Uint8Array(31))).toThrow(InvalidDecisionKeyError)
    expect(registry.has('a')).toBe(true)
    expect(registry.peers()).toEqual(['a'])
    registry.remove('a')
    expect(registry.keyOf('a')).toBeUndefined()
  })

  it('ranks validators by rendezvous hashing: deterministic, never the decider, stable when a peer leaves', () => {
    const peers = Array.from({ length: 12 }, (_, i) => `p${i}`)
    const ranked = rankValidators('p0:1:0', 'p0', peers)
    expect(ranked).toEqual(rankValidators('p0:1:0', 'p0', [...peers].reverse()))
    expect(ranked).not.toContain('p0')
    expect(ranked).toHaveLength(11)
    const without = rankValidators('p0:1:0', 'p0', peers.filter((peer) => peer !== ranked[5]))
    expect(without).toEqual(ranked.filter((peer) => peer !== ranked[5]))
    expect(chooseValidators('p0:1:0', 'p0', peers, (peer) => peer !== ranked[0], 2, 2)).toEqual([ranked[1], ranked[2]])
    expect(chooseValidators('p0:1:0', 'p0', peers, () => false, 2, 2)).toEqual([])
  })
})
