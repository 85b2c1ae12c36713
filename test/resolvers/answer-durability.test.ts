import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRandom, openWorldDoc, type Intent, type IntentResult, type WorldDoc } from '../../core/index.js'
import { Peer } from '../../replication/index.js'
import { accept, IntentEngine, refuse, type ActionHandler } from '../../resolvers/index.js'
import { openIntentJournal, openSqliteStore, type SqliteIntentJournal } from '../../storage/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { ManualClock } from '../helpers/manual-clock.js'

// Exactly once across a restart: answers are stored with the effect they answer, reloaded by a new
// engine on the same data directory, bounded by the window and the client's acks, and forgotten
// with sessions that stay away past their idle time.

const dirs: string[] = []
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-answers-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const WORLD = 'world/1'

/** Applications per (session, seq), kept in the world itself so they survive a restart with it. */
const applications = (world: WorldDoc): Y.Map<number> => world.doc.getMap<number>('applied')

/** `add` adds to the player's total (a second application would show); `rich` is refused while the total is under 20. */
const handlers: Record<string, ActionHandler> = {
  add: {
    apply: ({ world, intent, session }) => {
      const totals = world.doc.getMap<number>('totals')
      const total = (totals.get(intent.player) ?? 0) + Number(intent.payload)
      totals.set(intent.player, total)
      const key = `${session}#${intent.seq}`
      applications(world).set(key, (applications(world).get(key) ?? 0) + 1)
      return total
    },
  },
  rich: {
    validate: ({ world, intent }) => ((world.doc.getMap<number>('totals').get(intent.player) ?? 0) < 20 ? refuse('conflict', 'total under 20') : accept()),
    apply: () => 'rich',
  },
}

const add = (seq: number, amount: number): Intent => ({ seq, action: 'add', player: 'p1', payload: amount })
const totalOf = (world: WorldDoc): number => world.doc.getMap<number>('totals').get('p1') ?? 0

describe('durable answers', () => {
  it('a peer restarted on the same data directory answers resent intents with their original answers and applies none twice', async () => {
    const dataDir = tempDir()
    const clock = new ManualClock()
    const boot = async (network: MemoryNetwork) => {
      const store = openSqliteStore(dataDir)
      const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1), store })
      const world = openWorldDoc(await peer.openStoredDoc(WORLD))
      const journal = openIntentJournal(dataDir)
      const engine = await IntentEngine.start({ world, worldName: WORLD, clock, seed: 1, handlers, journal })
      const stop = async () => {
        await peer.flushed()
        peer.close()
        await store.close()
        await journal.close()
      }
      return { peer, world, engine, stop }
    }
    const first = await boot(new MemoryNetwork())
    const answers: IntentResult[] = []
    for (let seq = 1; seq <= 5; seq++) answers.push(await first.engine.submit('p1/s', add(seq, seq)))
    answers.push(await first.engine.submit('p1/s', { seq: 6, action: 'rich', player: 'p1', payload: null }))
    expect(answers.map((answer) => answer.type)).toEqual(['ack', 'ack', 'ack', 'ack', 'ack', 'reject'])
    expect(totalOf(first.world)).toBe(15)
    await first.stop()

    const second = await boot(new MemoryNetwork())
    expect(totalOf(second.world)).toBe(15)
    // The gateway passes the registry's acked sequence on resume; answers the engine reloaded stay its truth.
    second.engine.resume('p1/s', 7)
    // The client never saw the last answers and resends its last intents (same sequence numbers).
    for (let seq = 3; seq <= 5; seq++) expect(await second.engine.submit('p1/s', add(seq, seq))).toEqual(answers[seq - 1])
    expect(totalOf(second.world)).toBe(15)
    expect(await second.engine.submit('p1/s', add(7, 100))).toEqual({ type: 'ack', seq: 7, result: 115 })
    // A stored refusal stays a refusal although the world would now accept the intent.
    expect(await second.engine.submit('p1/s', { seq: 6, action: 'rich', player: 'p1', payload: null })).toEqual(answers[5])
    expect(totalOf(second.world)).toBe(115)
    expect([...applications(second.world).values()].every((count) => count === 1)).toBe(true)
    expect(second.engine.stats).toMatchObject({ duplicates: 4, accepted: 1 })
    await second.stop()
  })

  it('stores each effect with its answer: a world that lost its last changes gets them back from the answer log', async () => {
    const dataDir = tempDir()
    const clock = new ManualClock()
    const journal = openIntentJournal(dataDir)
    const world = openWorldDoc(new Y.Doc())
    const engine = await IntentEngine.start({ world, worldName: WORLD, clock, seed: 1, handlers, journal })
    let afterTwo: Uint8Array = new Uint8Array()
    for (let seq = 1; seq <= 4; seq++) {
      await engine.submit('p1/s', add(seq, 10))
      if (seq === 2) afterTwo = Y.encodeStateAsUpdate(world.doc)
    }
    await journal.close()
    // The world's own store lost everything after the second intent (it commits on its own schedule).
    const lossy = openWorldDoc(new Y.Doc())
    Y.applyUpdate(lossy.doc, afterTwo)
    expect(totalOf(lossy)).toBe(20)
    const reopened = openIntentJournal(dataDir)
    const restarted = await IntentEngine.start({ world: lossy, worldName: WORLD, clock, seed: 1, handlers, journal: reopened })
    expect(totalOf(lossy)).toBe(40)
    expect(await restarted.submit('p1/s', add(4, 10))).toEqual({ type: 'ack', seq: 4, result: 40 })
    expect(totalOf(lossy)).toBe(40)
    await reopened.close()
  })

  it('forgets answers at or below the acked watermark and past the window, durably; resends of them are refused as expired', async () => {
    const dataDir = tempDir()
    const clock = new ManualClock()
    const journal = openIntentJournal(dataDir)
    const world = openWorldDoc(new Y.Doc())
    const engine = await IntentEngine.start({ world, worldName: WORLD, clock, seed: 1, handlers, journal, answersPerSession: 4 })
    for (let seq = 1; seq <= 6; seq++) await engine.submit('p1/s', add(seq, 1))
    expect(engine.answerMemory()).toEqual({ sessions: 1, answers: 4 })
    expect(await engine.submit('p1/s', add(2, 1))).toMatchObject({ type: 'reject', reason: 'answer-expired' })
    engine.acknowledged('p1/s', 4)
    expect(engine.answerMemory()).toEqual({ sessions: 1, answers: 2 })
    expect(await engine.submit('p1/s', add(4, 1))).toMatchObject({ type: 'reject', reason: 'answer-expired' })
    expect(await engine.submit('p1/s', add(5, 1))).toEqual({ type: 'ack', seq: 5, result: 5 })
    expect(engine.stats.expired).toBe(2)
    await journal.close()
    const reopened = openIntentJournal(dataDir)
    expect(await reopened.loadAnswers(WORLD)).toMatchObject([{ session: 'p1/s', floor: 5, answers: [{ seq: 5 }, { seq: 6 }] }])
    const restarted = await IntentEngine.start({ world, worldName: WORLD, clock, seed: 1, handlers, journal: reopened, answersPerSession: 4 })
    expect(await restarted.submit('p1/s', add(3, 1))).toMatchObject({ reason: 'answer-expired' })
    expect(await restarted.submit('p1/s', add(6, 1))).toEqual({ type: 'ack', seq: 6, result: 6 })
    expect(totalOf(world)).toBe(6)
    await reopened.close()
  })

  it('forgets a released session after its idle time by the injected clock, in memory and in the log', async () => {
    const dataDir = tempDir()
    const clock = new ManualClock()
    const journal = openIntentJournal(dataDir)
    const world = openWorldDoc(new Y.Doc())
    const engine = await IntentEngine.start({ world, worldName: WORLD, clock, seed: 1, handlers, journal, idleSessionMs: 1000 })
    await engine.submit('p1/gone', add(1, 1))
    await engine.submit('p1/back', add(1, 1))
    engine.release('p1/gone')
    engine.release('p1/back')
    await clock.advance(500)
    // Coming back before the idle time keeps the session.
    expect(await engine.submit('p1/back', add(1, 1))).toEqual({ type: 'ack', seq: 1, result: 2 })
    await clock.advance(600)
    engine.sweep()
    expect(engine.answerMemory()).toEqual({ sessions: 1, answers: 1 })
    expect(engine.answered('p1/gone', 1)).toBe(false)
    await journal.flush()
    expect((await journal.loadAnswers(WORLD)).map((session) => session.session)).toEqual(['p1/back'])
    // A session resumed after it was forgotten carries its floor (the registry's acked sequence): no second application.
    engine.resume('p1/gone', 2)
    expect(await engine.submit('p1/gone', add(1, 1))).toMatchObject({ reason: 'answer-expired' })
    // The sweep also runs from `submit`, at most four times per idle time.
    engine.release('p1/back')
    await clock.advance(1000)
    await engine.submit('p1/other', add(1, 1))
    expect(engine.answered('p1/back', 1)).toBe(false)
    await journal.close()
  })

  it('hands a session over: the old home gives its answers, the new one adopts and stores them', async () => {
    const clock = new ManualClock()
    const home = await IntentEngine.start({ world: openWorldDoc(new Y.Doc()), worldName: WORLD, clock, seed: 1, handlers, journal: openIntentJournal(tempDir()), answersPerSession: 3 })
    for (let seq = 1; seq <= 5; seq++) await home.submit('p1/s', add(seq, 1))
    const snapshot = home.answersOf('p1/s')
    expect(snapshot).toMatchObject({ floor: 3, answers: [{ seq: 3 }, { seq: 4 }, { seq: 5 }] })
    const targetJournal = openIntentJournal(tempDir())
    const target = await IntentEngine.start({ world: openWorldDoc(new Y.Doc()), worldName: WORLD, clock, seed: 1, handlers, journal: targetJournal })
    target.adopt('p1/s', snapshot)
    expect(await target.submit('p1/s', add(4, 1))).toEqual(snapshot.answers[1])
    expect(await target.submit('p1/s', add(2, 1))).toMatchObject({ reason: 'answer-expired' })
    home.forget('p1/s')
    expect(home.answerMemory()).toEqual({ sessions: 0, answers: 0 })
    expect(await targetJournal.loadAnswers(WORLD)).toMatchObject([{ session: 'p1/s', floor: 3, answers: [{ seq: 3 }, { seq: 4 }, { seq: 5 }] }])
    await targetJournal.close()
  })
})

type Step = { kind: 'send' } | { kind: 'resend'; back: number } | { kind: 'ack' } | { kind: 'restart' }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Step>({ kind: 'send' }) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }).map<Step>((back) => ({ kind: 'resend', back })) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'ack' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'restart' }) },
)

describe('exactly once, as a property', () => {
  it('for random resend, ack and restart interleavings each sequence is applied at most once and answered consistently', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.integer({ min: 2, max: 6 }), async (steps, window) => {
        const dataDir = tempDir()
        const clock = new ManualClock()
        let journal: SqliteIntentJournal = openIntentJournal(dataDir)
        let doc = new Y.Doc()
        let engine = await IntentEngine.start({ world: openWorldDoc(doc), worldName: WORLD, clock, seed: 1, handlers, journal, answersPerSession: window })
        const first = new Map<number, IntentResult>()
        let next = 1
        let acked = 0
        const check = (seq: number, answer: IntentResult): void => {
          const original = first.get(seq)
          if (original === undefined) {
            // A first send is never refused as expired: it was never answered.
            expect(answer.type).toBe('ack')
            first.set(seq, answer)
          } else if (answer.type === 'reject' && answer.reason === 'answer-expired') {
            expect(seq < next).toBe(true)
          } else {
            expect(answer).toEqual(original)
          }
        }
        try {
          for (const s of steps) {
            if (s.kind === 'send') {
              const seq = next++
              check(seq, await engine.submit('p1/s', add(seq, 1)))
            } else if (s.kind === 'resend' && next > 1) {
              const seq = Math.max(1, next - s.back)
              check(seq, await engine.submit('p1/s', add(seq, 1)))
            } else if (s.kind === 'ack') {
              acked = next - 1
              engine.acknowledged('p1/s', acked)
            } else if (s.kind === 'restart') {
              await journal.close()
              // The world's store is durable here; the answer log's effects re-applied on top change nothing.
              const saved = Y.encodeStateAsUpdate(doc)
              doc = new Y.Doc()
              Y.applyUpdate(doc, saved)
              journal = openIntentJournal(dataDir)
              engine = await IntentEngine.start({ world: openWorldDoc(doc), worldName: WORLD, clock, seed: 1, handlers, journal, answersPerSession: window })
            }
            for (const count of applications(openWorldDoc(doc)).values()) expect(count).toBe(1)
          }
          expect(totalOf(openWorldDoc(doc))).toBe(next - 1)
          expect(engine.answerMemory().answers).toBeLessThanOrEqual(window)
        } finally {
          await journal.close()
        }
      }),
      { numRuns: 25 },
    )
  })
})
