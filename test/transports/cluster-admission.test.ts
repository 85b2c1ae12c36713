import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import {
  AdmissionHandshake,
  ephemeralIdentity,
  MAX_HANDSHAKE_MESSAGE_BYTES,
  resolveAdmissionPolicy,
  SELF_CONNECTION_REASON,
  TransportConfigError,
  type AdmissionOutcome,
  type AdmissionPolicy,
  type PeerIdentity,
} from '../../transports/index.js'

const SECRET = 'cluster-admission-test-secret'

/** Runs two handshakes against each other over perfect in-order channels; returns both outcomes. */
const run = async (a: AdmissionHandshake, b: AdmissionHandshake, tamper: (message: Uint8Array, from: 'a' | 'b') => Uint8Array = (m) => m) => {
  const outcomes: { a?: AdmissionOutcome; b?: AdmissionOutcome } = {}
  let toA: Uint8Array[] = [b.hello()]
  let toB: Uint8Array[] = [a.hello()]
  for (let round = 0; round < 10 && (toA.length > 0 || toB.length > 0); round++) {
    const nextA: Uint8Array[] = []
    const nextB: Uint8Array[] = []
    for (const message of toA) {
      const step = await a.receive(tamper(message, 'b'))
      nextB.push(...step.send)
      if (step.outcome) outcomes.a ??= step.outcome
    }
    for (const message of toB) {
      const step = await b.receive(tamper(message, 'a'))
      nextA.push(...step.send)
      if (step.outcome) outcomes.b ??= step.outcome
    }
    toA = nextA
    toB = nextB
  }
  return outcomes
}

const pair = async (policyA: AdmissionPolicy, policyB: AdmissionPolicy, ids?: { a: PeerIdentity; b: PeerIdentity }) => {
  const a = ids?.a ?? (await ephemeralIdentity())
  const b = ids?.b ?? (await ephemeralIdentity())
  return { a, b, ha: new AdmissionHandshake(a, policyA, b.id), hb: new AdmissionHandshake(b, policyB) }
}

describe('cluster admission handshake', () => {
  it('admits both sides when both know the secret', async () => {
    const { a, b, ha, hb } = await pair({ clusterSecret: SECRET }, { clusterSecret: SECRET })
    const outcomes = await run(ha, hb)
    expect(outcomes.a).toEqual({ admitted: true, remoteId: b.id, by: 'secret' })
    expect(outcomes.b).toEqual({ admitted: true, remoteId: a.id, by: 'secret' })
    expect(ha.done && hb.done).toBe(true)
    expect((await ha.receive(new Uint8Array([1]))).send).toEqual([])
  })

  it('refuses both ways with different secrets, naming the reason', async () => {
    const { ha, hb } = await pair({ clusterSecret: SECRET }, { clusterSecret: 'a-different-secret-value' })
    const outcomes = await run(ha, hb)
    expect(outcomes.a).toMatchObject({ admitted: false, byRemote: false, reason: 'wrong cluster secret and not on the allow-list' })
    expect(outcomes.b).toMatchObject({ admitted: false, byRemote: false })
  })

  it('admits by allow-list, and refuses a secretless stranger', async () => {
    const ids = { a: await ephemeralIdentity(), b: await ephemeralIdentity() }
    const allowed = await pair({ clusterSecret: SECRET, allowList: [ids.b.id] }, { allowList: [ids.a.id] }, ids)
    const outcomes = await run(allowed.ha, allowed.hb)
    expect(outcomes.a).toMatchObject({ admitted: true, by: 'allow-list' })
    expect(outcomes.b).toMatchObject({ admitted: true, by: 'allow-list' })
    const stranger = await pair({ clusterSecret: SECRET }, { openCluster: true })
    const refused = await run(stranger.ha, stranger.hb)
    expect(refused.a).toMatchObject({ admitted: false, reason: 'no cluster proof and not on the allow-list' })
    expect(refused.b).toMatchObject({ admitted: false, byRemote: true, reason: 'refused by remote: no cluster proof and not on the allow-list' })
  })

  it('admits anyone in an open cluster', async () => {
    const { ha, hb } = await pair({ openCluster: true }, { openCluster: true })
    expect((await run(ha, hb)).a).toMatchObject({ admitted: true, by: 'open' })
  })

  it('refuses a forged signature, a wrong claimed id, and our own id', async () => {
    const flipLastByteOfProof = (message: Uint8Array, from: 'a' | 'b'): Uint8Array => {
      if (from !== 'b' || message[0] !== 2) return message
      const copy = message.slice()
      copy[copy.length - 1]! ^= 1
      return copy
    }
    const forged = await pair({ clusterSecret: SECRET }, { clusterSecret: SECRET })
    expect((await run(forged.ha, forged.hb, flipLastByteOfProof)).a).toMatchObject({ admitted: false, reason: 'signature does not match the claimed peer id' })

    const impostor = await ephemeralIdentity()
    const a = await ephemeralIdentity()
    const ha = new AdmissionHandshake(a, { clusterSecret: SECRET }, 'some-other-authenticated-id')
    const hb = new AdmissionHandshake(impostor, { clusterSecret: SECRET })
    expect((await run(ha, hb)).a).toMatchObject({ admitted: false, reason: expect.stringMatching(/claims peer id .* on a channel authenticated as/) })

    const self = new AdmissionHandshake(a, { clusterSecret: SECRET })
    const mirror = new AdmissionHandshake(a, { clusterSecret: SECRET })
    expect((await run(self, mirror)).a).toMatchObject({ admitted: false, reason: SELF_CONNECTION_REASON })
  })

  it('turns malformed, oversized and out-of-order messages into refusals', async () => {
    const identity = await ephemeralIdentity()
    const fresh = () => new AdmissionHandshake(identity, { clusterSecret: SECRET })
    expect((await fresh().receive(new Uint8Array([]))).outcome).toMatchObject({ admitted: false, reason: expect.stringMatching(/^malformed handshake/) })
    expect((await fresh().receive(new Uint8Array(MAX_HANDSHAKE_MESSAGE_BYTES + 1))).outcome).toMatchObject({ admitted: false })
    expect((await fresh().receive(new Uint8Array([2, 0, 0]))).outcome).toMatchObject({ reason: expect.stringMatching(/unexpected handshake message type 2/) })
    const badVersion = encoding.createEncoder()
    encoding.writeVarUint(badVersion, 1)
    encoding.writeVarUint(badVersion, 9)
    expect((await fresh().receive(encoding.toUint8Array(badVersion))).outcome).toMatchObject({ reason: expect.stringMatching(/version 9/) })
    const shortNonce = encoding.createEncoder()
    encoding.writeVarUint(shortNonce, 1)
    encoding.writeVarUint(shortNonce, 1)
    encoding.writeVarUint8Array(shortNonce, new Uint8Array(3))
    expect((await fresh().receive(encoding.toUint8Array(shortNonce))).outcome).toMatchObject({ reason: expect.stringMatching(/nonce of 3 bytes/) })
    const badKey = encoding.createEncoder()
    encoding.writeVarUint(badKey, 1)
    encoding.writeVarUint(badKey, 1)
    encoding.writeVarUint8Array(badKey, new Uint8Array(32))
    encoding.writeVarString(badKey, identity.id)
    encoding.writeVarUint8Array(badKey, new Uint8Array([1, 2, 3]))
    expect((await fresh().receive(encoding.toUint8Array(badKey))).outcome).toMatchObject({ reason: expect.stringMatching(/public key does not decode/) })
    // A premature acceptance verdict is a protocol violation.
    expect((await fresh().receive(new Uint8Array([3, 1, 0]))).outcome).toMatchObject({ admitted: false, reason: expect.stringMatching(/unexpected handshake message type 3/) })
  })

  it('checks policies up front', () => {
    expect(() => resolveAdmissionPolicy({})).toThrow(TransportConfigError)
    expect(() => resolveAdmissionPolicy({ clusterSecret: new Uint8Array(8) })).toThrow(/at least 16 bytes/)
    expect(resolveAdmissionPolicy({ clusterSecret: new Uint8Array(16), allowList: ['x'] }).allowList.has('x')).toBe(true)
  })
})
