import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  decodeDecisionMessage,
  decisionSigningBytes,
  encodeDecisionMessage,
  signBytes,
  type Decision,
  type DecisionCommand,
  type SignedDecision,
} from '../../../resolvers/index.js'
import { CoreCluster, keysOf, killInputs, RULES } from './fixtures.js'

const PEERS = ['p0', 'p1', 'p2', 'p3', 'p4']

const decideKill = (cluster: CoreCluster, decider = 'p0', seq = 1) => {
  const { intent, preState } = killInputs(seq)
  const result = cluster.core(decider).decide('kill', intent, preState, () => true)
  if (!result.ok) throw new Error(result.message)
  return result
}

const requestOf = (commands: readonly DecisionCommand[]): Uint8Array => {
  const send = commands.find((command) => command.type === 'send')
  if (send?.type !== 'send') throw new Error('no request')
  return send.payload
}

/** The verdicts a validator's commands send back (decoded). */
const verdictsIn = (commands: readonly DecisionCommand[]) =>
  commands.flatMap((command) => {
    if (command.type !== 'send') return []
    const message = decodeDecisionMessage(command.payload)
    return message.type === 'verdict' ? [message.attestation.attestation] : []
  })

const resign = (decision: Decision, signer: string): SignedDecision => ({ decision, signature: signBytes(keysOf(signer).privateKey, decisionSigningBytes(decision)) })

describe('DecisionCore', () => {
  it('confirms an honest decision with k attestations from rendezvous-chosen peers, which anyone can verify', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    expect(result.validators).toHaveLength(2)
    expect(result.decision.decision.outcome).toEqual({ target: 'bob', by: 'alice', health: 0, killed: true })
    cluster.take('p0', result.commands)
    cluster.deliver()
    const [confirmed] = cluster.of('confirmed')
    expect(confirmed?.decision.decision.id).toBe(result.decision.decision.id)
    expect(confirmed?.attestations.map((a) => a.attestation.attester).sort()).toEqual([...result.validators].sort())
    for (const peer of PEERS) expect(cluster.core(peer).verifyConfirmation(confirmed!.decision, confirmed!.attestations)).toEqual({ ok: true })
    expect(cluster.core('p1').verifyConfirmation(confirmed!.decision, confirmed!.attestations.slice(1))).toMatchObject({ ok: false, reason: 'not-confirmed' })
    expect(cluster.core('p0').stats).toMatchObject({ decided: 1, confirmed: 1, rejected: 0 })
    expect(cluster.of('quarantined')).toEqual([])
    // The same decision always goes to the same validators: the choice is not the decider's.
    expect(cluster.core('p0').pendingCount()).toBe(0)
  })

  it('refuses locally what the rule refuses, unknown kinds, and too few reachable validators', () => {
    const cluster = new CoreCluster(PEERS)
    const { intent, preState } = killInputs()
    expect(cluster.core('p0').decide('nope', intent, preState, () => true)).toMatchObject({ ok: false, reason: 'unknown-kind' })
    expect(cluster.core('p0').decide('kill', intent, { ...(preState as object), damage: 99 }, () => true)).toMatchObject({ ok: false, reason: 'cheat-suspected' })
    expect(cluster.core('p0').decide('kill', intent, preState, (peer) => peer === 'p1')).toMatchObject({ ok: false, reason: 'authority-unavailable' })
    expect(cluster.core('p0').decide('kill', { ...intent, action: '' }, preState, () => true)).toMatchObject({ ok: false, reason: 'invalid-intent' })
  })

  it('rejects a forged kill, quarantines the decider everywhere through checked evidence, and refuses its later decisions', () => {
    const cluster = new CoreCluster(PEERS, (peer) => (peer === 'p0' ? { rules: { ...RULES, kill: () => ({ ok: true, outcome: { target: 'bob', by: 'alice', health: 0, killed: true } }) } } : {}))
    const { intent } = killInputs()
    // Out of reach and barely hurt: the honest rule refuses, the compromised one says kill.
    const forged = cluster.core('p0').decide('kill', intent, { attacker: { x: 0, y: 0 }, target: { id: 'bob', x: 50, y: 0, health: 100 }, damage: 5 }, () => true)
    expect(forged.ok).toBe(true)
    if (!forged.ok) return
    cluster.take('p0', forged.commands)
    cluster.deliver()
    const rejected = cluster.of('rejected')
    expect(rejected[0]).toMatchObject({ reason: 'revalidation-failed' })
    expect(cluster.of('confirmed')).toEqual([])
    for (const peer of PEERS.slice(1)) {
      expect(cluster.core(peer).isQuarantined('p0')).toBe(true)
      const [record] = cluster.core(peer).quarantine()
      expect(record).toMatchObject({ peer: 'p0', reason: 'revalidation-failed', decisionId: forged.decision.decision.id })
      expect(record?.decision?.decision.outcome).toEqual(forged.decision.decision.outcome)
    }
    // Validators quarantined it themselves; the others on evidence they re-checked.
    const reporters = PEERS.slice(1).map((peer) => cluster.core(peer).quarantine()[0]!.reportedBy)
    expect(reporters.filter((by) => by !== 'p0').length).toBe(4)
    // A later honest-looking decision of p0 is refused and counted, never attested.
    const later = decideKill(cluster, 'p0', 2)
    cluster.take('p0', later.commands)
    cluster.deliver()
    expect(cluster.of('confirmed')).toEqual([])
    const refusals = later.validators.map((peer) => cluster.core(peer).stats.quarantinedRefusals)
    expect(refusals.every((count) => count >= 1)).toBe(true)
  })

  it('does not let a lying validator frame an honest decider: the decider quarantines the liar, others drop the evidence', () => {
    const liar = 'p1'
    const cluster = new CoreCluster(PEERS, (peer) => (peer === liar ? { rules: { ...RULES, kill: () => ({ ok: false, reason: 'nope', message: 'lying' }) } } : {}))
    let result = decideKill(cluster)
    for (let seq = 2; !result.validators.includes(liar); seq++) result = decideKill(cluster, 'p0', seq)
    cluster.intercept()
    cluster.take('p0', result.commands)
    cluster.deliver()
    expect(cluster.of('rejected').at(-1)).toMatchObject({ reason: 'revalidation-failed', by: liar })
    expect(cluster.core('p0').isQuarantined(liar)).toBe(true)
    expect(cluster.core('p0').quarantine()[0]).toMatchObject({ reason: 'false-rejection', peer: liar })
    for (const peer of ['p2', 'p3', 'p4']) {
      expect(cluster.core(peer).isQuarantined('p0')).toBe(false)
      expect(cluster.core(peer).stats.dropped['unconfirmed-evidence']).toBe(1)
    }
  })

  it('rejects replays (same id again, or a stamp outside the window) and decisions from the future', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    const validator = result.validators[0]!
    const request = requestOf(result.commands)
    expect(verdictsIn(cluster.core(validator).receive('p0', request))).toMatchObject([{ verdict: 'attest' }])
    expect(cluster.core(validator).receive('p0', request)).toMatchObject([{ type: 'dropped', reason: 'replayed' }])
    // Past the window the id is forgotten, and the stamp alone refuses it.
    cluster.time += 31_000
    cluster.core(validator).expire()
    expect(cluster.core(validator).receive('p0', request)).toMatchObject([{ type: 'dropped', reason: 'stale' }])
    const future = { ...result.decision.decision, stamp: { ...result.decision.decision.stamp, wallMs: cluster.time + 60_000 } }
    const futureSigned = resign({ ...future, id: `p0:${future.stamp.wallMs}:${future.stamp.counter}` }, 'p0')
    expect(cluster.core(validator).receive('p0', encodeDecisionMessage({ type: 'request', decision: futureSigned }))).toMatchObject([{ type: 'dropped', reason: 'from-the-future' }])
  })

  it('quarantines a decider that signs two different decisions under one id', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    const validator = result.validators[0]!
    cluster.core(validator).receive('p0', requestOf(result.commands))
    const other = resign({ ...result.decision.decision, outcome: { target: 'bob', by: 'alice', health: 0, killed: true, bonus: 1 } }, 'p0')
    const commands = cluster.core(validator).receive('p0', encodeDecisionMessage({ type: 'request', decision: other }))
    expect(verdictsIn(commands)).toMatchObject([{ verdict: 'reject', reason: 'equivocation' }])
    expect(cluster.core(validator).quarantine()[0]).toMatchObject({ peer: 'p0', reason: 'equivocation' })
  })

  it('refuses unknown peers, wrong senders, wrong signers, mismatched ids and unknown kinds', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    const validator = result.validators[0]!
    const core = cluster.core(validator)
    const decision = result.decision.decision
    // A peer outside the registry signs a decision of its own.
    const stranger = resign({ ...decision, decider: 'mallory', id: `mallory:${decision.stamp.wallMs}:0`, stamp: { ...decision.stamp, peer: 'mallory' } }, 'mallory')
    expect(core.receive('mallory', encodeDecisionMessage({ type: 'request', decision: stranger }))).toMatchObject([{ type: 'dropped', reason: 'unknown-peer' }])
    // p2 relays p0's decision as if p0 asked.
    expect(core.receive('p4' === validator ? 'p3' : 'p4', requestOf(result.commands))).toMatchObject([{ type: 'dropped', reason: 'sender-mismatch' }])
    // p0 sends a decision signed with someone else's key: bad signature, p0 quarantined.
    const wrongSigner = resign({ ...decision, id: `p0:${decision.stamp.wallMs}:7`, stamp: { ...decision.stamp, counter: 7 } }, 'p3')
    expect(verdictsIn(core.receive('p0', encodeDecisionMessage({ type: 'request', decision: wrongSigner })))).toMatchObject([{ verdict: 'reject', reason: 'bad-signature' }])
    expect(core.isQuarantined('p0')).toBe(true)
    const fresh = new CoreCluster(PEERS)
    const mismatched = resign({ ...decision, id: 'p0:1:1' }, 'p0')
    expect(verdictsIn(fresh.core(validator).receive('p0', encodeDecisionMessage({ type: 'request', decision: mismatched })))).toMatchObject([{ verdict: 'reject', reason: 'malformed-decision' }])
    const unknownKind = resign({ ...decision, kind: 'teleport' }, 'p0')
    expect(verdictsIn(fresh.core(validator).receive('p0', encodeDecisionMessage({ type: 'request', decision: unknownKind })))).toMatchObject([{ verdict: 'reject', reason: 'unknown-kind' }])
    expect(fresh.core(validator).isQuarantined('p0')).toBe(false)
    expect(fresh.core(validator).receive('p0', new Uint8Array([9, 9]))).toMatchObject([{ type: 'dropped', reason: 'malformed' }])
  })

  it('never attests a tampered decision: any changed field under the original signature is a bad signature (fast-check)', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    const validator = result.validators[0]!
    const original = result.decision.decision
    const tamper = fc.oneof(
      fc.record({ outcome: fc.jsonValue() }).map(({ outcome }) => ({ ...original, outcome: outcome as Decision['outcome'] })),
      fc.integer({ min: 0, max: 1_000 }).map((health) => ({ ...original, inputs: { ...original.inputs, preState: { ...(original.inputs.preState as object), target: { id: 'bob', x: 1, y: 1, health } } } })),
      fc.string({ minLength: 1, maxLength: 8 }).map((target) => ({ ...original, inputs: { ...original.inputs, intent: { ...original.inputs.intent, payload: { target } } } })),
      fc.constantFrom('trade', 'rare-drop', 'pickup-resolution').map((kind) => ({ ...original, kind })),
      fc.integer({ min: 0, max: 1_000 }).map((seq) => ({ ...original, inputs: { ...original.inputs, intent: { ...original.inputs.intent, seq } } })),
    )
    fc.assert(
      fc.property(tamper, (changed) => {
        fc.pre(decisionSigningBytes(changed).toString() !== decisionSigningBytes(original).toString())
        const fresh = new CoreCluster(PEERS)
        const commands = fresh.core(validator).receive('p0', encodeDecisionMessage({ type: 'request', decision: { decision: changed, signature: result.decision.signature } }))
        expect(verdictsIn(commands)).toMatchObject([{ verdict: 'reject', reason: 'bad-signature' }])
        expect(fresh.core(validator).isQuarantined('p0')).toBe(true)
      }),
      { numRuns: 60 },
    )
  })

  it('never attests flipped bytes, truncations or forged signatures, and never throws (fast-check)', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    const validator = result.validators[0]!
    const request = requestOf(result.commands)
    const originalBytes = decisionSigningBytes(result.decision.decision).toString()
    const mutation = fc.oneof(
      fc.record({ at: fc.nat(request.length - 1), xor: fc.integer({ min: 1, max: 255 }) }).map(({ at, xor }) => {
        const bytes = request.slice()
        bytes[at] = (bytes[at] as number) ^ xor
        return bytes
      }),
      fc.nat(request.length - 1).map((length) => request.slice(0, length)),
      fc.uint8Array({ minLength: 64, maxLength: 64 }).map((signature) => encodeDecisionMessage({ type: 'request', decision: { ...result.decision, signature } })),
    )
    fc.assert(
      fc.property(mutation, (bytes) => {
        const fresh = new CoreCluster(PEERS)
        const commands = fresh.core(validator).receive('p0', bytes)
        for (const verdict of verdictsIn(commands)) {
          // An attestation is only ever given to the very decision p0 signed.
          if (verdict.verdict === 'attest') expect(decisionSigningBytes((decodeDecisionMessage(bytes) as { decision: SignedDecision }).decision.decision).toString()).toBe(originalBytes)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('ignores verdicts it did not ask for or cannot verify, and times out decisions short of k answers', () => {
    const cluster = new CoreCluster(PEERS)
    const result = decideKill(cluster)
    const [first, second] = result.validators as [string, string]
    const notAsked = PEERS.find((peer) => peer !== 'p0' && !result.validators.includes(peer))!
    const attest = cluster.core(first).receive('p0', requestOf(result.commands))
    const verdictBytes = requestOf(attest)
    const decider = cluster.core('p0')
    expect(decider.receive(notAsked, verdictBytes)).toMatchObject([{ reason: 'sender-mismatch' }])
    // The not-asked peer's own (validly signed) attestation does not count either.
    const extra = new CoreCluster(PEERS).core(notAsked).receive('p0', requestOf(result.commands))
    expect(decider.receive(notAsked, requestOf(extra))).toMatchObject([{ reason: 'not-asked' }])
    const forged = decodeDecisionMessage(verdictBytes)
    if (forged.type !== 'verdict') throw new Error('expected a verdict')
    const badSig = encodeDecisionMessage({ type: 'verdict', attestation: { ...forged.attestation, signature: new Uint8Array(64) } })
    expect(decider.receive(first, badSig)).toMatchObject([{ type: 'quarantined', record: { peer: first, reason: 'bad-signature' } }])
    expect(decider.receive(first, verdictBytes)).toMatchObject([{ reason: 'quarantined' }])
    expect(decider.receive(second, encodeDecisionMessage({ type: 'verdict', attestation: { ...forged.attestation, attestation: { ...forged.attestation.attestation, attester: second } } }))).toMatchObject([{ type: 'quarantined' }])
    cluster.time += 1_999
    expect(decider.expire()).toEqual([])
    cluster.time += 1
    expect(decider.expire()).toMatchObject([{ type: 'rejected', reason: 'validation-timeout' }])
    expect(decider.receive(second, verdictBytes)).toMatchObject([{ reason: 'quarantined' }])
    expect(new CoreCluster(PEERS).core('p0').receive(first, verdictBytes)).toMatchObject([{ reason: 'unknown-decision' }])
    expect(decider.stats.rejected).toBe(1)
  })
})
