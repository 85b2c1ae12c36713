import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Intent, WorldValue } from '../../../core/index.js'
import { crossOwnerCommitRule, crossOwnerRepairs, runRule, settlementRules, CROSS_OWNER_DECISION_KIND, SETTLEMENT_DECISION_KIND } from '../../../resolvers/index.js'

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
