import { decodeIntentResult, decodeSessionBatch, encodeIntent, isSessionBatch, RealmsyncError, type HlcTimestamp, type IntentResult, type SessionBatchItem, type WorldValue } from '../core/index.js'
import { ReconnectingSocket, type ReconnectingSocketOptions } from './reconnecting-socket.js'
import { decodeSessionControl, encodeAcked, type SessionControlMessage } from './session-control.js'

/** Answers between two `acked` messages: a few bytes per 32 intents, and the server's memory for them shrinks to that. */
export const ACK_EVERY = 32

/** Options of one intent. */
export interface IntentOptions {
  /** Entity version the client predicted against. */
  readonly predictedVersion?: number
  /** When the intent was issued. */
  readonly stamp?: HlcTimestamp
}

/** The client was closed, or the server refused the session for good, before an intent was answered. */
export class IntentChannelClosedError extends RealmsyncError {
  constructor(detail: string) {
    super('intent-channel-closed', `intent channel closed: ${detail}`)
  }
}

/** Counters of an intent sender. */
export interface IntentSenderStats {
  /** Intents sent for the first time. */
  sent: number
  /** Sends of intents already sent on an earlier connection. */
  resent: number
  acks: number
  rejects: number
  /** Answers for no pending intent (a late duplicate), dropped. */
  strayAnswers: number
}

interface Pending {
  readonly frame: Uint8Array
  readonly resolve: (result: IntentResult) => void
  readonly reject: (error: Error) => void
  /** Whether it went out on some connection already. */
  sent: boolean
}

/**
 * Sends a session's intents with increasing sequence numbers and matches answers by `seq`. Every
 * intent stays pending until answered; on each (re)connect all pending ones are sent again, in
 * order and with their original sequence numbers, so the engine's (session, seq) dedupe makes the
 * outcome exactly once however many times a frame went out.
 */
export class IntentSender {
  readonly stats: IntentSenderStats = { sent: 0, resent: 0, acks: 0, rejects: 0, strayAnswers: 0 }
  private readonly socket: ReconnectingSocket
  private readonly pending = new Map<number, Pending>()
  private nextSeq = 1
  private closedBecause: string | undefined
  /** Whether the gateway serves sessions (it greeted us): only then does it read control messages such as acks. */
  private sessions = false
  /** The last `acked` watermark sent. */
  private ackSent = 0

  constructor(
    /** The acting player: the token's subject. */
    readonly player: string,
    socketOptions: ReconnectingSocketOptions,
    private readonly onError: (error: Error) => void,
    /** Session control messages (greeting, redirect, ephemeral batches), and each open before intents are resent. */
    private readonly session: { onControl(message: SessionControlMessage): void; onOpen(): void } = { onControl: () => {}, onOpen: () => {} },
  ) {
    this.socket = new ReconnectingSocket(socketOptions, {
      onText: (text) => this.onControl(text),
      onOpen: () => {
        this.session.onOpen()
        // Map iteration is insertion order, which is sequence order.
        for (const entry of this.pending.values()) {
          if (entry.sent) this.stats.resent++
          else this.stats.sent++
          entry.sent = true
          this.socket.send(entry.frame)
        }
      },
      onMessage: (bytes) => this.onBinary(bytes),
      onClose: (code, reason, final) => {
        if (final) this.failAll(`closed with ${code}${reason ? ` (${reason})` : ''}`)
      },
    })
  }

  /** Intents sent and not yet answered. */
  get pendingCount(): number {
    return this.pending.size
  }

  /** Reconnects after a drop so far. */
  get reconnects(): number {
    return this.socket.reconnects
  }

  /** Sends an intent; resolves with its ack or reject (with the reason), once. */
  send(action: string, payload: WorldValue, options: IntentOptions = {}): Promise<IntentResult> {
    if (this.closedBecause !== undefined) return Promise.reject(new IntentChannelClosedError(this.closedBecause))
    const seq = this.nextSeq
    // Encoding checks the intent; a bad one throws here, before a sequence number is spent.
    const frame = encodeIntent({ action, seq, player: this.player, payload, ...options })
    this.nextSeq++
    return new Promise<IntentResult>((resolve, reject) => {
      const entry: Pending = { frame, resolve, reject, sent: false }
      this.pending.set(seq, entry)
      // While disconnected the intent waits in `pending`; the next open sends it.
      if (this.socket.send(frame)) {
        entry.sent = true
        this.stats.sent++
      }
    })
  }

  /** Sends a session control text frame if connected. */
  sendText(text: string): boolean {
    return this.socket.sendText(text)
  }

  /** Moves to the URL as it reads now, at once (a redirect). */
  moveNow(): void {
    this.socket.moveNow()
  }

  /** Drops the connection so it reconnects and resends. */
  reconnect(): void {
    this.socket.reconnect()
  }

  /** Closes the channel; pending intents fail with `IntentChannelClosedError`. */
  close(): void {
    this.socket.stop()
    this.failAll('the client was closed')
  }

  private failAll(reason: string): void {
    this.closedBecause ??= reason
    const error = new IntentChannelClosedError(reason)
    for (const entry of this.pending.values()) entry.reject(error)
    this.pending.clear()
  }

  private onControl(text: string): void {
    let message: SessionControlMessage
    try {
      message = decodeSessionControl(text)
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)))
      return
    }
    if (message.type === 'session') {
      this.sessions = true
      this.socket.settled()
    }
    this.session.onControl(message)
  }

  /** A binary frame: a batch (asked for with `batch=1`), or a single answer from a gateway that does not batch. */
  private onBinary(bytes: Uint8Array): void {
    let items: SessionBatchItem[] | undefined
    let result: IntentResult | undefined
    try {
      if (isSessionBatch(bytes)) items = decodeSessionBatch(bytes)
      else result = decodeIntentResult(bytes)
    } catch (error) {
      // A frame that does not decode is refused whole: none of its items is applied.
      this.onError(error instanceof Error ? error : new Error(String(error)))
      return
    }
    if (result !== undefined) {
      this.onAnswer(result)
      return
    }
    for (const item of items ?? []) {
      if (item.kind === 'answer') this.onAnswer(item.result)
      else this.session.onControl({ type: 'ephemeral', entries: item.entries, gone: item.gone })
    }
  }

  private onAnswer(result: IntentResult): void {
    const entry = this.pending.get(result.seq)
    if (entry === undefined) {
      this.stats.strayAnswers++
      return
    }
    this.pending.delete(result.seq)
    if (result.type === 'ack') this.stats.acks++
    else this.stats.rejects++
    entry.resolve(result)
    this.sendAckIfDue()
  }

  /**
   * Every answer below the oldest pending intent has arrived, so those intents are never resent: tell
   * the gateway now and then (every `ACK_EVERY` answers), so the engine can forget their answers
   * before its window would.
   */
  private sendAckIfDue(): void {
    if (!this.sessions) return
    const oldestPending = this.pending.keys().next()
    const watermark = oldestPending.done === true ? this.nextSeq - 1 : oldestPending.value - 1
    if (watermark - this.ackSent < ACK_EVERY) return
    if (this.socket.sendText(encodeAcked(watermark))) this.ackSent = watermark
  }
}
