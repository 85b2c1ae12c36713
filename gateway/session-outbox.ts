import {
  encodedItemBytes,
  encodeIntentResult,
  encodeSessionBatchFrame,
  encodeSessionBatchRegister,
  SESSION_BATCH_LIMITS,
  type EncodedSessionBatchItem,
  type IntentResult,
} from '../core/index.js'
import type { EphemeralBatch, EphemeralView } from './session-control.js'

/**
 * Batching on the intent channel (core/session-batch.ts has the frame). A socket write costs the
 * peer far more than encoding what goes in it (a syscall, and on loopback the receiver's TCP input
 * too): with interest fan-out a move reaches about ten clients, so one write per answer and per
 * ephemeral batch made writes the larger part of a move's cost. Each batching connection has an
 * outbox; what it collects between two flushes goes out as one frame (more only past
 * `SESSION_BATCH_LIMITS.softFrameBytes`).
 */

/** Frame memory from Node's pool: a frame is small, and a typed array of its own would be an off-heap allocation per client per flush. */
const allocateFrame = (bytes: number): Uint8Array => Buffer.allocUnsafe(bytes)

/** When outboxes are flushed. */
export type SessionFlushMode =
  /** With the fan-out tick: an answer waits for the tick and rides in the frame that carries the state its intent changed. */
  | 'tick'
  /** At the end of the event-loop turn that queued something (answers are not delayed; fewer frames are shared). */
  | 'immediate'

/** Where an outbox's frames go: its connection, which applies the slow-reader limit. */
export interface BatchSink {
  /** Sends one frame; false once the connection is closed (the rest is dropped). */
  sendBatchFrame(frame: Uint8Array): boolean
}

/**
 * The gateway's flush schedule for every batching connection, and the encoded bytes of each
 * ephemeral register of the current flush: one move is seen by many clients, and is encoded once.
 */
export class SessionFlusher {
  private readonly dirty = new Set<SessionOutbox>()
  /** Registers are immutable store entries, so one flush's encodings can be shared by identity. */
  private readonly registers = new Map<EphemeralView, Uint8Array>()
  private scheduled: ReturnType<typeof setImmediate> | undefined
  /** Batch frames sent so far. */
  frames = 0

  constructor(readonly mode: SessionFlushMode) {}

  /** An outbox holds something: flush it at the next tick, or at the end of this turn. */
  markDirty(outbox: SessionOutbox): void {
    this.dirty.add(outbox)
    if (this.mode === 'immediate' && this.scheduled === undefined) this.scheduled = setImmediate(() => this.flush())
  }

  /** Forgets an outbox (its connection closed). */
  forget(outbox: SessionOutbox): void {
    this.dirty.delete(outbox)
  }

  /** The encoded bytes of a register, shared by every outbox of this flush. */
  registerBytes(view: EphemeralView): Uint8Array {
    let bytes = this.registers.get(view)
    if (bytes === undefined) {
      bytes = encodeSessionBatchRegister({ entity: view.entity, field: view.field, value: view.value })
      this.registers.set(view, bytes)
    }
    return bytes
  }

  /** Sends every outbox that holds something, one frame each. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled)
      this.scheduled = undefined
    }
    // Taken out first: an outbox marked again while this flush sends waits for the next one.
    const dirty = [...this.dirty]
    this.dirty.clear()
    for (const outbox of dirty) this.frames += outbox.flush()
    this.registers.clear()
  }

  /** Stops the schedule (the gateway closed). */
  close(): void {
    clearImmediate(this.scheduled)
    this.scheduled = undefined
    this.dirty.clear()
    this.registers.clear()
  }
}

/** What one batching connection has for its client until the next flush. */
export class SessionOutbox {
  private ephemeral: EncodedSessionBatchItem[] = []
  private answers: EncodedSessionBatchItem[] = []

  constructor(
    private readonly sink: BatchSink,
    private readonly flusher: SessionFlusher,
  ) {}

  /** Whether nothing is waiting. */
  get empty(): boolean {
    return this.ephemeral.length === 0 && this.answers.length === 0
  }

  /** Queues an intent's answer (encoded now: `encodeIntentResult` checks it). */
  queueAnswer(result: IntentResult): void {
    this.answers.push({ kind: 'answer', bytes: encodeIntentResult(result) })
    this.flusher.markDirty(this)
  }

  /** Queues an ephemeral batch, split so no item outgrows a frame's soft size. */
  queueEphemeral(batch: EphemeralBatch): void {
    // Gone entities ride in the first item: the client applies an item's departures before its entries.
    let gone: readonly string[] = batch.gone
    let entries: Uint8Array[] = []
    let bytes = 0
    for (const view of batch.entries) {
      const encoded = this.flusher.registerBytes(view)
      if (entries.length > 0 && bytes + encoded.length > SESSION_BATCH_LIMITS.softFrameBytes) {
        this.ephemeral.push({ kind: 'ephemeral', entries, gone })
        gone = []
        entries = []
        bytes = 0
      }
      entries.push(encoded)
      bytes += encoded.length
    }
    if (entries.length > 0 || gone.length > 0) this.ephemeral.push({ kind: 'ephemeral', entries, gone })
    this.flusher.markDirty(this)
  }

  /**
   * Sends what is waiting: ephemeral items first, then answers, so when an answer resolves on the
   * client the state its intent changed is already there. Returns the frames sent.
   */
  flush(): number {
    if (this.empty) return 0
    const items = this.ephemeral.length === 0 ? this.answers : this.answers.length === 0 ? this.ephemeral : [...this.ephemeral, ...this.answers]
    this.ephemeral = []
    this.answers = []
    this.flusher.forget(this)
    let frames = 0
    let start = 0
    let bytes = 0
    for (let index = 0; index < items.length; index++) {
      const size = encodedItemBytes(items[index] as EncodedSessionBatchItem)
      if (index > start && bytes + size > SESSION_BATCH_LIMITS.softFrameBytes) {
        frames++
        if (!this.sink.sendBatchFrame(encodeSessionBatchFrame(items.slice(start, index), allocateFrame))) return frames
        start = index
        bytes = 0
      }
      bytes += size
    }
    frames++
    this.sink.sendBatchFrame(encodeSessionBatchFrame(start === 0 ? items : items.slice(start), allocateFrame))
    return frames
  }

  /** Drops what is waiting (the connection closed: the client resends unanswered intents). */
  clear(): void {
    this.ephemeral = []
    this.answers = []
    this.flusher.forget(this)
  }
}
