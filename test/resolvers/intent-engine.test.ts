import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openWorldDoc, type IntentJournal, type Intent } from '../../core/index.js'
import { IntentEngine, worldStateHash } from '../../resolvers/index.js'
import { NoRecordingError, openIntentJournal } from '../../storage/index.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { gameHandlers } from './game-handlers.js'

const dirs: string[] = []
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-engine-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const intent = (seq: number, action: string, payload: Intent['payload'], player = 'p1'): Intent => ({ seq, action, player, payload })

const makeEngine = async (journal?: IntentJournal, answersPerSession?: number) => {
  const world = openWorldDoc(new Y.Doc())
  const clock = new ManualClock()
  const engine = await IntentEngine.start({ world, worldName: 'w', clock, seed: 7, handlers: gameHandlers, ...(journal ? { journal } : {}), ...(answersPerSession ? { answersPerSession } : {}) })
  return { world, clock, engine }
}

describe('IntentEngine', () => {
  it('validates, applies and acknowledges; rejects with reasons', async () => {
    const { world, engine } = await makeEngine()
    expect(await engine.submit('s1', intent(1, 'spawn', { item: 'i1' }))).toMatchObject({ type: 'ack', seq: 1 })
    expect(await engine.submit('s1', intent(2, 'pickup', { item: 'i1' }))).toEqual({ type: 'ack', seq: 2, result: true })
    expect(world.getItem('i1')?.holder).toEqual({ type: 'player', id: 'p1' })
    expect(await engine.submit('s2', intent(1, 'pickup', { item: 'i1' }, 'p2'))).toMatchObject({ type: 'reject', reason: 'conflict' })
    expect(await engine.submit('s2', intent(2, 'drop', { item: 'i1' }, 'p2'))).toMatchObject({ type: 'reject', reason: 'not-permitted' })
    expect(await engine.submit('s2', intent(3, 'fly', {}, 'p2'))).toMatchObject({ type: 'reject', reason: 'unknown-action' })
    expect(await engine.submit('s2', intent(4, 'toString', {}, 'p2'))).toMatchObject({ type: 'reject', reason: 'unknown-action' })
    expect(await engine.submit('s2', intent(-1, 'move', {}, 'p2'))).toMatchObject({ type: 'reject', reason: 'invalid-intent' })
    expect(await engine.submit('s2', intent(5, 'explode', {}, 'p2'))).toMatchObject({ type: 'reject', reason: 'internal-error' })
    expect(engine.stats).toMatchObject({ accepted: 2, rejected: 6, handlerErrors: 1 })
  })

  it('answers a resent intent with its original answer and applies it once', async () => {
    const { world, engine } = await makeEngine(undefined, 2)
    const first = await engine.submit('s1', intent(1, 'spawn', { item: 'i1' }))
    const hash = worldStateHash(world)
    expect(await engine.submit('s1', intent(1, 'spawn', { item: 'i1' }))).toEqual(first)
    expect(worldStateHash(world)).toBe(hash)
    expect(engine.stats.duplicates).toBe(1)
    await engine.submit('s1', intent(2, 'move', { x: 1 }))
    await engine.submit('s1', intent(3, 'move', { x: 2 }))
    // Only two answers are kept: sequence 1 fell out of the window and cannot be applied again.
    expect(await engine.submit('s1', intent(1, 'spawn', { item: 'i1' }))).toMatchObject({ type: 'reject', reason: 'answer-expired' })
    // Another session's sequence numbers are its own.
    expect(await engine.submit('s2', intent(1, 'spawn', { item: 'i2' }))).toMatchObject({ type: 'ack' })
  })

  it('acknowledges only after the journal holds the intent, and refuses when it cannot', async () => {
    const journal = openIntentJournal(tempDir())
    const { engine } = await makeEngine(journal)
    const answers = await Promise.all([1, 2, 3].map((seq) => engine.submit('s1', intent(seq, 'move', { x: seq }))))
    expect(answers.every((answer) => answer.type === 'ack')).toBe(true)
    expect((await journal.read('w'))?.intents.map((entry) => entry.intent.seq)).toEqual([1, 2, 3])
    await journal.close()
    expect(await engine.submit('s1', intent(4, 'move', { x: 4 }))).toMatchObject({ type: 'reject', reason: 'internal-error' })
    expect(engine.stats.journalFailures).toBe(1)
  })

  it('refuses appends to a world that has no recording', async () => {
    const journal = openIntentJournal(tempDir(), { durability: 'memory' })
    await expect(journal.append('nowhere', { atMs: 0, session: 's', intent: intent(1, 'move', {}) })).rejects.toBeInstanceOf(NoRecordingError)
    await journal.close()
  })
})
