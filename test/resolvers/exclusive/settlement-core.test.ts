import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type IntentResult } from '../../../core/index.js'
import {
  crossOwnerVoteStatement,
  CROSS_OWNER_VOTE_STATEMENT,
  Membership,
  SettlementCore,
  settlementWindow,
  signatureHex,
  signBytes,
  statementSigningBytes,
  voteVerifierOf,
  type ClaimMessage,
  type CrossOwnerDecision,
  type VoteSigner,
  accept,
  refuse,
  type ActionResolver,
  type Claim,
  type SettlementCommand,
  type SettlementEffects,
  type SettlementOptions,
} from '../../../resolvers/index.js'
import { keysOf, registryOf } from '../decisions/fixtures.js'

// Resources are named after their owner ("a:sword" is owned by peer a), so tests read plainly.
const ownerByPrefix = (resource: string): string => resource.split(':')[0] as string

const grab: ActionResolver = {
  action: 'grab',
  kind: 'exclusive',
  resources: (intent) => ((intent.payload as { things?: string[] }).things ?? []),
  apply: () => true,
}

const ranked: ActionResolver = {
  ...grab,
  action: 'ranked',
  // Refuses everyone but the highest-ranked claimant: a custom resolve.
  resolve: (claims) => claims.map((claim, i) => (i === 0 ? { claim, decision: 'try' as const } : { claim, decision: 'refuse' as const, reason: 'conflict', message: 'outranked' })),
}

interface Harness {
  core: SettlementCore
  applied: Claim[]
  committed: Array<[string, readonly string[]]>
  decisions: CrossOwnerDecision[]
  prepareVerdict: { ok: true } | { ok: false; reason: string; message: string }
  reachable: Set<string>
  handle: (event: Parameters<SettlementCore['handle']>[0], now?: number) => SettlementCommand[]
}

const harness = (self: string, overrides: Partial<SettlementOptions> = {}): Harness => {
  const h: Harness = {
    applied: [],
    committed: [],
    decisions: [],
    prepareVerdict: accept(),
    reachable: new Set(['a', 'b', 'c']),
    core: undefined as unknown as SettlementCore,
    handle: (event, now = 0) => h.core.handle(event, now),
  }
  const effects: SettlementEffects = {
    apply: (claim) => h.applied.push(claim),
    prepare: () => h.prepareVerdict,
    commit: (claim, resources) => h.committed.push([claim.id, resources]),
    currentState: (claim) => ({ claim: claim.id }),
    decided: (_claim, decision) => h.decisions.push(decision),
  }
  h.core = new SettlementCore({
    self,
    membership: new Membership({ epoch: 1, members: ['a', 'b', 'c'] }, ownerByPrefix),
    resolverOf: (action) => (action === 'grab' ? grab : action === 'ranked' ? ranked : undefined),
    isReachable: (peer) => h.reachable.has(peer),
    effects,
    windowMs: 10,
    maxLagMs: 100,
    retryMs: 50,
    claimTimeoutMs: 500,
    prepareTimeoutMs: 200,
    ...overrides,
  })
  return h
}

const claimOf = (origin: string, seq: number, things: string[], wallMs: number, action = 'grab', epoch = 1): Claim => ({
  id: `${origin}/${seq}`,
  origin,
  session: 's',
  viewEpoch: epoch,
  intent: { action, seq, player: `p-${origin}-${seq}`, payload: { things }, stamp: { wallMs, counter: 0, peer: origin } },
})

const ack = (seq: number): IntentResult => ({ type: 'ack', seq, result: true })
const sends = (commands: SettlementCommand[]) => commands.filter((c) => c.type === 'send') as Array<Extract<SettlementCommand, { type: 'send' }>>
const answers = (commands: SettlementCommand[]) => commands.filter((c) => c.type === 'answer') as Array<Extract<SettlementCommand, { type: 'answer' }>>

describe('SettlementCore as origin', () => {
  it('forwards a claim to its owner, resends until the outcome arrives, then answers once', () => {
    const h = harness('a')
    const claim = claimOf('a', 1, ['b:sword'], 0)
    const out = h.handle({ type: 'submit', claim })
    expect(sends(out)).toEqual([{ type: 'send', to: 'b', message: { type: 'claim', claim } }])
    expect(h.core.pendingClaims()).toEqual([claim])
    const resend = h.handle({ type: 'timer', timer: `retry:${claim.id}` }, 50)
    expect(sends(resend)).toHaveLength(1)
    expect(h.core.stats.claimsResent).toBe(1)
    const done = h.handle({ type: 'message', from: 'b', message: { type: 'outcome', claimId: claim.id, result: ack(1) } }, 60)
    expect(answers(done)).toEqual([{ type: 'answer', claim, result: ack(1) }])
    expect(h.core.pendingClaims()).toEqual([])
    // A duplicate outcome (the resend was answered too) is ignored.
    expect(answers(h.handle({ type: 'message', from: 'b', message: { type: 'outcome', claimId: claim.id, result: ack(1) } }, 70))).toEqual([])
    expect(h.core.stats.lateOutcomes).toBe(1)
  })

  it('refuses with authority-unavailable when the owner cannot be reached, and never forwards', () => {
    const h = harness('a')
    h.reachable.delete('b')
    const out = h.handle({ type: 'submit', claim: claimOf('a', 1, ['b:sword'], 0) })
    expect(sends(out)).toEqual([])
    expect(answers(out)[0]?.result).toMatchObject({ type: 'reject', reason: 'authority-unavailable' })
  })

  it('keeps a claim pending while the owner is cut off and refuses it at the timeout', () => {
    const h = harness('a')
    const claim = claimOf('a', 1, ['b:sword'], 0)
    h.handle({ type: 'submit', claim })
    h.reachable.delete('b')
    expect(sends(h.handle({ type: 'timer', timer: `retry:${claim.id}` }, 50))).toEqual([])
    expect(h.core.pendingClaims()).toHaveLength(1)
    const out = h.handle({ type: 'timer', timer: `retry:${claim.id}` }, 500)
    expect(answers(out)[0]?.result).toMatchObject({ reason: 'authority-unavailable' })
    // An outcome after the timeout changes nothing here (the world document shows it).
    expect(answers(h.handle({ type: 'message', from: 'b', message: { type: 'outcome', claimId: claim.id, result: ack(1) } }, 600))).toEqual([])
  })

  it('refuses unknown actions and claims naming no resource', () => {
    const h = harness('a')
    expect(answers(h.handle({ type: 'submit', claim: claimOf('a', 1, ['a:x'], 0, 'nope') }))[0]?.result).toMatchObject({ reason: 'unknown-action' })
    expect(answers(h.handle({ type: 'submit', claim: claimOf('a', 2, [], 0) }))[0]?.result).toMatchObject({ reason: 'invalid-intent' })
  })
})

describe('SettlementCore as owner', () => {
  it('collects a window and applies claims in HLC order, so an earlier-stamped claim arriving later still goes first', () => {
    const h = harness('a')
    const late = claimOf('b', 1, ['a:sword'], 5)
    const early = claimOf('c', 1, ['a:sword'], 3)
    const out = h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim: late } }, 6)
    expect(out).toContainEqual({ type: 'setTimer', timer: 'window', at: 16 })
    h.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: early } }, 9)
    h.handle({ type: 'timer', timer: 'window' }, 16)
    expect(h.applied.map((c) => c.id)).toEqual([early.id, late.id])
  })

  it('clamps a stamp older than maxLag, so nobody wins by claiming to have acted long ago', () => {
    const h = harness('a')
    // Both stamps reach back past maxLag (100 ms) and are clamped to their arrival - 100: the liar's
    // stamp of 0 competes as 400, so the honest claim (395 -> 396) still goes first.
    const honest = claimOf('c', 1, ['a:sword'], 395)
    const liar = claimOf('b', 1, ['a:sword'], 0)
    h.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: honest } }, 496)
    h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim: liar } }, 500)
    h.handle({ type: 'timer', timer: 'window' }, 506)
    expect(h.core.stats.stampsClamped).toBe(2)
    expect(h.applied.map((c) => c.id)).toEqual([honest.id, liar.id])
  })

  it('answers the origin with the applied result and repeats it for a resent claim without applying twice', () => {
    const h = harness('a')
    const claim = claimOf('b', 1, ['a:sword'], 0)
    h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim } })
    h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim } })
    h.handle({ type: 'timer', timer: 'window' }, 10)
    expect(h.applied).toHaveLength(1)
    expect(h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim } }, 11)).toEqual([])
    const out = h.handle({ type: 'applied', claimId: claim.id, result: { type: 'reject', seq: 1, reason: 'conflict', message: 'taken' } }, 12)
    expect(sends(out)[0]).toMatchObject({ to: 'b', message: { type: 'outcome', claimId: claim.id, state: { claim: claim.id } } })
    const again = h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim } }, 20)
    expect(sends(again)[0]).toMatchObject({ to: 'b', message: { type: 'outcome', result: { reason: 'conflict' } } })
    expect(h.applied).toHaveLength(1)
    expect(h.handle({ type: 'applied', claimId: 'unknown', result: ack(1) })).toEqual([])
  })

  it('settles its own players claims locally', () => {
    const h = harness('a')
    const claim = claimOf('a', 1, ['a:sword'], 0)
    expect(sends(h.handle({ type: 'submit', claim }))).toEqual([])
    h.handle({ type: 'timer', timer: 'window' }, 10)
    expect(answers(h.handle({ type: 'applied', claimId: claim.id, result: ack(1) }, 11))[0]?.result).toEqual(ack(1))
  })

  it('refuses claims it does not own, claims of another view, and claims relayed by a peer that is not their origin', () => {
    const h = harness('a')
    const notMine = claimOf('b', 1, ['c:sword'], 0)
    expect(sends(h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim: notMine } }))[0]?.message).toMatchObject({ result: { reason: 'authority-unavailable' } })
    const oldView = claimOf('b', 2, ['a:sword'], 0, 'grab', 0)
    expect(sends(h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim: oldView } }))[0]?.message).toMatchObject({ result: { reason: 'authority-unavailable' } })
    expect(h.core.stats.refusedNotOwner).toBe(2)
    expect(h.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: claimOf('b', 3, ['a:sword'], 0) } })).toEqual([])
    expect(sends(h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim: claimOf('b', 4, ['a:x'], 0, 'nope') } }))[0]?.message).toMatchObject({ result: { reason: 'unknown-action' } })
  })

  it('lets a custom resolve refuse claims outright', () => {
    const h = harness('a')
    const first = claimOf('b', 1, ['a:seat'], 1, 'ranked')
    const second = claimOf('c', 1, ['a:seat'], 2, 'ranked')
    h.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: second } })
    h.handle({ type: 'message', from: 'b', message: { type: 'claim', claim: first } })
    const out = h.handle({ type: 'timer', timer: 'window' }, 10)
    expect(h.applied.map((c) => c.id)).toEqual([first.id])
    expect(sends(out)[0]?.message).toMatchObject({ claimId: second.id, result: { reason: 'conflict', message: 'outranked' } })
  })
})

describe('SettlementCore across owners (two-phase commit)', () => {
  const trade = claimOf('c', 1, ['a:gem', 'b:ring'], 0)

  it('reserves, collects votes, commits on every owner, and answers once all voted yes', () => {
    const coordinator = harness('a')
    const participant = harness('b')
    coordinator.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } })
    const prepare = sends(coordinator.handle({ type: 'timer', timer: 'window' }, 10))
    expect(prepare).toEqual([{ type: 'send', to: 'b', message: { type: 'prepare', claim: trade } }])
    expect(coordinator.core.reservations().get('a:gem')).toBe(trade.id)
    // While reserved, another claim on the gem loses.
    coordinator.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: claimOf('c', 2, ['a:gem'], 11) } }, 11)
    const blocked = coordinator.handle({ type: 'timer', timer: 'window' }, 21)
    expect(sends(blocked)[0]?.message).toMatchObject({ result: { reason: 'conflict' } })
    const vote = sends(participant.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } }, 12))
    expect(vote[0]?.message).toEqual({ type: 'vote', claimId: trade.id, ok: true, reason: '', message: '' })
    expect(participant.core.reservations().get('b:ring')).toBe(trade.id)
    // A resent prepare gets the same vote.
    expect(sends(participant.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } }, 13))[0]?.message).toMatchObject({ ok: true })
    const decided = sends(coordinator.handle({ type: 'message', from: 'b', message: vote[0]!.message }, 14))
    expect(coordinator.committed).toEqual([[trade.id, ['a:gem']]])
    expect(decided.map((s) => s.message.type).sort()).toEqual(['decide', 'outcome'])
    expect(coordinator.core.stats.crossOwnerCommits).toBe(1)
    const done = sends(participant.handle({ type: 'message', from: 'a', message: { type: 'decide', claimId: trade.id, commit: true } }, 15))
    expect(participant.committed).toEqual([[trade.id, ['b:ring']]])
    expect(participant.core.reservations().size).toBe(0)
    expect(done[0]?.message).toEqual({ type: 'done', claimId: trade.id })
    // Until done arrives the coordinator resends its decision; after, it stops.
    expect(sends(coordinator.handle({ type: 'timer', timer: `decide:${trade.id}` }, 200))).toHaveLength(1)
    coordinator.handle({ type: 'message', from: 'b', message: { type: 'done', claimId: trade.id } }, 201)
    expect(sends(coordinator.handle({ type: 'timer', timer: `decide:${trade.id}` }, 300))).toEqual([])
    // A late duplicate vote hears the decision again.
    expect(sends(coordinator.handle({ type: 'message', from: 'b', message: vote[0]!.message }, 301))[0]?.message).toEqual({ type: 'decide', claimId: trade.id, commit: true })
  })

  it('with signed votes: the participant signs its vote; the coordinator counts only a vote that verifies', () => {
    const keys = registryOf(['a', 'b', 'c'])
    const signerOf = (self: string): VoteSigner => ({
      sign: (vote) => signBytes(keysOf(self).privateKey, statementSigningBytes(CROSS_OWNER_VOTE_STATEMENT, crossOwnerVoteStatement(vote))),
      verify: (vote, signature) => voteVerifierOf(keys)(vote.voter, crossOwnerVoteStatement(vote), signature),
    })
    const coordinator = harness('a', { votes: signerOf('a') })
    const participant = harness('b', { votes: signerOf('b') })
    coordinator.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } })
    coordinator.handle({ type: 'timer', timer: 'window' }, 10)
    const vote = sends(participant.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } }, 12))[0]!.message as Extract<ClaimMessage, { type: 'vote' }>
    expect(vote.signature).toHaveLength(64)
    // A vote whose signature does not verify (altered on the way, or another peer's) is not counted.
    for (const bad of [{ ...vote, signature: new Uint8Array(64) }, { ...vote, reason: 'x' }, { type: 'vote' as const, claimId: trade.id, ok: true, reason: '', message: '' }]) {
      expect(sends(coordinator.handle({ type: 'message', from: 'b', message: bad }, 13))).toEqual([])
    }
    expect(coordinator.core.stats.votesUnverified).toBe(3)
    expect(coordinator.committed).toEqual([])
    // The participant's own signed vote commits, and the decision carries its signature.
    coordinator.handle({ type: 'message', from: 'b', message: vote }, 14)
    expect(coordinator.committed).toEqual([[trade.id, ['a:gem']]])
    expect(coordinator.decisions).toMatchObject([{ commit: true, votes: { a: { ok: true }, b: { ok: true, signature: signatureHex(vote.signature!) } } }])
  })

  it('aborts everywhere when one owner refuses its part', () => {
    const coordinator = harness('a')
    coordinator.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } })
    coordinator.handle({ type: 'timer', timer: 'window' }, 10)
    const out = sends(coordinator.handle({ type: 'message', from: 'b', message: { type: 'vote', claimId: trade.id, ok: false, reason: 'conflict', message: 'ring moved' } }, 12))
    expect(out.find((s) => s.message.type === 'decide')?.message).toEqual({ type: 'decide', claimId: trade.id, commit: false })
    expect(out.find((s) => s.message.type === 'outcome')?.message).toMatchObject({ result: { reason: 'conflict', message: 'ring moved' } })
    expect(coordinator.committed).toEqual([])
    expect(coordinator.core.reservations().size).toBe(0)
    expect(coordinator.core.stats.crossOwnerAborts).toBe(1)
    // A vote arriving after the decision hears it again.
    expect(sends(coordinator.handle({ type: 'message', from: 'b', message: { type: 'vote', claimId: trade.id, ok: true, reason: '', message: '' } }, 13))[0]?.message).toMatchObject({ commit: false })
  })

  it('aborts when votes do not arrive in time, and refuses at once when a part owner is unreachable', () => {
    const coordinator = harness('a')
    coordinator.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } })
    coordinator.handle({ type: 'timer', timer: 'window' }, 10)
    const out = sends(coordinator.handle({ type: 'timer', timer: `prepare:${trade.id}` }, 210))
    expect(out.find((s) => s.message.type === 'outcome')?.message).toMatchObject({ result: { reason: 'authority-unavailable' } })
    const cut = harness('a')
    cut.reachable.delete('b')
    cut.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } })
    expect(sends(cut.handle({ type: 'timer', timer: 'window' }, 10))[0]?.message).toMatchObject({ type: 'outcome', result: { reason: 'authority-unavailable' } })
  })

  it('refuses at the coordinator when its own part fails, and tells an unknown voter to abort', () => {
    const coordinator = harness('a')
    coordinator.prepareVerdict = refuse('conflict', 'gem moved')
    coordinator.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } })
    expect(sends(coordinator.handle({ type: 'timer', timer: 'window' }, 10))[0]?.message).toMatchObject({ type: 'outcome', result: { reason: 'conflict' } })
    expect(sends(coordinator.handle({ type: 'message', from: 'b', message: { type: 'vote', claimId: 'ghost', ok: true, reason: '', message: '' } }))[0]?.message).toEqual({ type: 'decide', claimId: 'ghost', commit: false })
  })

  it('participant votes no on a reserved part, a failed check, a wrong coordinator or a part it does not own', () => {
    const participant = harness('b')
    participant.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } })
    const other = claimOf('c', 2, ['a:gem2', 'b:ring'], 0)
    expect(sends(participant.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: other } }))[0]?.message).toMatchObject({ ok: false, reason: 'conflict' })
    const fresh = harness('b')
    fresh.prepareVerdict = refuse('conflict', 'ring moved')
    expect(sends(fresh.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } }))[0]?.message).toMatchObject({ ok: false, message: 'ring moved' })
    expect(sends(fresh.handle({ type: 'message', from: 'c', message: { type: 'prepare', claim: trade } }))[0]?.message).toMatchObject({ ok: false, reason: 'authority-unavailable' })
    expect(sends(fresh.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: claimOf('c', 3, ['a:x', 'c:y'], 0) } }))[0]?.message).toMatchObject({ ok: false })
    expect(sends(fresh.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: claimOf('c', 4, ['a:x'], 0, 'nope') } }))[0]?.message).toMatchObject({ ok: false, reason: 'unknown-action' })
    // A decision for a claim it never reserved is acknowledged and changes nothing.
    expect(sends(fresh.handle({ type: 'message', from: 'a', message: { type: 'decide', claimId: 'ghost', commit: true } }))[0]?.message).toEqual({ type: 'done', claimId: 'ghost' })
    expect(fresh.committed).toEqual([])
    // An abort releases the reservation without writing.
    participant.handle({ type: 'message', from: 'a', message: { type: 'decide', claimId: trade.id, commit: false } })
    expect(participant.core.reservations().size).toBe(0)
    expect(participant.committed).toEqual([])
  })
})

describe('SettlementCore after a membership change', () => {
  it('holds back resources it just took over for the handover window, then settles them', () => {
    const membership = new Membership({ epoch: 1, members: ['a', 'b'] }, (resource, view) => (view.members.includes('c') ? 'c' : ownerByPrefix(resource)))
    const applied: Claim[] = []
    const core = new SettlementCore({
      self: 'c',
      membership,
      resolverOf: () => grab,
      isReachable: () => true,
      effects: { apply: (claim) => applied.push(claim), prepare: () => accept(), commit: () => undefined, currentState: () => undefined },
      windowMs: 10,
      handoverMs: 1000,
    })
    membership.install({ epoch: 2, members: ['a', 'b', 'c'] }, 100)
    const early = claimOf('a', 1, ['a:sword'], 150, 'grab', 2)
    core.handle({ type: 'message', from: 'a', message: { type: 'claim', claim: early } }, 150)
    const refused = core.handle({ type: 'timer', timer: 'window' }, 160)
    expect(sends(refused)[0]?.message).toMatchObject({ result: { reason: 'authority-unavailable' } })
    expect(membership.previousOwner('a:sword')).toEqual({ owner: 'a', since: 100 })
    const vote = core.handle({ type: 'message', from: 'c', message: { type: 'prepare', claim: claimOf('a', 3, ['c:x', 'a:y'], 150, 'grab', 2) } }, 170)
    expect(sends(vote)[0]?.message).toMatchObject({ ok: false })
    const later = claimOf('a', 2, ['a:sword'], 1200, 'grab', 2)
    core.handle({ type: 'message', from: 'a', message: { type: 'claim', claim: later } }, 1200)
    core.handle({ type: 'timer', timer: 'window' }, 1210)
    expect(applied.map((c) => c.id)).toEqual([later.id])
  })
})

describe('an auto settlement window', () => {
  it('lasts about the largest one-way delay among reachable members, and its upper bound while one is unknown', () => {
    const rtts = new Map<string, number>([['b', 4]])
    const h = harness('a', { windowMs: 'auto', roundTripTo: (peer) => rtts.get(peer) })
    const open = (now: number, seq: number) => h.handle({ type: 'submit', claim: claimOf('a', seq, ['a:thing' + seq], now) }, now).find((c) => c.type === 'setTimer' && c.timer === 'window')
    // c is reachable but not measured: fairness first, the upper bound (20 ms).
    expect(open(0, 1)).toEqual({ type: 'setTimer', timer: 'window', at: 20 })
    h.handle({ type: 'timer', timer: 'window' }, 20)
    rtts.set('c', 10)
    // Both measured: 1.5 x the largest one way (10 / 2).
    expect(open(30, 2)).toEqual({ type: 'setTimer', timer: 'window', at: 37.5 })
    h.handle({ type: 'timer', timer: 'window' }, 37.5)
    // An unreachable member cannot send a claim in time anyway: it does not stretch the window.
    h.reachable.delete('c')
    expect(open(40, 3)).toEqual({ type: 'setTimer', timer: 'window', at: 43 })
    h.handle({ type: 'timer', timer: 'window' }, 43)
    // Loopback round trips: never below the timer's granularity.
    rtts.set('b', 0.2)
    expect(open(50, 4)).toEqual({ type: 'setTimer', timer: 'window', at: 51 })
  })

  it('stays within its bounds and covers every measured one-way delay it can', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.double({ min: 0, max: 500, noNaN: true }), { nil: undefined }), { maxLength: 8 }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.double({ min: 5, max: 100, noNaN: true }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        (rtts, minMs, maxMs, factor) => {
          const window = settlementWindow({ auto: { minMs, maxMs, factor } })(rtts)
          expect(window).toBeGreaterThanOrEqual(minMs)
          expect(window).toBeLessThanOrEqual(maxMs)
          if (rtts.some((rtt) => rtt === undefined)) expect(window).toBe(maxMs)
          else for (const rtt of rtts) expect(window).toBeGreaterThanOrEqual(Math.min(maxMs, (rtt as number) / 2))
        },
      ),
    )
  })

  it('keeps fixed windows and the default, and refuses nonsense', () => {
    expect(settlementWindow(undefined)([])).toBe(20)
    expect(settlementWindow(7)([undefined])).toBe(7)
    expect(settlementWindow('auto')([])).toBe(1)
    expect(() => settlementWindow(-1)).toThrow(RangeError)
    expect(() => settlementWindow({ auto: { minMs: 5, maxMs: 2 } })).toThrow(RangeError)
    expect(() => settlementWindow({ auto: { factor: 0.5 } })).toThrow(RangeError)
  })
})
