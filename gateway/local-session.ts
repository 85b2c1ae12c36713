import type { Intent, IntentResult } from '../core/index.js'
import type { SessionRedirect } from './session-control.js'

/** What a session needs from its intent connection: a way to send the client elsewhere. */
export interface SessionLink {
  redirect(redirect: Omit<SessionRedirect, 'type'>): void
}

/** Settles a first-time intent (the engine); the session remembers the answer. */
export type SubmitIntent = (session: string, intent: Intent) => Promise<IntentResult>

/**
 * A session served by this peer: the answers it gave, by sequence number, so a resent intent gets
 * its original answer here even when the intent was first answered by another peer (answers travel
 * with a handoff), and the intents in flight, which a drain waits for before handing over.
 */
export class LocalSession {
  /** Answers by sequence number, in insertion order (oldest first). */
  private readonly answers = new Map<number, Promise<IntentResult>>()
  private readonly settled = new Map<number, IntentResult>()
  private readonly inflight = new Set<Promise<IntentResult>>()
  /** Lowest sequence still remembered; older ones were answered and forgotten. */
  floor = 0
  /** Highest sequence answered. */
  lastAckedSeq = 0
  /** Set by a drain: first-time intents are no longer taken (the client resends them at the new home). */
  draining = false
  /** The open intent connection, if any. */
  link: SessionLink | undefined
  /** Answers served from memory. */
  duplicates = 0

  constructor(
    readonly player: string,
    /** The client's nonce. */
    readonly nonce: string,
    /** The resume token the client was given. */
    readonly resumeToken: string,
    private readonly capacity: number,
  ) {}

  /** The engine's session id: player ids never hold `/`, so the pair is unambiguous. */
  get id(): string {
    return `${this.player}/${this.nonce}`
  }

  /** Takes answers carried over by a handoff. */
  adopt(answers: readonly IntentResult[], floor: number, lastAckedSeq: number): void {
    for (const answer of answers) this.remember(answer.seq, Promise.resolve(answer), answer)
    this.floor = Math.max(this.floor, floor)
    this.lastAckedSeq = Math.max(this.lastAckedSeq, lastAckedSeq)
  }

  /** The answers to hand over, oldest first. */
  settledAnswers(): IntentResult[] {
    return [...this.settled.values()]
  }

  /** Resolves when every intent in flight has its answer. */
  async quiesce(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
  }

  /**
   * The answer to `intent`: the remembered one for a resend, the engine's for a first send, or
   * undefined while draining (the intent is not taken here, and the client will resend it).
   */
  submit(intent: Intent, submit: SubmitIntent): Promise<IntentResult> | undefined {
    const earlier = this.answers.get(intent.seq)
    if (earlier !== undefined) {
      this.duplicates++
      return earlier
    }
    if (intent.seq < this.floor) {
      return Promise.resolve({ type: 'reject', seq: intent.seq, reason: 'invalid-intent', message: `sequence ${intent.seq} is older than the ${this.capacity} answers this session keeps` })
    }
    if (this.draining) return undefined
    const answer = submit(this.id, intent)
    this.inflight.add(answer)
    this.remember(intent.seq, answer, undefined)
    answer.then(
      (result) => {
        this.inflight.delete(answer)
        if (this.answers.get(intent.seq) === answer) this.settled.set(intent.seq, result)
        this.lastAckedSeq = Math.max(this.lastAckedSeq, intent.seq)
      },
      () => {
        // A failed engine call has no answer to remember: forget it so a resend tries again.
        this.inflight.delete(answer)
        if (this.answers.get(intent.seq) === answer) this.answers.delete(intent.seq)
      },
    )
    return answer
  }

  private remember(seq: number, answer: Promise<IntentResult>, settled: IntentResult | undefined): void {
    this.answers.set(seq, answer)
    if (settled !== undefined) this.settled.set(seq, settled)
    if (this.answers.size > this.capacity) {
      const oldest = this.answers.keys().next().value as number
      this.answers.delete(oldest)
      this.settled.delete(oldest)
      this.floor = Math.max(this.floor, oldest + 1)
    }
  }
}
