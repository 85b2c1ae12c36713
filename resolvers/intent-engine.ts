import pino, { type Logger } from 'pino'
import * as Y from 'yjs'
import { createRandom, priorityOf, type Clock, type Intent, type IntentJournal, type IntentResult, type Millis, type PriorityClass, type Random, type WorldDoc } from '../core/index.js'
import { LaneOrigin } from '../replication/index.js'
import type { ActionHandler } from './action-handler.js'

/** Settings of an intent engine. */
export interface IntentEngineOptions {
  /** The world the engine writes. */
  readonly world: WorldDoc
  /** The world's name, as the journal records it. */
  readonly worldName: string
  /** Injected time: what `nowMs` the handlers see and the journal records. */
  readonly clock: Clock
  /** Seed of the random source accepted intents draw from (loot rolls, spawn picks). */
  readonly seed: number
  /** Handlers by action name; an intent for any other action is rejected as `unknown-action`. */
  readonly handlers: Readonly<Record<string, ActionHandler>>
  /** Where accepted intents are recorded for replay; without it nothing is recorded. */
  readonly journal?: IntentJournal
  /** Tag of the engine's writes; the transaction origin is a `LaneOrigin` with the action's priority class carrying it (default: the engine). */
  readonly origin?: unknown
  /** Priority class per action, over `DEFAULT_ACTION_PRIORITIES` (attack, pickup: critical; move: normal; ...). */
  readonly priorities?: Readonly<Record<string, PriorityClass>>
  /** Answers remembered per session, so a resent intent gets its original answer. Default 1024. */
  readonly answersPerSession?: number
  /** Structured logger. Default: silent. */
  readonly logger?: Logger
}

/** Counters of an intent engine. */
export interface IntentEngineStats {
  accepted: number
  rejected: number
  duplicates: number
  handlerErrors: number
  journalFailures: number
}

interface SessionAnswers {
  readonly answers: Map<number, Promise<IntentResult>>
  /** Lowest sequence still remembered; anything below was answered and forgotten. */
  floor: number
}

const reject = (seq: number, reason: string, message: string): IntentResult => ({ type: 'reject', seq, reason, message })

/**
 * Applies intents to a world: validate, apply, journal, then answer. Exactly once per (session,
 * sequence): a resent intent gets the original answer, never a second application. Intents are
 * applied one at a time in arrival order, so the journal's order is the application order and a
 * replay through the same handlers reaches the same state. An intent is acknowledged only after
 * the journal holds it durably.
 */
export class IntentEngine {
  /** Counters. */
  readonly stats: IntentEngineStats = { accepted: 0, rejected: 0, duplicates: 0, handlerErrors: 0, journalFailures: 0 }
  private readonly random: Random
  private readonly sessions = new Map<string, SessionAnswers>()
  /** Answers known without waiting (final at once, or already resolved), for `submitNow`. */
  private readonly known = new WeakMap<Promise<IntentResult>, IntentResult>()
  private readonly origin: unknown
  private readonly answersPerSession: number
  private readonly logger: Logger

  private constructor(private readonly options: IntentEngineOptions) {
    this.random = createRandom(options.seed)
    this.origin = options.origin ?? this
    this.answersPerSession = options.answersPerSession ?? 1024
    this.logger = options.logger ?? pino({ level: 'silent' })
  }

  /** Creates an engine; with a journal, begins the world's recording at the world's current state. */
  static async start(options: IntentEngineOptions): Promise<IntentEngine> {
    const engine = new IntentEngine(options)
    await options.journal?.begin(options.worldName, { seed: options.seed, startMs: options.clock.now(), base: Y.encodeStateAsUpdate(options.world.doc) })
    return engine
  }

  /**
   * Creates an engine with no journal at once; `start` is the way with a journal. Synchronous, so the
   * simulator's virtual-time runs (which cannot await) can build one per peer.
   */
  static createUnjournaled(options: Omit<IntentEngineOptions, 'journal'>): IntentEngine {
    return new IntentEngine(options)
  }

  /** Handles one intent from a session and resolves with its answer (the original one if it was sent before). */
  submit(session: string, intent: Intent): Promise<IntentResult> {
    return this.submitNow(session, intent).answer
  }

  /**
   * Handles one intent like `submit` and also returns its answer at once (`now`) when it is already
   * final: no journal write is needed (no journal, a rejection) or it is a duplicate of one already
   * answered. With a journal, an acceptance is final only after the append, so `now` is undefined and
   * the promise answers. The claims protocol uses this so settlement never waits for a microtask,
   * which the simulator's synchronous virtual time could not run.
   */
  submitNow(session: string, intent: Intent): { readonly answer: Promise<IntentResult>; readonly now: IntentResult | undefined } {
    const answer = this.submitOnce(session, intent)
    return { answer, now: this.known.get(answer) }
  }

  private submitOnce(session: string, intent: Intent): Promise<IntentResult> {
    const seq = intent.seq
    if (!Number.isSafeInteger(seq) || seq < 0) {
      this.stats.rejected++
      return this.final(reject(0, 'invalid-intent', 'sequence number must be a non-negative integer'))
    }
    const answers = this.answersOf(session)
    const earlier = answers.answers.get(seq)
    if (earlier !== undefined) {
      this.stats.duplicates++
      return earlier
    }
    if (seq < answers.floor) {
      this.stats.rejected++
      return this.final(reject(seq, 'invalid-intent', `sequence ${seq} is older than the ${this.answersPerSession} answers this session keeps`))
    }
    const answer = this.handle(session, intent)
    answers.answers.set(seq, answer)
    if (answers.answers.size > this.answersPerSession) {
      // Maps iterate in insertion order: the first key is the oldest answer.
      const oldest = answers.answers.keys().next().value as number
      answers.answers.delete(oldest)
      answers.floor = Math.max(answers.floor, oldest + 1)
    }
    return answer
  }

  private answersOf(session: string): SessionAnswers {
    let answers = this.sessions.get(session)
    if (answers === undefined) {
      answers = { answers: new Map(), floor: 0 }
      this.sessions.set(session, answers)
    }
    return answers
  }

  private final(result: IntentResult): Promise<IntentResult> {
    const answer = Promise.resolve(result)
    this.known.set(answer, result)
    return answer
  }

  private handle(session: string, intent: Intent): Promise<IntentResult> {
    const decided = this.decide(session, intent)
    if (decided.record === undefined) return this.final(decided.result)
    const answer = this.record(session, intent, decided.record, decided.result)
    void answer.then((result) => this.known.set(answer, result))
    return answer
  }

  /** Validates and applies at once; an acceptance still to be journaled carries the time to record it at. */
  private decide(session: string, intent: Intent): { result: IntentResult; record?: Millis } {
    const { seq, action } = intent
    const handler = Object.hasOwn(this.options.handlers, action) ? this.options.handlers[action] : undefined
    if (handler === undefined) {
      this.stats.rejected++
      return { result: reject(seq, 'unknown-action', `no handler for action '${action}'`) }
    }
    const world = this.options.world
    const nowMs = this.options.clock.now()
    let result
    try {
      const verdict = handler.validate?.({ world, intent, session, nowMs }) ?? { ok: true }
      if (!verdict.ok) {
        this.stats.rejected++
        return { result: reject(seq, verdict.reason, verdict.message) }
      }
      // The action's priority class rides on the origin, so the peer's lanes send a kill at once and batch a walk.
      const origin = new LaneOrigin(priorityOf(action, this.options.priorities), this.origin)
      result = world.transact(origin, () => handler.apply({ world, intent, session, nowMs, random: this.random }))
    } catch (error) {
      this.stats.handlerErrors++
      this.stats.rejected++
      this.logger.error({ err: error, action, session, seq }, 'intent handler threw')
      return { result: reject(seq, 'internal-error', `the ${action} handler failed`) }
    }
    if (this.options.journal === undefined) {
      this.stats.accepted++
      return { result: { type: 'ack', seq, result } }
    }
    return { result: { type: 'ack', seq, result }, record: nowMs }
  }

  /** Journals an applied intent, then answers: an intent is acknowledged only once it is durable. */
  private async record(session: string, intent: Intent, atMs: Millis, ack: IntentResult): Promise<IntentResult> {
    const { seq, action } = intent
    if (this.options.journal !== undefined) {
      try {
        await this.options.journal.append(this.options.worldName, { atMs, session, intent })
      } catch (error) {
        // Applied but not recorded: the player is not told it happened, and the gap is loud.
        this.stats.journalFailures++
        this.stats.rejected++
        this.logger.error({ err: error, action, session, seq }, 'intent journal append failed')
        return reject(seq, 'internal-error', 'the intent could not be recorded')
      }
    }
    this.stats.accepted++
    return ack
  }
}
