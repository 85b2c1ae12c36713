import { describe, expect, it } from 'vitest'
import type { Intent, WorldValue } from '../../../core/index.js'
import { decisionRule, dropRoll, killRule, pickupResolutionRule, rareDropRule, runRule, tradeRule } from '../../../resolvers/index.js'
import { killInputs } from './fixtures.js'

const intent = (action: string, payload: WorldValue, player = 'alice'): Intent => ({ action, seq: 1, player, payload })

describe('built-in decision rules', () => {
  it('kill: in reach, alive and bounded damage; the outcome says whether it died', () => {
    const rule = killRule({ reach: 2, maxDamage: 50 })
    expect(rule(killInputs())).toEqual({ ok: true, outcome: { target: 'bob', by: 'alice', health: 0, killed: true } })
    expect(rule(killInputs(1, 100))).toEqual({ ok: true, outcome: { target: 'bob', by: 'alice', health: 60, killed: false } })
    const base = killInputs()
    const pre = base.preState as { attacker: WorldValue; target: { id: string; x: number; y: number; health: number }; damage: number }
    expect(rule({ ...base, preState: { ...pre, target: { ...pre.target, x: 9 } } })).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(rule({ ...base, preState: { ...pre, target: { ...pre.target, health: 0 } } })).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(rule({ ...base, preState: { ...pre, damage: 51 } })).toMatchObject({ ok: false, reason: 'cheat-suspected' })
    expect(rule({ ...base, preState: { ...pre, target: { ...pre.target, id: 'carol' } } })).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(rule({ ...base, preState: { ...pre, attacker: null } })).toMatchObject({ ok: false, reason: 'invalid-intent' })
  })

  it('rare drop: the roll picks the entry; the same inputs always give the same item', () => {
    const rule = rareDropRule([
      { item: 'common', weight: 90 },
      { item: 'legendary', weight: 10 },
    ])
    const items = new Set<string>()
    for (let seed = 0; seed < 200; seed++) {
      const verdict = rule({ intent: intent('loot', { source: 'chest-1' }), preState: { source: 'chest-1', seed } })
      expect(verdict.ok).toBe(true)
      if (verdict.ok) items.add((verdict.outcome as { item: string }).item)
      expect(rule({ intent: intent('loot', { source: 'chest-1' }), preState: { source: 'chest-1', seed } })).toEqual(verdict)
    }
    expect(items).toEqual(new Set(['common', 'legendary']))
    expect(dropRoll('a', 1, 'b')).toBeLessThan(1)
    expect(rule({ intent: intent('loot', { source: 'x' }), preState: { source: 'chest-1', seed: 1 } })).toMatchObject({ ok: false })
    expect(rule({ intent: intent('loot', { source: 'chest-1' }), preState: { source: 'chest-1', seed: 1.5 } })).toMatchObject({ ok: false })
    expect(rareDropRule([])({ intent: intent('loot', { source: 'c' }), preState: { source: 'c', seed: 1 } })).toMatchObject({ ok: false, reason: 'internal-error' })
  })

  it('trade: both sides hold what they offer; the outcome is the sorted moves', () => {
    const rule = tradeRule()
    const holders = { sword: 'alice', gem: 'bob', shield: 'alice' }
    expect(rule({ intent: intent('trade', { with: 'bob', give: ['sword', 'shield'], take: ['gem'] }), preState: { holders } })).toEqual({
      ok: true,
      outcome: [
        { item: 'gem', from: 'bob', to: 'alice' },
        { item: 'shield', from: 'alice', to: 'bob' },
        { item: 'sword', from: 'alice', to: 'bob' },
      ],
    })
    expect(rule({ intent: intent('trade', { with: 'bob', give: ['gem'], take: [] }), preState: { holders } })).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(rule({ intent: intent('trade', { with: 'bob', give: [], take: ['sword'] }), preState: { holders } })).toMatchObject({ ok: false, reason: 'not-permitted' })
    expect(rule({ intent: intent('trade', { with: 'bob', give: ['sword'], take: ['sword'] }), preState: { holders } })).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(rule({ intent: intent('trade', { with: 'alice', give: ['sword'], take: [] }), preState: { holders } })).toMatchObject({ ok: false, reason: 'invalid-intent' })
    expect(rule({ intent: intent('trade', { with: 'bob', give: 'sword', take: [] }), preState: { holders } })).toMatchObject({ ok: false, reason: 'invalid-intent' })
  })

  it('pickup resolution: the earliest HLC claim wins an unheld item', () => {
    const rule = pickupResolutionRule()
    const claims = [
      { player: 'bob', stamp: { wallMs: 10, counter: 1, peer: 'p1' } },
      { player: 'alice', stamp: { wallMs: 10, counter: 1, peer: 'p0' } },
      { player: 'carol', stamp: { wallMs: 11, counter: 0, peer: 'p0' } },
    ]
    expect(rule({ intent: intent('pickup', { item: 'sword' }), preState: { item: 'sword', holder: null, claims } })).toEqual({ ok: true, outcome: { item: 'sword', winner: 'alice' } })
    expect(rule({ intent: intent('pickup', { item: 'sword' }), preState: { item: 'sword', holder: 'dave', claims } })).toMatchObject({ ok: false, reason: 'conflict' })
    expect(rule({ intent: intent('pickup', { item: 'sword' }), preState: { item: 'sword', holder: null, claims: [] } })).toMatchObject({ ok: false })
    expect(rule({ intent: intent('pickup', { item: 'sword' }), preState: { item: 'sword', holder: null, claims: [{ player: 'x' }] } })).toMatchObject({ ok: false })
    expect(rule({ intent: intent('pickup', { item: 'axe' }), preState: { item: 'sword', holder: null, claims } })).toMatchObject({ ok: false })
  })

  it('runRule turns a throwing rule into a refusal', () => {
    const throwing = decisionRule(
      () => {
        throw new Error('boom')
      },
      () => null,
    )
    expect(runRule(throwing, killInputs())).toEqual({ ok: false, reason: 'rule-failed', message: 'boom' })
    expect(runRule(() => { throw 'str' }, killInputs())).toEqual({ ok: false, reason: 'rule-failed', message: 'str' })
  })
})
