import pino, { type Logger } from 'pino'
import * as Y from 'yjs'
import {
  createRandom,
  keepsAnswers,
  priorityOf,
  type AnsweringIntentJournal,
  type Clock,
  type Intent,
  type IntentJournal,
  type IntentResult,
  type Millis,
  type PriorityClass,
  type Random,
  type StoredSessionAnswers,
  type WorldDoc,
  type WorldValue,
} from '../core/index.js'
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
  /**
   * Where accepted intents are recorded for replay; without it nothing is recorded. A journal that
   * keeps answers too (`AnsweringIntentJournal`, as storage's does) makes them durable: each answer
   * is stored with its intent's entry before it is given, and `start` reloads them, so a resend
   * after a restart gets its original answer.
   */
  readonly journal?: IntentJournal
  /** Tag of the engine's writes; the transaction origin is a `LaneOrigin` with the action's priority class carrying it (default: the engine). */
  readonly origin?: unknown
  /** Priority class per action, over `DEFAULT_ACTION_PRIORITIES` (attack, pickup: critical; move: normal; ...). */
  readonly priorities?: Readonly<Record<string, PriorityClass>>
  /** Answers remembered per session (the newest ones), so a resent intent gets its original answer. Default 1024. */
  readonly answersPerSession?: number
  /** How long a released session (closed, handed off) is remembered, by the injected clock. Default 10 min. */
  readonly idleSessionMs?: number
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
  /** Resends older than the remembered answers, refused with `answer-expired`. */
  expired: number
}

/** How much answer memory an engine holds (for tests and benchmarks). */
export interface AnswerMemory {
  readonly sessions: number
  readonly answers: number
}

/** A session's answers as a handoff carries them: the settled ones, oldest first, and the floor below which all were forgotten. */
export interface SessionAnswerSnapshot {
  readonly floor: number
  readonly answers: readonly IntentResult[]
}

interface SessionAnswers {
  /** By sequence, oldest first: the answer itself once settled (a promise costs more memory than the result), the promise until then. */
  readonly answers: Map<number, Promise<IntentResult> | IntentResult>
  /** Lowest sequence still remembered; anything below was answered and forgotten. */
  floor: number
  /** The floor last written to the durable answer log. */
  storedFloor: number
  /** Injected-clock time the session was released (closed or handed off); undefined while in use. */
  idleSince: Millis | undefined
}

const reject = (seq: number, reason: string, message: string): IntentResult => ({ type: 'reject', seq, reason, message })

/** Runs `apply` and returns the Yjs update its transaction made (none when nested in an outer transaction, which reports later). */
const captureEffect = (world: WorldDoc, origin: unknown, apply: () => WorldValue): { result: WorldValue; effect?: Uint8Array } => {
  let effect: Uint8Array | undefined
  const capture = (update: Uint8Array, from: unknown): void => {
    if (from === origin) effect = effect === undefined ? update : Y.mergeUpdates([effect, update])
  }
  world.doc.on('update', capture)
  try {
    const result = apply()
    return effect === undefined ? { result } : { result, effect }
  } finally {
    world.doc.off('update', capture)
  }
}

/**
 * Applies intents to a world: validate, apply, journal, then answer. Exactly once per (session,
 * sequence): a resent intent gets the original answer, never a second application. Intents are
 * applied one at a time in arrival order, so the journal's order is the application order and a
 * replay through the same handlers reaches the same state. An intent is acknowledged only after
 * the journal holds it durably.
 */
export class IntentEngine {
  /** Counters. */
  readonly stats: IntentEngineStats = { accepted: 0, rejected: 0, duplicates: 0, handlerErrors: 0, journalFailures: 0, expired: 0 }
  private readonly random: Random
  private readonly sessions = new Map<string, SessionAnswers>()
  /** Answers known without waiting (final at once, or already resolved), for `submitNow`. */
  private readonly known = new WeakMap<Promise<IntentResult>, IntentResult>()
  private readonly origin: unknown
  private readonly answersPerSession: number
  private readonly idleSessionMs: number
  /** The journal when it keeps answers too: then every answer is durable before it is given. */
  private readonly answerLog: AnsweringIntentJournal | undefined
  private lastSweepMs: Millis
  private readonly logger: Logger

  private constructor(private readonly options: IntentEngineOptions) {
    this.random = createRandom(options.seed)
    this.origin = options.origin ?? this
    this.answersPerSession = options.answersPerSession ?? 1024
    this.idleSessionMs = options.idleSessionMs ?? 10 * 60_000
    this.answerLog = options.journal !== undefined && keepsAnswers(options.journal) ? options.journal : undefined
    this.lastSweepMs = options.clock.now()
    this.logger = options.logger ?? pino({ level: 'silent' })
  }

  /** Creates an engine; with a journal, begins the world's recording at the world's current state. */
  static async start(options: IntentEngineOptions): Promise<IntentEngine> {
    const engine = new IntentEngine(options)
    // Answers outlive a recording: they are about sessions. Their effects are re-applied first (a
    // no-op in Yjs when the world's store already has them), so no remembered ack lacks its effect.
    if (engine.answerLog !== undefined) engine.restore(await engine.answerLog.loadAnswers(options.worldName))
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
    this.sweepIfDue()
    const answers = this.sessionAnswers(session)
    answers.idleSince = undefined
    const earlier = answers.answers.get(seq)
    if (earlier !== undefined) {
      this.stats.duplicates++
      return earlier instanceof Promise ? earlier : this.final(earlier)
    }
    if (seq < answers.floor) {
      // Answered once and forgotten (out of the window, or acked by the client): refuse, never apply again.
      this.stats.expired++
      this.stats.rejected++
      return this.final(reject(seq, 'answer-expired', `sequence ${seq} was answered and is older than the answers this session keeps (from ${answers.floor})`))
    }
    const answer = this.handle(session, intent)
    const settled = this.known.get(answer)
    answers.answers.set(seq, settled ?? answer)
    if (settled === undefined) {
      // Setting an existing key keeps its place in the insertion order.
      void answer.then((result) => answers.answers.get(seq) === answer && answers.answers.set(seq, result))
    }
    if (answers.answers.size > this.answersPerSession) {
      // Maps iterate in insertion order: the first key is the oldest answer.
      const oldest = answers.answers.keys().next().value as number
      answers.answers.delete(oldest)
      this.raiseFloor(session, answers, oldest + 1)
    }
    return answer
  }

  /**
   * The client has every answer up to `seq` and will not resend them: they are forgotten here and
   * in the answer log, and a resend of one is refused with `answer-expired`.
   */
  acknowledged(session: string, seq: number): void {
    const answers = this.sessions.get(session)
    if (answers === undefined || !Number.isSafeInteger(seq) || seq < answers.floor) return
    for (const key of answers.answers.keys()) if (key <= seq) answers.answers.delete(key)
    this.raiseFloor(session, answers, seq + 1, true)
  }

  /** The session's client is gone (closed, handed off): forget it after `idleSessionMs` unless it comes back. */
  release(session: string): void {
    const answers = this.sessions.get(session)
    if (answers !== undefined) answers.idleSince = this.options.clock.now()
  }

  /**
   * A session continues here that this engine may no longer remember (resumed past its idle horizon,
   * or taken over from another peer): if it remembers none of its answers, sequences below `floor`
   * were answered elsewhere or long ago and are refused, never applied again. Answers it does
   * remember (reloaded after a restart) are its own truth and stay.
   */
  resume(session: string, floor: number): void {
    const answers = this.sessionAnswers(session)
    answers.idleSince = undefined
    if (answers.answers.size === 0 && Number.isSafeInteger(floor) && floor > answers.floor) this.raiseFloor(session, answers, floor, true)
  }

  /** Takes a session's answers from its old home (a handoff): resends get them here, and they are stored like this engine's own. */
  adopt(session: string, snapshot: SessionAnswerSnapshot): void {
    const answers = this.sessionAnswers(session)
    answers.idleSince = undefined
    for (const result of snapshot.answers) {
      if (result.seq < Math.max(answers.floor, snapshot.floor) || answers.answers.has(result.seq)) continue
      answers.answers.set(result.seq, result)
      this.storeQuietly(this.answerLog?.rememberAnswer(this.options.worldName, session, result))
    }
    if (snapshot.floor > answers.floor) this.raiseFloor(session, answers, snapshot.floor, true)
  }

  /** A session's settled answers and floor, to hand over with it (call once its intents in flight are answered). */
  answersOf(session: string): SessionAnswerSnapshot {
    const answers = this.sessions.get(session)
    if (answers === undefined) return { floor: 0, answers: [] }
    const settled: IntentResult[] = []
    for (const answer of answers.answers.values()) {
      const result = answer instanceof Promise ? this.known.get(answer) : answer
      if (result !== undefined) settled.push(result)
    }
    return { floor: answers.floor, answers: settled }
  }

  /** Whether `seq` of `session` was answered here: remembered, or below the floor (a resend gets `answer-expired`). */
  answered(session: string, seq: number): boolean {
    const answers = this.sessions.get(session)
    return answers !== undefined && (seq < answers.floor || answers.answers.has(seq))
  }

  /** Forgets a session here and in the answer log (it now lives on another peer, with its answers). */
  forget(session: string): void {
    if (!this.sessions.delete(session)) return
    this.storeQuietly(this.answerLog?.dropSession(this.options.worldName, session))
  }

  /** Forgets every session released at least `idleSessionMs` ago; `submit` also does it now and then. */
  sweep(): void {
    const now = this.options.clock.now()
    this.lastSweepMs = now
    for (const [session, answers] of this.sessions) {
      if (answers.idleSince !== undefined && now - answers.idleSince >= this.idleSessionMs) this.forget(session)
    }
  }

  /** Sessions and answers held in memory. */
  answerMemory(): AnswerMemory {
    let answers = 0
    for (const session of this.sessions.values()) answers += session.answers.size
    return { sessions: this.sessions.size, answers }
  }

  private sweepIfDue(): void {
    // A full pass at most four times per idle horizon: the sweep costs O(sessions), a submit must not.
    if (this.options.clock.now() - this.lastSweepMs >= this.idleSessionMs / 4) this.sweep()
  }

  private restore(stored: readonly StoredSessionAnswers[]): void {
    const effects = stored.flatMap((session) => session.effects)
    if (effects.length > 0) Y.applyUpdate(this.options.world.doc, Y.mergeUpdates(effects), new LaneOrigin('normal', this.origin))
    for (const { session, floor, answers: results } of stored) {
      const answers: SessionAnswers = { answers: new Map(), floor, storedFloor: floor, idleSince: this.options.clock.now() }
      for (const result of results.slice(-this.answersPerSession)) answers.answers.set(result.seq, result)
      this.sessions.set(session, answers)
    }
  }

  /**
   * Moves a session's floor up; the answer log follows in steps of a sixteenth of the window (or at
   * once when `now`), so steady traffic does not cost a delete per intent.
   */
  private raiseFloor(session: string, answers: SessionAnswers, floor: number, now = false): void {
    answers.floor = Math.max(answers.floor, floor)
    if (this.answerLog === undefined) return
    if (!now && answers.floor - answers.storedFloor < Math.max(1, this.answersPerSession >> 4)) return
    answers.storedFloor = answers.floor
    this.storeQuietly(this.answerLog.forgetAnswers(this.options.worldName, session, answers.floor))
  }

  /** Bookkeeping writes of the answer log (forgetting, adopting) are not awaited; a failure is logged, never thrown. */
  private storeQuietly(write: Promise<void> | undefined): void {
    write?.catch((error: unknown) => this.logger.error({ err: error }, 'answer log write failed'))
  }

  private sessionAnswers(session: string): SessionAnswers {
    let answers = this.sessions.get(session)
    if (answers === undefined) {
      answers = { answers: new Map(), floor: 0, storedFloor: 0, idleSince: undefined }
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
    if (decided.record === undefined && this.answerLog !== undefined) {
      // A refusal is stored before it is given too: after a restart a resend must not be decided afresh (and perhaps accepted).
      const answer = this.rememberRefusal(session, decided.result)
      void answer.then((result) => this.known.set(answer, result))
      return answer
    }
    if (decided.record === undefined) return this.final(decided.result)
    const answer = this.record(session, intent, decided.record, decided.result, decided.effect)
    void answer.then((result) => this.known.set(answer, result))
    return answer
  }

  /** Validates and applies at once; an acceptance still to be journaled carries the time to record it at. */
  private decide(session: string, intent: Intent): { result: IntentResult; record?: Millis; effect?: Uint8Array } {
    const { seq, action } = intent
    const handler = Object.hasOwn(this.options.handlers, action) ? this.options.handlers[action] : undefined
    if (handler === undefined) {
      this.stats.rejected++
      return { result: reject(seq, 'unknown-action', `no handler for action '${action}'`) }
    }
    const world = this.options.world
    const nowMs = this.options.clock.now()
    let result
    let effect: Uint8Array | undefined
    try {
      const verdict = handler.validate?.({ world, intent, session, nowMs }) ?? { ok: true }
      if (!verdict.ok) {
        this.stats.rejected++
        return { result: reject(seq, verdict.reason, verdict.message) }
      }
      // The action's priority class rides on the origin, so the peer's lanes send a kill at once and batch a walk.
      const origin = new LaneOrigin(priorityOf(action, this.options.priorities), this.origin)
      const apply = (): WorldValue => world.transact(origin, () => handler.apply({ world, intent, session, nowMs, random: this.random }))
      if (this.answerLog === undefined) result = apply()
      else ({ result, effect } = captureEffect(world, origin, apply))
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
    return { result: { type: 'ack', seq, result }, record: nowMs, ...(effect !== undefined ? { effect } : {}) }
  }

  /** Journals an applied intent, then answers: an intent is acknowledged only once it is durable. */
  private async record(session: string, intent: Intent, atMs: Millis, ack: IntentResult, effect: Uint8Array | undefined): Promise<IntentResult> {
    const { seq, action } = intent
    if (this.options.journal !== undefined) {
      try {
        const entry = { atMs, session, intent }
        await (this.answerLog !== undefined ? this.answerLog.appendAnswered(this.options.worldName, entry, ack, effect) : this.options.journal.append(this.options.worldName, entry))
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

  /** Stores a refusal in the answer log, then gives it; a refusal that cannot be stored is still given (nothing was applied). */
  private async rememberRefusal(session: string, result: IntentResult): Promise<IntentResult> {
    try {
      await this.answerLog?.rememberAnswer(this.options.worldName, session, result)
    } catch (error) {
      this.stats.journalFailures++
      this.logger.error({ err: error, session, seq: result.seq }, 'intent answer could not be stored')
    }
    return result
  }
}
