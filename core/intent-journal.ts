import type { Millis } from './clock.js'
import type { Intent } from './intent.js'

/** One accepted intent as a session recording keeps it: when it was applied and for which session. */
export interface JournaledIntent {
  /** Injected-clock time at which the engine applied it. */
  readonly atMs: Millis
  /** The player session that sent it (with `intent.seq` it identifies the intent). */
  readonly session: string
  readonly intent: Intent
}

/** How a recorded session started: what a replay needs besides the intents to run the same way. */
export interface RecordingHeader {
  /** Seed of the engine's random source (loot rolls, spawn picks). */
  readonly seed: number
  /** Injected-clock time when recording started. */
  readonly startMs: Millis
  /** The world document's state when recording began, as one Yjs update; absent means empty. */
  readonly base?: Uint8Array
}

/** A whole recorded session: the header and every accepted intent in the order it was applied. */
export interface SessionRecording {
  readonly header: RecordingHeader
  readonly intents: readonly JournaledIntent[]
}

/**
 * Where an intent engine records what it accepted, per world. Like `DocumentStore`, the engine is
 * handed an implementation (storage/ provides a durable one) and never imports storage itself.
 */
export interface IntentJournal {
  /** Starts (or restarts, discarding the old one) the recording of a world. */
  begin(world: string, header: RecordingHeader): Promise<void>
  /** Appends one accepted intent; resolves once it is durable, so the engine may then acknowledge it. */
  append(world: string, entry: JournaledIntent): Promise<void>
  /** The recording of a world, or `undefined` if it has none. */
  read(world: string): Promise<SessionRecording | undefined>
}
