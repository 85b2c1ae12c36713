import * as Y from 'yjs'
import { openWorldDoc, type Clock, type IntentResult, type SessionRecording, type WorldDoc } from '../core/index.js'
import type { ActionHandler } from './action-handler.js'
import { IntentEngine } from './intent-engine.js'
import { worldStateHash } from './world-state-hash.js'

/** A recorded intent that did not replay as it was recorded (it was accepted then, refused now). */
export interface ReplayMismatch {
  /** Position in the recording. */
  readonly index: number
  readonly session: string
  readonly seq: number
  readonly answer: IntentResult
}

/** The outcome of a replay. */
export interface ReplayResult {
  /** The replayed world (the caller owns it: destroy its doc when done). */
  readonly world: WorldDoc
  /** `worldStateHash` of the replayed world. */
  readonly stateHash: string
  /** Intents that were applied again. */
  readonly applied: number
  /** Recorded intents the replay refused: non-empty means the handlers are not deterministic, or changed. */
  readonly mismatches: readonly ReplayMismatch[]
}

/** A clock that stands where the replay puts it: each intent sees the time it was recorded at. */
class ReplayClock implements Clock {
  time = 0
  now(): number {
    return this.time
  }
  setTimer(): number {
    throw new Error('intent handlers must not set timers: a replay could not reproduce them')
  }
  cancelTimer(): void {}
}

/**
 * Replays a recorded session through the engine: a fresh world from the recording's base state,
 * the same seed, each intent at its recorded time, in recorded order. With deterministic handlers
 * the result hashes equal to the world the recording was made on.
 */
export const replaySession = async (recording: SessionRecording, handlers: Readonly<Record<string, ActionHandler>>): Promise<ReplayResult> => {
  const doc = new Y.Doc()
  if (recording.header.base !== undefined && recording.header.base.length > 0) Y.applyUpdate(doc, recording.header.base)
  const world = openWorldDoc(doc)
  const clock = new ReplayClock()
  clock.time = recording.header.startMs
  const engine = await IntentEngine.start({ world, worldName: 'replay', clock, seed: recording.header.seed, handlers })
  const mismatches: ReplayMismatch[] = []
  let applied = 0
  for (const [index, entry] of recording.intents.entries()) {
    clock.time = entry.atMs
    const answer = await engine.submit(entry.session, entry.intent)
    if (answer.type === 'ack') applied++
    else mismatches.push({ index, session: entry.session, seq: entry.intent.seq, answer })
  }
  return { world, stateHash: worldStateHash(world), applied, mismatches }
}
