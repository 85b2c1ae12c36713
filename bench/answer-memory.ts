// Answer memory per session: S sessions each answer K intents through the gateway's session path
// (LocalSession in front of the intent engine), then the heap is measured after a collection.
// Before this change a LocalSession kept its own copy of every answer in front of the engine's;
// now the engine is the only cache. The script runs against either API, so the same file measures
// an older checkout too.
//
//   node --expose-gc --import tsx bench/answer-memory.ts [sessions=1000] [answers=256]
import * as Y from 'yjs'
import { createSystemClock, openWorldDoc, type Intent, type IntentResult } from '../core/index.js'
import { LocalSession } from '../gateway/index.js'
import { IntentEngine } from '../resolvers/index.js'

const [sessions = 1000, answers = 256] = process.argv.slice(2).map(Number)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

const heap = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const engine = IntentEngine.createUnjournaled({
  world: openWorldDoc(new Y.Doc()),
  worldName: 'bench',
  clock: createSystemClock(),
  seed: 1,
  handlers: { noop: { apply: ({ intent }) => intent.seq } },
  answersPerSession: 1024,
})
type AnySession = { submit(intent: Intent, engine: unknown): Promise<IntentResult> | undefined }
// The older LocalSession took a capacity and a submit function; the current one takes the engine.
const oldApi = LocalSession.length === 4
const open = (index: number): AnySession =>
  (oldApi ? new (LocalSession as unknown as new (...args: unknown[]) => AnySession)(`p${index}`, 'n', 't', 1024) : new LocalSession(`p${index}`, 'n', 't')) as AnySession
const submitter = oldApi ? (id: string, intent: Intent) => engine.submit(id, intent) : engine

const before = heap()
const kept: AnySession[] = []
for (let s = 0; s < sessions; s++) {
  const session = open(s)
  kept.push(session)
  for (let seq = 1; seq <= answers; seq++) await session.submit({ seq, action: 'noop', player: `p${s}`, payload: null }, submitter)
}
const after = heap()
// Read after the measurement, so neither the sessions nor the engine can be collected before it.
const held = kept.length + engine.stats.accepted
const perSession = (after - before) / sessions
process.stdout.write(
  `${oldApi ? 'before (two caches)' : 'after (engine only)'}: ${sessions} sessions x ${answers} answers: ${(perSession / 1024).toFixed(1)} KiB per session, ${(perSession / answers).toFixed(0)} B per answer (heap after gc; ${held} objects held)\n`,
)
