import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import { decodeIntent, encodeIntentResult, RealmsyncError, type Intent, type IntentResult } from '../core/index.js'
import type { IntentEngine } from '../resolvers/index.js'
import { CLOSE_UNAUTHORIZED } from './auth.js'
import { closeReason } from './close-reason.js'
import type { Grants } from './permissions.js'
import { admitFrame, admitRate, frameBytes } from './frame-admission.js'
import type { SessionLink } from './local-session.js'
import { CLOSE_REDIRECT, decodeClientMessage, encodeServerControl, type ClientControl, type InterestArea, type ServerControl, type SessionRedirect } from './session-control.js'
import { TokenBucket } from './token-bucket.js'
import { SessionOutbox, type BatchSink, type SessionFlusher } from './session-outbox.js'
import {
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_POLICY_VIOLATION,
  CLOSE_TRY_AGAIN_LATER,
  CLOSE_UNSUPPORTED_DATA,
  type ConnectionCloseKind,
  type ConnectionLimits,
} from './client-connection.js'

/**
 * The intent channel: a dedicated WebSocket path, not an extra message type on document
 * connections, because a session's intents belong to the player, not to any one document (a client
 * may sync several documents or none), and a path of its own leaves the y-websocket document
 * protocol byte for byte as stock clients expect. Each binary frame from the client is one encoded
 * `Intent` (core's versioned codec); each answer is one encoded `IntentResult`, or, for a client
 * that connected with `batch=1`, one item of a batch frame (core/session-batch.ts) that also
 * carries its ephemeral changes (session-outbox.ts).
 */

/** Query parameter by which a client asks for batch frames (`batch=1`); without it, one frame per answer and JSON ephemeral batches. */
export const BATCH_FRAMES_PARAM = 'batch'

/** The path of the intent channel; it is not a document name. */
export const INTENT_CHANNEL_PATH = '/.realmsync/intents'

/** A client-chosen session nonce: the same nonce after a reconnect resumes the same session. */
const SESSION_NONCE = /^[A-Za-z0-9_-]{1,64}$/

/** Whether `nonce` is a valid session nonce (1-64 of `A-Z a-z 0-9 _ -`). */
export const isSessionNonce = (nonce: string): boolean => SESSION_NONCE.test(nonce)

/** The engine's session id of a player's session: player ids never hold `/`, so the pair is unambiguous. */
export const intentSessionId = (player: string, nonce: string): string => `${player}/${nonce}`

/** Settings of the gateway's intent channel. */
export interface IntentChannelOptions {
  /** The engine intents go to, or a function picking one for a connection's grants (e.g. by zone). */
  readonly engine: IntentEngine | ((grants: Grants) => IntentEngine)
}

/** What an intent connection reports back to its gateway. */
export interface IntentConnectionEvents {
  onClosed(connection: IntentConnection, kind: ConnectionCloseKind): void
  onAnswered(connection: IntentConnection, result: IntentResult): void
  onRefused(connection: IntentConnection): void
  /** A client control message (sessions only); without it, text frames are refused. */
  onInterest?(connection: IntentConnection, area: InterestArea): void
  /** The client has every answer up to `seq` (sessions only). */
  onAcked?(connection: IntentConnection, seq: number): void
}

/** Answers a first-time or resent intent; undefined leaves it unanswered (a draining session: the client resends it elsewhere). */
export type IntentSubmitter = (intent: Intent) => Promise<IntentResult> | undefined

/**
 * One client's intent socket. Frames are rate-limited and decoded strictly before anything acts; a
 * frame that does not decode closes this connection (1007) and nothing else. An intent naming a
 * player other than the token's subject is rejected with `not-permitted` without reaching the
 * engine; the answer does not depend on world state, so a resend gets the same one.
 */
export class IntentConnection implements SessionLink, BatchSink {
  /** This connection's message-rate bucket. */
  readonly bucket: TokenBucket
  private closing = false
  private expiryTimer: ReturnType<typeof setTimeout> | undefined
  /** Answers and ephemeral batches waiting for the next flush, for a client that reads batch frames. */
  private readonly outbox: SessionOutbox | undefined

  constructor(
    /** A label for logs: `<player>#<n>`. */
    readonly label: string,
    private readonly ws: WebSocket,
    private readonly grants: Grants,
    /** The engine's session id: token subject plus the client's nonce. */
    readonly session: string,
    private readonly submit: IntentSubmitter,
    readonly limits: ConnectionLimits,
    private readonly events: IntentConnectionEvents,
    private readonly logger: Logger,
    /** Given for a client that reads batch frames: its answers and ephemeral batches go out at this schedule's flushes. */
    flusher?: SessionFlusher,
  ) {
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.burstMessages, performance.now())
    this.outbox = flusher === undefined ? undefined : new SessionOutbox(this, flusher)
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    ws.on('close', () => this.finish('normal'))
    ws.on('error', (error) => this.logger.debug({ client: label, err: error.message }, 'intent socket error'))
    if (grants.expiresAt !== undefined) this.closeAtExpiry(grants.expiresAt)
  }

  /** Closes with a code and reason, and cuts the socket if the client never answers. */
  closeWith(code: number, reason: string, kind: ConnectionCloseKind): void {
    if (this.closing) return
    this.logger.info({ client: this.label, session: this.session, code, reason }, 'closing intent connection')
    this.ws.close(code, closeReason(reason))
    this.finish(kind)
    setTimeout(() => this.ws.terminate(), this.limits.closeGraceMs).unref()
  }

  /** Whether this client reads batch frames. */
  get batched(): boolean {
    return this.outbox !== undefined
  }

  /**
   * Sends a session control message: a JSON text frame, unless the client reads too slowly; an
   * ephemeral batch to a batching client waits in its outbox instead. Anything waiting goes first,
   * so a redirect never overtakes the answers before it.
   */
  sendControl(message: ServerControl): void {
    if (this.closing) return
    if (this.outbox !== undefined) {
      if (message.type === 'ephemeral') {
        this.outbox.queueEphemeral(message)
        return
      }
      this.outbox.flush()
      if (this.closing) return
    }
    if (this.overBufferLimit()) return
    this.ws.send(encodeServerControl(message))
  }

  /** Sends one batch frame (the outbox's flush); false once closed. */
  sendBatchFrame(frame: Uint8Array): boolean {
    if (this.closing || this.overBufferLimit()) return false
    this.ws.send(frame)
    return true
  }

  /** Closes a client whose send buffer is over the limit (a slow reader); true if it was. */
  private overBufferLimit(): boolean {
    // Checked before queueing, so one frame larger than the limit still goes out to a client that keeps up.
    if (this.ws.bufferedAmount <= this.limits.maxBufferedBytes) return false
    this.closeWith(CLOSE_TRY_AGAIN_LATER, `slow-reader: more than ${this.limits.maxBufferedBytes} bytes waiting to be sent`, 'slow-reader')
    return true
  }

  /** Sends the client to its session's home and closes with 4300. */
  redirect(redirect: Omit<SessionRedirect, 'type'>): void {
    this.sendControl({ type: 'redirect', ...redirect })
    this.closeWith(CLOSE_REDIRECT, `redirect: the session lives on peer ${redirect.peer}`, 'normal')
  }

  private closeAtExpiry(expiresAt: number): void {
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 0x7fffffff)
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= expiresAt) this.closeWith(CLOSE_UNAUTHORIZED, 'expired-token: token expired', 'expired')
      else this.closeAtExpiry(expiresAt)
    }, delay)
    this.expiryTimer.unref()
  }

  private finish(kind: ConnectionCloseKind): void {
    if (this.closing) return
    this.closing = true
    clearTimeout(this.expiryTimer)
    this.outbox?.clear()
    this.events.onClosed(this, kind)
  }

  private answer(result: IntentResult): void {
    this.events.onAnswered(this, result)
    // An answer that finds the socket gone is not lost: the client resends and the engine's dedupe answers again.
    if (this.closing) return
    if (this.outbox !== undefined) {
      this.outbox.queueAnswer(result)
      return
    }
    if (this.overBufferLimit()) return
    this.ws.send(encodeIntentResult(result))
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.closing) return
    if (!isBinary && this.events.onInterest !== undefined) {
      this.onControl(data)
      return
    }
    const bytes = admitFrame(this, data, isBinary, performance.now())
    if (bytes === undefined) return
    let intent
    try {
      intent = decodeIntent(bytes)
    } catch (error) {
      if (error instanceof RealmsyncError) {
        this.closeWith(CLOSE_INVALID_PAYLOAD, error.message, 'malformed')
        return
      }
      throw error
    }
    if (intent.player !== this.grants.player) {
      this.events.onRefused(this)
      this.answer({ type: 'reject', seq: intent.seq, reason: 'not-permitted', message: `this session acts for player '${this.grants.player}' only` })
      return
    }
    const answer = this.submit(intent)
    if (answer === undefined) return
    answer.then(
      (result) => this.answer(result),
      (error: unknown) => {
        this.logger.error({ client: this.label, err: error instanceof Error ? error.message : String(error) }, 'intent engine failed')
        this.closeWith(CLOSE_INTERNAL_ERROR, 'internal-error: the intent could not be handled', 'normal')
      },
    )
  }

  private onControl(data: Buffer | ArrayBuffer | Buffer[]): void {
    if (!admitRate(this, performance.now())) return
    let message: ClientControl
    try {
      message = decodeClientMessage(new TextDecoder('utf-8', { fatal: true }).decode(frameBytes(data)))
    } catch (error) {
      this.closeWith(CLOSE_INVALID_PAYLOAD, error instanceof Error ? error.message : 'malformed control message', 'malformed')
      return
    }
    if (message.type === 'acked') this.events.onAcked?.(this, message.seq)
    else this.events.onInterest?.(this, { x: message.x, y: message.y, radius: message.radius })
  }
}
