import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { Membership, SettlementCore, accept, type ActionResolver, type Claim, type SettlementCommand } from '../../../resolvers/index.js'
import { CorruptRowError, openSettlementJournal, settlementJournalPath, StoreClosedError, type SqliteSettlementJournal } from '../../../storage/index.js'

// Resources are named after their owner ("a:gem" is owned by peer a).
const grab: ActionResolver = { action: 'grab', kind: 'exclusive', resources: (intent) => (intent.payload as { things: string[] }).things, apply: () => true }
const claimOf = (origin: string, seq: number, things: string[]): Claim => ({
  id: `${origin}/${seq}`,
  origin,
  session: 's',
  viewEpoch: 1,
  intent: { action: 'grab', seq, player: `p-${origin}`, payload: { things }, stamp: { wallMs: 0, counter: 0, peer: origin } },
})
const sends = (commands: SettlementCommand[]) => commands.filter((c): c is Extract<SettlementCommand, { type: 'send' }> => c.type === 'send')

const dirs: string[] = []
const journalDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'settlements-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A settlement core of peer `self` over a real SQLite settlement journal, with the effects it asked for recorded. */
const peerOn = (self: string, journal: SqliteSettlementJournal) => {
  const effects = { applied: [] as string[], committed: [] as Array<[string, readonly string[]]> }
  const core = new SettlementCore({
    self,
    journal,
    membership: new Membership({ epoch: 1, members: ['a', 'b', 'c'] }, (resource) => resource.split(':')[0] as string),
    resolverOf: (action) => (action === 'grab' ? grab : undefined),
    isReachable: () => true,
    effects: { apply: (claim) => effects.applied.push(claim.id), prepare: () => accept(), commit: (claim, resources) => effects.committed.push([claim.id, resources]), currentState: () => undefined },
    windowMs: 10,
    handoverMs: 0,
  })
  return { core, effects }
}

describe('settlement state survives an owner restart (SqliteSettlementJournal)', () => {
  it('stores, replaces, orders and removes records durably, and refuses damaged rows', () => {
    const dir = journalDir()
    const journal = openSettlementJournal(dir)
    journal.write('a', 'outcome:1', { result: { type: 'ack', seq: 1, result: true } })
    journal.write('a', 'prepared:2', { resources: ['a:gem'] })
    journal.write('b', 'outcome:9', null)
    journal.write('a', 'outcome:1', { result: { type: 'ack', seq: 1, result: 'again' } })
    journal.remove('a', 'missing')
    journal.close()
    journal.close()
    expect(() => journal.load('a')).toThrow(StoreClosedError)
    const reopened = openSettlementJournal(dir, { create: false })
    expect(reopened.load('a')).toEqual([
      { key: 'prepared:2', value: { resources: ['a:gem'] } },
      { key: 'outcome:1', value: { result: { type: 'ack', seq: 1, result: 'again' } } },
    ])
    reopened.remove('a', 'prepared:2')
    expect(reopened.load('a').map((r) => r.key)).toEqual(['outcome:1'])
    reopened.close()
    const raw = new Database(settlementJournalPath(dir))
    raw.prepare("UPDATE settlement_state SET value = '{\"x\":2}' WHERE scope = 'b'").run()
    raw.close()
    const damaged = openSettlementJournal(dir)
    expect(() => damaged.load('b')).toThrow(CorruptRowError)
    damaged.close()
    expect(() => openSettlementJournal(join(dir, 'nope'), { create: false })).toThrow()
    const memory = openSettlementJournal(dir, { durability: 'memory' })
    expect(memory.load('a')).toEqual([])
    memory.close()
  })

  it('an owner restarted after settling repeats the outcome for a resent claim and never applies it again', () => {
    const dir = journalDir()
    const first = peerOn('a', openSettlementJournal(dir))
    const claim = claimOf('b', 1, ['a:sword'])
    first.core.handle({ type: 'message', from: 'b', message: { type: 'claim', claim } }, 0)
    first.core.handle({ type: 'timer', timer: 'window' }, 10)
    first.core.handle({ type: 'applied', claimId: claim.id, result: { type: 'ack', seq: 1, result: { won: true } } }, 11)
    const restarted = peerOn('a', openSettlementJournal(dir))
    expect(restarted.core.recover(20)).toEqual([])
    const again = sends(restarted.core.handle({ type: 'message', from: 'b', message: { type: 'claim', claim } }, 21))
    expect(again[0]?.message).toEqual({ type: 'outcome', claimId: claim.id, result: { type: 'ack', seq: 1, result: { won: true } } })
    expect(restarted.effects.applied).toEqual([])
  })

  it('a participant restarted after voting yes still holds its reservation, and commits when the decision comes', () => {
    const dir = journalDir()
    const trade = claimOf('c', 1, ['a:gem', 'b:ring'])
    const first = peerOn('b', openSettlementJournal(dir))
    const vote = sends(first.core.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } }, 5))
    expect(vote[0]?.message).toMatchObject({ type: 'vote', ok: true })
    const restarted = peerOn('b', openSettlementJournal(dir))
    expect(restarted.core.reservations().get('b:ring')).toBe(trade.id)
    // While reserved, a competing claim on the ring loses, after the restart as before it.
    restarted.core.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: claimOf('c', 2, ['b:ring']) } }, 6)
    expect(sends(restarted.core.handle({ type: 'timer', timer: 'window' }, 16))[0]?.message).toMatchObject({ result: { reason: 'conflict' } })
    // A resent prepare gets the same yes.
    expect(sends(restarted.core.handle({ type: 'message', from: 'a', message: { type: 'prepare', claim: trade } }, 17))[0]?.message).toMatchObject({ ok: true })
    const done = sends(restarted.core.handle({ type: 'message', from: 'a', message: { type: 'decide', claimId: trade.id, commit: true } }, 20))
    expect(done[0]?.message).toEqual({ type: 'done', claimId: trade.id })
    expect(restarted.effects.committed).toEqual([[trade.id, ['b:ring']]])
    expect(peerOn('b', openSettlementJournal(dir)).core.reservations().size).toBe(0)
  })

  it('a coordinator restarted before the votes aborts everywhere; one restarted after deciding resends its decision', () => {
    const dir = journalDir()
    const trade = claimOf('c', 1, ['a:gem', 'b:ring'])
    const first = peerOn('a', openSettlementJournal(dir))
    first.core.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: trade } }, 0)
    expect(sends(first.core.handle({ type: 'timer', timer: 'window' }, 10))[0]?.message).toMatchObject({ type: 'prepare' })
    const restarted = peerOn('a', openSettlementJournal(dir))
    expect(restarted.core.reservations().get('a:gem')).toBe(trade.id)
    const recovered = sends(restarted.core.recover(30))
    expect(recovered.map((s) => [s.to, s.message.type])).toEqual([
      ['b', 'decide'],
      ['c', 'outcome'],
    ])
    expect(recovered[0]?.message).toEqual({ type: 'decide', claimId: trade.id, commit: false })
    expect(recovered[1]?.message).toMatchObject({ result: { reason: 'authority-unavailable' } })
    expect(restarted.core.reservations().size).toBe(0)

    // Decided (commit) before the restart: the decision is resent until the participant confirms.
    const second = claimOf('c', 2, ['a:cup', 'b:hat'])
    restarted.core.handle({ type: 'message', from: 'c', message: { type: 'claim', claim: second } }, 40)
    restarted.core.handle({ type: 'timer', timer: 'window' }, 50)
    restarted.core.handle({ type: 'message', from: 'b', message: { type: 'vote', claimId: second.id, ok: true, reason: '', message: '' } }, 51)
    expect(restarted.effects.committed).toEqual([[second.id, ['a:cup']]])
    const again = peerOn('a', openSettlementJournal(dir))
    const timers = again.core.recover(60).filter((c) => c.type === 'setTimer')
    expect(timers.map((t) => t.type === 'setTimer' && t.timer).sort()).toEqual([`decide:${trade.id}`, `decide:${second.id}`].sort())
    const resent = sends(again.core.handle({ type: 'timer', timer: `decide:${second.id}` }, 60))
    expect(resent[0]?.message).toEqual({ type: 'decide', claimId: second.id, commit: true })
    again.core.handle({ type: 'message', from: 'b', message: { type: 'done', claimId: second.id } }, 61)
    again.core.handle({ type: 'message', from: 'b', message: { type: 'done', claimId: trade.id } }, 61)
    expect(sends(peerOn('a', openSettlementJournal(dir)).core.recover(70))).toEqual([])
    expect(again.effects.committed).toEqual([])
  })
})
