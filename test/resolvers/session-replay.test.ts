import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openWorldDoc, type Intent } from '../../core/index.js'
import { IntentEngine, replaySession, worldStateHash, type ActionHandler } from '../../resolvers/index.js'
import { CorruptRowError, intentJournalPath, openIntentJournal } from '../../storage/index.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { gameHandlers } from './game-handlers.js'

const dirs: string[] = []
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-replay-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

interface Step {
  readonly session: number
  readonly action: string
  readonly item: number
  readonly x: number
  readonly resend: boolean
  readonly advanceMs: number
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  session: fc.integer({ min: 0, max: 2 }),
  action: fc.constantFrom('spawn', 'pickup', 'drop', 'move', 'fly'),
  item: fc.integer({ min: 0, max: 4 }),
  x: fc.integer({ min: -100, max: 100 }),
  resend: fc.boolean(),
  advanceMs: fc.integer({ min: 0, max: 50 }),
})

/** Plays steps through an engine that records into `dataDir`; returns the live world's hash. */
const record = async (dataDir: string, seed: number, steps: readonly Step[], base?: (doc: Y.Doc) => void): Promise<string> => {
  const doc = new Y.Doc()
  base?.(doc)
  const world = openWorldDoc(doc)
  const clock = new ManualClock()
  await clock.advance(1_000)
  const journal = openIntentJournal(dataDir)
  const engine = await IntentEngine.start({ world, worldName: 'world/1', clock, seed, handlers: gameHandlers, journal })
  const seqs = [0, 0, 0]
  const pending: Array<Promise<unknown>> = []
  for (const step of steps) {
    await clock.advance(step.advanceMs)
    const seq = step.resend && seqs[step.session]! > 0 ? seqs[step.session]! : ++seqs[step.session]!
    const intent: Intent = { seq, action: step.action, player: `p${step.session}`, payload: { item: `i${step.item}`, x: step.x } }
    pending.push(engine.submit(`s${step.session}`, intent))
  }
  await Promise.all(pending)
  const hash = worldStateHash(world)
  await journal.close()
  doc.destroy()
  return hash
}

describe('deterministic replay of a game session', () => {
  it('random sessions replay from the durable journal to the same final state hash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(stepArb, { maxLength: 60 }), async (seed, steps) => {
        const dir = tempDir()
        const liveHash = await record(dir, seed, steps)
        const journal = openIntentJournal(dir, { create: false })
        const recording = await journal.read('world/1')
        await journal.close()
        expect(recording).toBeDefined()
        const replay = await replaySession(recording!, gameHandlers)
        expect(replay.mismatches).toEqual([])
        expect(replay.stateHash).toBe(liveHash)
        expect(replay.applied).toBe(recording!.intents.length)
        replay.world.doc.destroy()
      }),
      { numRuns: 25 },
    )
  })

  it('starts from the world as it was when recording began, and replays the seed', async () => {
    const dir = tempDir()
    const steps: Step[] = [0, 1, 2, 3].map((item) => ({ session: 0, action: 'spawn', item, x: 0, resend: false, advanceMs: 5 }))
    const liveHash = await record(dir, 42, steps, (doc) => openWorldDoc(doc).createItem('i9', 'crown', { type: 'player', id: 'king' }))
    const recording = (await openIntentJournal(dir).read('world/1'))!
    const replay = await replaySession(recording, gameHandlers)
    expect(replay.world.getItem('i9')?.holder).toEqual({ type: 'player', id: 'king' })
    expect(replay.stateHash).toBe(liveHash)
    // Another seed draws other loot: the seed is part of what makes the run.
    const kinds = (seed: number) => replaySession({ ...recording, header: { ...recording.header, seed } }, gameHandlers).then((r) => r.world.listItems().map((i) => i.kind).join())
    const reseeded = await Promise.all([1, 2, 3, 4, 5].map(kinds))
    expect(new Set(reseeded).size).toBeGreaterThan(1)
  })

  it('reports intents that no longer replay when handlers change', async () => {
    const dir = tempDir()
    await record(dir, 3, [{ session: 0, action: 'move', item: 0, x: 1, resend: false, advanceMs: 1 }])
    const recording = (await openIntentJournal(dir).read('world/1'))!
    const stricter: Record<string, ActionHandler> = { ...gameHandlers, move: { ...gameHandlers.move!, validate: () => ({ ok: false, reason: 'rate-limited', message: 'slow down' }) } }
    const replay = await replaySession(recording, stricter)
    expect(replay.mismatches).toEqual([{ index: 0, session: 's0', seq: 1, answer: { type: 'reject', seq: 1, reason: 'rate-limited', message: 'slow down' } }])
  })

  it('a corrupt or missing journal row is a clear error naming the world and row', async () => {
    const dir = tempDir()
    await record(dir, 3, [0, 1, 2].map((x) => ({ session: 0, action: 'move', item: 0, x, resend: false, advanceMs: 1 })))
    const db = new Database(intentJournalPath(dir))
    db.prepare("UPDATE intents SET data = X'00' WHERE n = 1").run()
    db.close()
    expect(() => openIntentJournal(dir).readSync('world/1')).toThrow(CorruptRowError)
    expect(() => openIntentJournal(dir).readSync('world/1')).toThrow(/world\/1: intents row 1 is corrupt/)
    const db2 = new Database(intentJournalPath(dir))
    db2.prepare('DELETE FROM intents WHERE n = 2').run()
    db2.close()
    expect(() => openIntentJournal(dir).readSync('world/1')).toThrow(/intents row 1 is corrupt/)
    const db3 = new Database(intentJournalPath(dir))
    db3.prepare('DELETE FROM intents WHERE n >= 1').run()
    db3.close()
    expect(() => openIntentJournal(dir).readSync('world/1')).toThrow(/should hold 3 intents/)
    expect(openIntentJournal(dir).worlds()).toEqual(['world/1'])
    expect(openIntentJournal(dir).readSync('other')).toBeUndefined()
  })
})
