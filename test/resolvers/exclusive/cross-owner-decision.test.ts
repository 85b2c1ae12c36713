import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Intent, WorldValue } from '../../../core/index.js'
import {
  crossOwnerCommitRule,
  crossOwnerRepairs,
  crossOwnerVoteStatement,
  decodeClaimMessage,
  encodeClaimMessage,
  runRule,
  settlementRules,
  signatureHex,
  signBytes,
  statementSigningBytes,
  voteVerifierOf,
  CROSS_OWNER_DECISION_KIND,
  CROSS_OWNER_VOTE_STATEMENT,
  SETTLEMENT_DECISION_KIND,
  type CrossOwnerVote,
} from '../../../resolvers/index.js'
import { keysOf, registryOf } from '../decisions/fixtures.js'

const rule = crossOwnerCommitRule()
const intent: Intent = { action: 'trade', seq: 1, player: 'ann', payload: { partner: 'ben', give: ['a', 'b'], take: ['c'] } }

describe('crossOwnerCommitRule: the re-validation of a coordinator two-phase decision', () => {
  it('commits exactly when every reservation succeeded and the coordinator items were the traders (property)', () => {
    const voteArb = fc.oneof(fc.constant(undefined), fc.record({ ok: fc.boolean(), reason: fc.constantFrom('', 'conflict') }))
    const holderArb = fc.constantFrom('ann', 'ben', 'cat')
    fc.assert(
      fc.property(voteArb, voteArb, holderArb, holderArb, fc.nat(5), (own, other, holderA, holderB, version) => {
        const votes: Record<string, WorldValue> = {}
        if (own !== undefined) votes['p0'] = own
        if (other !== undefined) votes['p1'] = other
        const preState = {
          coordinator: 'p0',
          parts: { p0: ['item:a', 'item:b'], p1: ['item:c'] },
          votes,
          items: { a: { type: 'player', id: holderA, version }, b: { type: 'player', id: holderB, version } },
        }
        const commit = own?.ok === true && other?.ok === true && holderA === 'ann' && holderB === 'ann'
        expect(runRule(rule, { intent, preState })).toEqual({ ok: true, outcome: { commit } })
        // An honest outcome needs no repair; a commit the rule refuses moves the coordinator's items back.
        expect(crossOwnerRepairs(intent, preState, { commit })).toEqual([])
        const repairs = crossOwnerRepairs(intent, preState, { commit: true })
        if (commit) expect(repairs).toEqual([])
        else expect(repairs).toEqual([
          { item: 'a', applied: { holder: { type: 'player', id: 'ben' }, version: version + 1 }, rightful: { type: 'player', id: holderA } },
          { item: 'b', applied: { holder: { type: 'player', id: 'ben' }, version: version + 1 }, rightful: { type: 'player', id: holderB } },
        ])
      }),
      { numRuns: 200 },
    )
  })

  it('refuses malformed decisions', () => {
    const good = { coordinator: 'p0', parts: { p0: ['item:a', 'item:b'], p1: ['item:c'] }, votes: {}, items: {} }
    const bad: WorldValue[] = [
      null,
      { ...good, coordinator: 3 },
      { ...good, parts: { p0: ['item:a'], p1: ['item:c'] } },
      { ...good, parts: { p0: ['item:a', 'item:b'], p1: ['item:c', 'item:a'] } },
      { ...good, parts: { p0: [], p1: ['item:a', 'item:b', 'item:c'] } },
      { ...good, parts: { p2: ['item:a', 'item:b'], p1: ['item:c'] } },
      { ...good, votes: { p0: { ok: 'yes' } } },
      { ...good, votes: { p9: { ok: true } } },
      { ...good, items: { a: { type: 'player', version: 'x' } } },
    ]
    for (const preState of bad) expect(runRule(rule, { intent, preState })).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(runRule(rule, { intent: { ...intent, payload: { partner: 'ann' } }, preState: good })).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(crossOwnerRepairs(intent, null, { commit: true })).toEqual([])
    expect(Object.keys(settlementRules()).sort()).toEqual([CROSS_OWNER_DECISION_KIND, SETTLEMENT_DECISION_KIND].sort())
  })
})

describe('crossOwnerCommitRule with keys: every participant vote is that participant signed word', () => {
  const keys = registryOf(['p0', 'p1', 'p2'])
  const claimId = JSON.stringify(['p2', 's', 1])
  const parts = { p0: ['item:a', 'item:b'], p1: ['item:c'] }
  const items = { a: { type: 'player', id: 'ann', version: 2 }, b: { type: 'player', id: 'ann', version: 0 } }
  const signedVote = (vote: Partial<CrossOwnerVote> & { ok: boolean }, signer = 'p1') => {
    const full: CrossOwnerVote = { claimId, intent, coordinator: 'p0', voter: 'p1', part: parts.p1, reason: '', ...vote }
    return signatureHex(signBytes(keysOf(signer).privateKey, statementSigningBytes(CROSS_OWNER_VOTE_STATEMENT, crossOwnerVoteStatement(full))))
  }
  const keyed = crossOwnerCommitRule({ keys })
  const preStateWith = (vote: WorldValue): WorldValue => ({ claim: claimId, coordinator: 'p0', parts, votes: { p0: { ok: true, reason: '' }, p1: vote }, items })

  it('attests the honest votes, yes and no', () => {
    expect(runRule(keyed, { intent, preState: preStateWith({ ok: true, reason: '', signature: signedVote({ ok: true }) }) })).toEqual({ ok: true, outcome: { commit: true } })
    expect(runRule(keyed, { intent, preState: preStateWith({ ok: false, reason: 'conflict', signature: signedVote({ ok: false, reason: 'conflict' }) }) })).toEqual({ ok: true, outcome: { commit: false } })
    // A missing vote (the prepare timed out) needs no signature: the rule says abort.
    expect(runRule(keyed, { intent, preState: { claim: claimId, coordinator: 'p0', parts, votes: { p0: { ok: true, reason: '' } }, items } })).toEqual({ ok: true, outcome: { commit: false } })
  })

  it('refuses any vote the coordinator forged or altered, and repairs a commit that rested on it (property)', () => {
    const tamper = fc.constantFrom(
      'flip-no-to-yes',
      'other-claim',
      'other-intent',
      'other-coordinator',
      'other-part',
      'other-signer',
      'other-reason',
      'no-signature',
      'garbage-signature',
    )
    fc.assert(
      fc.property(tamper, (how) => {
        let vote: WorldValue
        let preState: WorldValue
        let checkedIntent = intent
        switch (how) {
          case 'flip-no-to-yes':
            vote = { ok: true, reason: '', signature: signedVote({ ok: false, reason: 'conflict' }) }
            break
          case 'other-claim':
            vote = { ok: true, reason: '', signature: signedVote({ ok: true, claimId: 'another' }) }
            break
          case 'other-intent':
            vote = { ok: true, reason: '', signature: signedVote({ ok: true }) }
            checkedIntent = { ...intent, seq: 2 }
            break
          case 'other-coordinator':
            vote = { ok: true, reason: '', signature: signedVote({ ok: true, coordinator: 'p2' }) }
            break
          case 'other-part':
            vote = { ok: true, reason: '', signature: signedVote({ ok: true, part: ['item:c', 'item:d'] }) }
            break
          case 'other-signer':
            vote = { ok: true, reason: '', signature: signedVote({ ok: true }, 'p0') }
            break
          case 'other-reason':
            vote = { ok: false, reason: 'not-permitted', signature: signedVote({ ok: false, reason: 'conflict' }) }
            break
          case 'no-signature':
            vote = { ok: true, reason: '' }
            break
          default:
            vote = { ok: true, reason: '', signature: 'ab'.repeat(64) }
        }
        preState = preStateWith(vote)
        expect(runRule(keyed, { intent: checkedIntent, preState })).toMatchObject({ ok: false, reason: 'forged-vote' })
        // Without keys the coordinator's word is taken: that is what signing closes.
        expect(runRule(rule, { intent: checkedIntent, preState }).ok).toBe(true)
        // Rolled back as if the vote were missing: the coordinator's items return to the giver.
        const verify = voteVerifierOf(keys)
        expect(crossOwnerRepairs(checkedIntent, preState, { commit: true }, verify).map((r) => r.item)).toEqual(['a', 'b'])
      }),
      { numRuns: 40 },
    )
  })

  it('carries the vote signature on the wire, and refuses a signature of the wrong length', () => {
    const signature = new Uint8Array(64).fill(7)
    const vote = { type: 'vote' as const, claimId, ok: true, reason: '', message: '', signature }
    expect(decodeClaimMessage(encodeClaimMessage(vote))).toEqual(vote)
    const unsigned = { type: 'vote' as const, claimId, ok: false, reason: 'conflict', message: 'taken' }
    expect(decodeClaimMessage(encodeClaimMessage(unsigned))).toEqual(unsigned)
    // A vote from a peer before signed votes ends after its message.
    const legacy = encodeClaimMessage(unsigned).slice(0, -1)
    expect(decodeClaimMessage(legacy)).toEqual(unsigned)
    const short = encodeClaimMessage({ ...vote, signature: new Uint8Array(10) })
    expect(() => decodeClaimMessage(short)).toThrow(/vote signature/)
  })
})
