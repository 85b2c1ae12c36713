import type { IntentResult } from './intent.js'
import type { IntentJournal, JournaledIntent } from './intent-journal.js'

/** A session's remembered answers, as a durable answer log returns them after a restart. */
export interface StoredSessionAnswers {
  /** The engine's session id. */
  readonly session: string
  /** Lowest sequence still answerable: older ones were answered and forgotten (resends get `answer-expired`). */
  readonly floor: number
  /** Answers at or above the floor, by increasing sequence. */
  readonly answers: readonly IntentResult[]
  /** The world changes (Yjs updates) of the accepted ones among them, stored with their answers. */
  readonly effects: readonly Uint8Array[]
}

/**
 * A journal that also keeps the engine's answers durably, so a resend after a peer restart gets
 * its original answer instead of being applied again. An accepted intent's answer is written in the
 * same storage transaction as its journal entry and its effect (the Yjs update it made), so one is
 * never durable without the others: the world's own store commits separately, and an engine that
 * restarts re-applies the remembered effects (idempotent in Yjs) in case the world lost the last ones. Like `IntentJournal`, the engine is handed an implementation
 * (storage/ provides one) and never imports storage.
 */
export interface AnsweringIntentJournal extends IntentJournal {
  /** Appends an accepted intent together with its answer and effect, in one transaction; resolves once all are durable. */
  appendAnswered(world: string, entry: JournaledIntent, answer: IntentResult, effect?: Uint8Array): Promise<void>
  /** Stores an answer that has no effect to journal (a rejection); resolves once durable. */
  rememberAnswer(world: string, session: string, answer: IntentResult): Promise<void>
  /** Forgets a session's answers below `floor` and remembers the floor (acked, or out of the window). */
  forgetAnswers(world: string, session: string, floor: number): Promise<void>
  /** Forgets a session altogether (idle past its horizon, or handed to another peer with its answers). */
  dropSession(world: string, session: string): Promise<void>
  /** Every session's remembered answers for a world, for an engine starting on stored data. */
  loadAnswers(world: string): Promise<StoredSessionAnswers[]>
}

/** Whether a journal keeps answers too (a durable one from storage/ does; a test double may not). */
export const keepsAnswers = (journal: IntentJournal): journal is AnsweringIntentJournal =>
  typeof (journal as Partial<AnsweringIntentJournal>).loadAnswers === 'function' && typeof (journal as Partial<AnsweringIntentJournal>).appendAnswered === 'function'
