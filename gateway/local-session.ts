import type { Intent, IntentResult } from '../core/index.js'
import type { SessionAnswerSnapshot } from '../resolvers/index.js'
import type { SessionRedirect } from './session-control.js'

/** What a session needs from its intent connection: a way to send the client elsewhere. */
export interface SessionLink {
  redirect(redirect: Omit<SessionRedirect, 'type'>): void
}

/**
 * The engine side of a session: the intent engine is the one place answers are remembered (per
 * session, bounded, durable with an answering journal), so a session here holds none of its own.
 */
export interface SessionEngine {
  submit(session: string, intent: Intent): Promise<IntentResult>
  /** Whether `seq` was answered (remembered, or below the floor): a resend, not a first send. */
  answered(session: string, seq: number): boolean
  acknowledged(session: string, seq: number): void
  release(session: string): void
  resume(session: string, floor: number): void
  adopt(session: string, snapshot: SessionAnswerSnapshot): void
  answersOf(session: string): SessionAnswerSnapshot
}

/**
 * A session served by this peer: its engine (bound when its connection is admitted), the answers
 * a handoff carried until then, and the intents in flight, which a drain waits for before handing
 * over. The answers themselves live in the engine only (it used to keep a second copy here).
 */
export class LocalSession {
  private readonly inflight = new Set<Promise<IntentResult>>()
  /** Highest sequence answered. */
  lastAckedSeq = 0
  /** Set by a drain: first-time intents are no longer taken (the client resends them at the new home). */
  draining = false
  /** The open intent connection, if any. */
  link: SessionLink | undefined
  private engine: SessionEngine | undefined
  /** Answers carried by a handoff (or a floor from the registry), given to the engine once one is bound. */
  private carried: SessionAnswerSnapshot | undefined

  constructor(
    readonly player: string,
    /** The client's nonce. */
    readonly nonce: string,
    /** The resume token the client was given. */
    readonly resumeToken: string,
  ) {}

  /** The engine's session id: player ids never hold `/`, so the pair is unambiguous. */
  get id(): string {
    return `${this.player}/${this.nonce}`
  }

  /** Binds the engine that answers this session (its connection's); carried answers go to it. */
  bind(engine: SessionEngine): void {
    if (this.engine === engine) return
    this.engine = engine
    const carried = this.carried
    this.carried = undefined
    if (carried === undefined) return
    if (carried.answers.length > 0) engine.adopt(this.id, carried)
    else engine.resume(this.id, carried.floor)
  }

  /**
   * Takes answers carried over by a handoff, or only a floor (a session resumed here after its
   * answers were forgotten, or taken over from an unreachable home): sequences below it that the
   * engine does not remember are refused as expired, never applied again.
   */
  adopt(answers: readonly IntentResult[], floor: number, lastAckedSeq: number): void {
    this.carried = { answers, floor }
    this.lastAckedSeq = Math.max(this.lastAckedSeq, lastAckedSeq)
    const engine = this.engine
    if (engine !== undefined) {
      this.engine = undefined
      this.bind(engine)
    }
  }

  /** The answers and floor to hand over (call after `quiesce`). */
  answersToHandOver(): SessionAnswerSnapshot {
    return this.engine?.answersOf(this.id) ?? this.carried ?? { floor: 0, answers: [] }
  }

  /** The client acknowledged every answer up to `seq`: the engine may forget them. */
  acknowledged(seq: number): void {
    this.engine?.acknowledged(this.id, seq)
  }

  /** The client is gone (disconnected or handed off): the engine forgets the session after its idle time unless it returns. */
  release(): void {
    this.engine?.release(this.id)
  }

  /** Resolves when every intent in flight has its answer. */
  async quiesce(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
  }

  /**
   * The answer to `intent` from the bound engine (the original one for a resend), or undefined
   * while draining for a first send (not taken here; the client will resend it to the new home).
   */
  submit(intent: Intent, engine: SessionEngine): Promise<IntentResult> | undefined {
    this.bind(engine)
    if (this.draining && !engine.answered(this.id, intent.seq)) return undefined
    const answer = engine.submit(this.id, intent)
    this.inflight.add(answer)
    answer.then(
      () => {
        this.inflight.delete(answer)
        this.lastAckedSeq = Math.max(this.lastAckedSeq, intent.seq)
      },
      () => this.inflight.delete(answer),
    )
    return answer
  }
}
