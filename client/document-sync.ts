import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as authProtocol from 'y-protocols/auth'
import { ReconnectingSocket, type ReconnectingSocketOptions } from './reconnecting-socket.js'

/** y-websocket outer message types the client handles (see gateway/y-websocket-frames.ts). */
const MESSAGE_SYNC = 0
const MESSAGE_AUTH = 2

/** What a document sync reports. */
export interface DocumentSyncEvents {
  /** The server refused a write (a read-only document). */
  onPermissionDenied(name: string, reason: string): void
  /** A frame from the server did not decode; it was dropped. */
  onError(name: string, error: Error): void
}

/**
 * One document kept in sync with the gateway over the y-websocket protocol: on every (re)connect
 * it exchanges state vectors, so whatever either side missed while apart is sent once; local
 * changes go out as updates while connected. Awareness messages are ignored.
 */
export class DocumentSync {
  private readonly socket: ReconnectingSocket
  private isSynced = false
  private waiters: Array<() => void> = []
  private readonly onUpdate: (update: Uint8Array, origin: unknown) => void

  constructor(
    /** The document name (the gateway path). */
    readonly name: string,
    /** The local replica. */
    readonly doc: Y.Doc,
    socketOptions: ReconnectingSocketOptions,
    private readonly events: DocumentSyncEvents,
  ) {
    this.onUpdate = (update, origin) => {
      if (origin !== this) this.socket.send(frame((encoder) => syncProtocol.writeUpdate(encoder, update)))
    }
    doc.on('update', this.onUpdate)
    this.socket = new ReconnectingSocket(socketOptions, {
      onOpen: () => this.socket.send(frame((encoder) => syncProtocol.writeSyncStep1(encoder, doc))),
      onMessage: (bytes) => this.onMessage(bytes),
      onClose: () => {
        this.isSynced = false
      },
    })
  }

  /** Whether the document has caught up with the server since the last connect. */
  get synced(): boolean {
    return this.isSynced
  }

  /** Reconnects after a drop so far. */
  get reconnects(): number {
    return this.socket.reconnects
  }

  /** Resolves once the document has caught up with the server. */
  whenSynced(): Promise<void> {
    if (this.isSynced) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Drops the connection so it reconnects (as after a network change). */
  reconnect(): void {
    this.socket.reconnect()
  }

  /** Moves to the URL as it reads now, at once (the session moved to another peer); the state-vector exchange on open fills any gap. */
  moveNow(): void {
    this.isSynced = false
    this.socket.moveNow()
  }

  /** Stops syncing; the local document stays as it is. */
  destroy(): void {
    this.doc.off('update', this.onUpdate)
    this.socket.stop()
  }

  private onMessage(bytes: Uint8Array): void {
    try {
      const decoder = decoding.createDecoder(bytes)
      const type = decoding.readVarUint(decoder)
      if (type === MESSAGE_SYNC) {
        const reply = encoding.createEncoder()
        encoding.writeVarUint(reply, MESSAGE_SYNC)
        const kind = syncProtocol.readSyncMessage(decoder, reply, this.doc, this)
        // Only a step 1 from the server writes a reply (our step 2).
        if (encoding.length(reply) > 1) this.socket.send(encoding.toUint8Array(reply))
        if (kind === syncProtocol.messageYjsSyncStep2 && !this.isSynced) {
          this.isSynced = true
          for (const resolve of this.waiters.splice(0)) resolve()
        }
      } else if (type === MESSAGE_AUTH) {
        authProtocol.readAuthMessage(decoder, this.doc, (_doc, reason) => this.events.onPermissionDenied(this.name, reason))
      }
    } catch (error) {
      // The server is trusted to speak the protocol; a frame that does not decode is reported, not fatal.
      this.events.onError(this.name, error instanceof Error ? error : new Error(String(error)))
    }
  }
}

const frame = (write: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  write(encoder)
  return encoding.toUint8Array(encoder)
}
