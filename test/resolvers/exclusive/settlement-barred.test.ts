import { describe, expect, it } from 'vitest'
import type { IntentResult } from '../../../core/index.js'
import { Membership, SettlementCore, accept, type ActionResolver, type Claim, type SettlementCommand } from '../../../resolvers/index.js'

// Resources are named after their owner ("b:sword" is owned by peer b); peer b is quarantined.
const grab: ActionResolver = { action: 'grab', kind: 'exclusive', resources: (intent) => (intent.payload as { things: string[] }).things, apply: () => true }

const coreOf = (self: string, barred: Set<string>) => {
  const applied: Claim[] = []
  const core = new SettlementCore({
    self,
    membership: new Membership({ epoch: 1, members: ['a', 'b', 'c'] }, (resource) => resource.split(':')[0] as string),
    resolverOf: (action) => (action === 'grab' ? grab : undefined),
    isReachable: () => true,
    effects: { apply: (claim) => applied.push(claim), prepare: () => accept(), commit: () => undefined, currentState: () => undefined },
    barred: (peer) => (barred.has(peer) ? 'revalidation-failed: a later claim was granted' : undefined),
    windowMs: 10,
    retryMs: 50,
  })
  return { core, applied }
}

const claimOf = (origin: string, seq: number, things: string[]): Claim => ({
  id: `${origin}/${seq}`,
  origin,
  session: 's',
  viewEpoch: 1,
  intent: { action: 'grab', seq, player: `p${seq}`, payload: { things }, stamp: { wallMs: 0, counter: seq, peer: origin } },
})
const answers = (commands: SettlementCommand[]) => commands.filter((c) => c.type === 'answer').map((c) => (c as { result: IntentResult }).result)
const sends = (commands: SettlementCommand[]) => commands.filter((c) => c.type === 'send').map((c) => (c as { to: string; message: unknown }).to)
const ack: IntentResult = { type: 'ack', seq: 1, result: true }

describe('SettlementCore with a quarantined (barred) owner', () => {
  it('refuses new claims on its resources with the reason, never forwarding them', () => {
    const { core } = coreOf('a', new Set(['b']))
    const out = core.handle({ type: 'submit', claim: claimOf('a', 1, ['b:sword']) }, 0)
    expect(sends(out)).toEqual([])
    expect(answers(out)[0]).toMatchObject({ type: 'reject', reason: 'authority-unavailable', message: expect.stringMatching(/owner b of this grab is quarantined \(revalidation-failed/) })
    expect(core.stats.refusedQuarantined).toBe(1)
  })

  it('refuses a pending claim at its next retry and does not pass on the outcome of an owner quarantined meanwhile', () => {
    const barred = new Set<string>()
    const { core } = coreOf('a', barred)
    const first = claimOf('a', 1, ['b:sword'])
    const second = claimOf('a', 2, ['b:shield'])
    core.handle({ type: 'submit', claim: first }, 0)
    core.handle({ type: 'submit', claim: second }, 0)
    barred.add('b')
    expect(answers(core.handle({ type: 'timer', timer: `retry:${first.id}` }, 50))[0]).toMatchObject({ reason: 'authority-unavailable' })
    const outcome = core.handle({ type: 'message', from: 'b', message: { type: 'outcome', claimId: second.id, result: ack } }, 60)
    expect(answers(outcome)[0]).toMatchObject({ reason: 'authority-unavailable', message: expect.stringMatching(/its outcome was not accepted/) })
    expect(core.pendingClaims()).toEqual([])
  })

  it('refuses a cross-owner claim with a quarantined part owner, and votes no on a prepare from a quarantined coordinator', () => {
    const coordinator = coreOf('a', new Set(['b']))
    coordinator.core.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: claimOf('c', 1, ['a:gem', 'b:ring']) } }, 0)
    const settled = coordinator.core.handle({ type: 'timer', timer: 'window' }, 10)
    expect(sends(settled)).toEqual(['c'])
    expect(settled[0]).toMatchObject({ message: { type: 'outcome', result: { reason: 'authority-unavailable' } } })
    const participant = coreOf('c', new Set(['b']))
    const vote = participant.core.handle({ type: 'message', from: 'b', message: { type: 'prepare', claim: claimOf('a', 2, ['b:gem', 'c:ring']) } }, 0)
    expect(vote[0]).toMatchObject({ type: 'send', to: 'b', message: { type: 'vote', ok: false, reason: 'authority-unavailable' } })
    expect(participant.core.reservations().size).toBe(0)
  })

  it('settles its own resources as usual', () => {
    const { core, applied } = coreOf('a', new Set(['b']))
    core.handle({ type: 'submit', claim: claimOf('a', 1, ['a:sword']) }, 0)
    core.handle({ type: 'timer', timer: 'window' }, 10)
    expect(applied).toHaveLength(1)
  })
})
