import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import { RealmsyncError, validateUpdate } from '../core/index.js'
import { CLOSE_UNAUTHORIZED } from './auth.js'
import { closeReason } from './close-reason.js'
import type { DocumentRoom, RoomMember } from './document-room.js'
import { admitFrame } from './frame-admission.js'
import { TokenBucket } from './token-bucket.js'
import { CLOSE_EPOCH_CHANGED, epochChangedReason, isStaleEpochState, wsEpochFrame, wsEpochGreetingFrame } from './epoch-resync.js'
import { UnsupportedMessageError, decodeWsClientFrame, encodeAwarenessEntries, wsAwarenessFrame, wsPermissionDeniedFrame, wsSyncStep1Frame, wsSyncStep2Frame } from './y-websocket-frames.js'

/** Close codes the gateway uses besides the auth codes 4401 and 4403 (RFC 6455 §7.4.1). */
export const CLOSE_GOING_AWAY = 1001
/** A text frame, or a message type the gateway does not accept. */
export const CLOSE_UNSUPPORTED_DATA = 1003
/** A binary frame that does not decode. */
export const CLOSE_INVALID_PAYLOAD = 1007
/** Over the message rate, or a bad document name. */
export const CLOSE_POLICY_VIOLATION = 1008
/** The server failed (the document could not be opened, the auth hook crashed). */
export const CLOSE_INTERNAL_ERROR = 1011
/** The client reads too slowly: its send buffer went over the limit. */
export const CLOSE_TRY_AGAIN_LATER = 1013

/** Per-connection limits. */
export interface ConnectionLimits {
  /** Bytes queued for one client before it is closed as a slow reader. */
  readonly maxBufferedBytes: number
  /** Sustained messages per second a client may send. */
  readonly messagesPerSecond: number
  /** Messages a client may send in a burst. */
  readonly burstMessages: number
  /** How long a closed connection may take to finish its close handshake before it is cut. */
  readonly closeGraceMs: number
}

/** Why connections were closed, counted by the gateway. */
export type ConnectionCloseKind = 'malformed' | 'rate-limited' | 'slow-reader' | 'expired' | 'epoch' | 'normal'

/** How a connection follows document epochs (undefined: the peer runs without epochs). */
export interface ConnectionEpochs {
  /** The document's current epoch number. */
  current(): number
  /** Whether the client asked for the epoch notice (`epochs=1`): the realmsync client does. */
  readonly aware: boolean
  /** The epoch an aware client says its `Y.Doc` holds (`epoch=<n>`, from an earlier greeting); undefined for a fresh one. */
  readonly held?: number
}

/** What a connection reports back to its gateway. */
export interface ConnectionEvents {
  onClosed(connection: ClientConnection, kind: ConnectionCloseKind): void
  onPermissionDenied(connection: ClientConnection): void
  onUpdateApplied(connection: ClientConnection): void
}

/**
 * One client's WebSocket on one document. Every frame is rate-limited, decoded completely and
 * checked before it acts; a client that breaks the protocol or the limits is closed with a code
 * that says why, and nothing it sent is applied. The connection object is the transaction and
 * awareness origin of what the client changes, so fan-out skips it.
 */
export class ClientConnection implements RoomMember {
  /** This connection's message-rate bucket. */
  readonly bucket: TokenBucket
  private closing = false
  private expiryTimer: ReturnType<typeof setTimeout> | undefined
  /** Update-bearing frames (sync step 2, update) handled, told to an epoch-aware client at a switch. */
  private updateFrames = 0
  /** With epochs, the client joins only once its sync step 1 showed a document of the current epoch. */
  private joined = false

  constructor(
    /** A label for logs: `<player>#<n>`. */
    readonly label: string,
    private readonly ws: WebSocket,
    private readonly room: DocumentRoom,
    /** Whether this client may write the document; otherwise it is read-only. */
    readonly writable: boolean,
    readonly limits: ConnectionLimits,
    private readonly events: ConnectionEvents,
    private readonly logger: Logger,
    private readonly epochs?: ConnectionEpochs,
  ) {
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.burstMessages, performance.now())
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    ws.on('close', () => this.finish('normal'))
    ws.on('error', (error) => this.logger.debug({ client: label, err: error.message }, 'client socket error'))
  }

  /** Joins the room and greets the client as y-websocket does: sync step 1, then the awareness states. */
  start(expiresAt: number | undefined): void {
    if (expiresAt !== undefined) this.closeAtExpiry(expiresAt)
    // With epochs the greeting waits for the client's step 1 (y-websocket clients send it first on
    // open): a client holding an older epoch must get nothing to answer with a step 2 of old structs.
    if (this.epochs === undefined) this.greet()
  }

  private greet(): void {
    this.joined = true
    this.room.join(this)
    if (this.epochs?.aware === true) this.send(wsEpochGreetingFrame(this.epochs.current()))
    this.send(wsSyncStep1Frame(this.room.doc))
    const states = [...this.room.awareness.getStates().keys()]
    if (states.length > 0) this.send(wsAwarenessFrame(this.room.awareness, states))
  }

  /**
   * The document moved to a new epoch: an aware client hears which of its writes are in the new
   * base, then every client is closed to resync with a fresh `Y.Doc`. The cut's state vector says
   * it exactly (the client carries only writes whose ids it does not cover: a frame applied here
   * after the coordinator's cut is in no epoch, since a client's write is not the peer's own to
   * carry). The frame count is for clients that read no cut: every frame handled where this peer
   * cut, none elsewhere.
   */
  epochChanged(epoch: number, cutHere = true, cut?: Uint8Array): void {
    if (this.closing) return
    if (this.epochs?.aware === true) this.send(wsEpochFrame(epoch, cutHere ? this.updateFrames : 0, cut))
    this.closeWith(CLOSE_EPOCH_CHANGED, epochChangedReason(this.room.name, epoch), 'epoch')
  }

  /** A token's grant ends at `exp`: the connection it opened ends then too (4401, get a new token). */
  private closeAtExpiry(expiresAt: number): void {
    // setTimeout holds at most 2^31-1 ms; a longer-lived token is checked again when that fires.
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 0x7fffffff)
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= expiresAt) this.closeWith(CLOSE_UNAUTHORIZED, 'expired-token: token expired', 'expired')
      else this.closeAtExpiry(expiresAt)
    }, delay)
    this.expiryTimer.unref()
  }

  /** Sends a frame unless the client's send buffer is over the limit, in which case it is closed. */
  send(frame: Uint8Array): void {
    if (this.closing) return
    // The backlog is checked before queueing, so one frame larger than the limit still goes out to
    // a client that keeps up; memory per connection stays under the limit plus one frame.
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.closeWith(CLOSE_TRY_AGAIN_LATER, `slow-reader: more than ${this.limits.maxBufferedBytes} bytes waiting to be sent`, 'slow-reader')
      return
    }
    this.ws.send(frame)
  }

  /** Closes with a code and reason, leaves the room at once, and cuts the socket if the client never answers. */
  closeWith(code: number, reason: string, kind: ConnectionCloseKind): void {
    if (this.closing) return
    this.logger.info({ client: this.label, doc: this.room.name, code, reason }, 'closing client connection')
    this.ws.close(code, closeReason(reason))
    this.finish(kind)
    setTimeout(() => this.ws.terminate(), this.limits.closeGraceMs).unref()
  }

  private finish(kind: ConnectionCloseKind): void {
    if (this.closing) return
    this.closing = true
    clearTimeout(this.expiryTimer)
    this.room.leave(this)
    this.events.onClosed(this, kind)
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.closing) return
    const bytes = admitFrame(this, data, isBinary, performance.now())
    if (bytes === undefined) return
    try {
      this.handle(bytes)
    } catch (error) {
      if (error instanceof RealmsyncError) {
        // Undecodable frames and updates: the client broke the protocol; nothing of it was applied.
        this.closeWith(error instanceof UnsupportedMessageError ? CLOSE_UNSUPPORTED_DATA : CLOSE_INVALID_PAYLOAD, closeReason(error.message), 'malformed')
        return
      }
      this.logger.error({ client: this.label, doc: this.room.name, err: error instanceof Error ? error.message : String(error) }, 'client frame failed')
      this.closeWith(CLOSE_INTERNAL_ERROR, 'internal-error: the frame could not be handled', 'malformed')
    }
  }

  private handle(bytes: Uint8Array): void {
    const frame = decodeWsClientFrame(bytes)
    const { doc, awareness, name } = this.room
    if (!this.joined && this.epochs !== undefined) {
      const epoch = this.epochs.current()
      // An aware client names its document's epoch; a stock one is judged by its state vector alone.
      const held = this.epochs.held
      if ((held !== undefined && held !== epoch) || (frame.kind === 'sync-step-1' && isStaleEpochState(frame.stateVector, doc, epoch, this.writable))) {
        this.closeWith(CLOSE_EPOCH_CHANGED, epochChangedReason(name, epoch), 'epoch')
        return
      }
      this.greet()
    }
    switch (frame.kind) {
      case 'sync-step-1':
        this.send(wsSyncStep2Frame(doc, frame.stateVector))
        return
      case 'sync-step-2':
      case 'update':
        this.updateFrames++
        validateUpdate(name, frame.update)
        if (!this.writable) {
          // The stock provider answers every step 1 with a step 2, usually holding nothing new
          // (or only deletions the server already has); only a real change is a write attempt.
          if (!Y.snapshotContainsUpdate(Y.snapshot(doc), frame.update)) {
            this.send(wsPermissionDeniedFrame(`document '${name}' is read-only for this client`))
            this.events.onPermissionDenied(this)
          }
          return
        }
        Y.applyUpdate(doc, frame.update, this)
        this.events.onUpdateApplied(this)
        return
      case 'awareness': {
        // The stock provider echoes every awareness change it hears, other clients' included; those
        // echoes are dropped, so a client can set only the states it introduced itself.
        const own = frame.entries.filter((entry) => this.room.mayControl(this, entry.clientId))
        if (own.length === 0) return
        const update = own.length === frame.entries.length ? frame.update : encodeAwarenessEntries(own)
        awarenessProtocol.applyAwarenessUpdate(awareness, update, this)
        return
      }
      case 'query-awareness':
        this.send(wsAwarenessFrame(awareness, [...awareness.getStates().keys()]))
        return
    }
  }
}
