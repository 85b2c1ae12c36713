import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as authProtocol from 'y-protocols/auth'
import { CLOSE_EPOCH_CHANGED, ReconnectingSocket, type ReconnectingSocketOptions } from './reconnecting-socket.js'
import { PendingWrites } from './pending-writes.js'
import { cutClocks } from '../core/index.js'

/** y-websocket outer message types the client handles (see gateway/y-websocket-frames.ts). */
const MESSAGE_SYNC = 0
const MESSAGE_AUTH = 2
/** The gateway's epoch notice (gateway/epoch-resync.ts): the new epoch, how many of our update frames it handled, and the cut's state vector. */
const MESSAGE_EPOCH = 100
/** The gateway's epoch greeting: the epoch this connection syncs against. */
const MESSAGE_EPOCH_GREETING = 101

/** Transaction origin of this client's writes carried into a document's new epoch. */
export const CLIENT_EPOCH_CARRY_ORIGIN = 'realmsync-client-epoch-carry'

/** A document moved to a new epoch: read and write `doc` from now on. */
export interface DocumentEpochChange {
  readonly name: string
  /** The fresh replica, synced with the server's current epoch and holding the writes carried. */
  readonly doc: Y.Doc
  /** The replica left behind; writes made on it are still carried, but it no longer syncs. */
  readonly previous: Y.Doc
  /** The epoch number, when the gateway told it (0 when the connection was refused as stale). */
  readonly epoch: number
  /** Paths of this client's writes the old replica had not received, written into `doc`. */
  readonly carried: number
}

/** What a document sync reports. */
export interface DocumentSyncEvents {
  /** The server refused a write (a read-only document). */
  onPermissionDenied(name: string, reason: string): void
  /** A frame from the server did not decode; it was dropped. */
  onError(name: string, error: Error): void
  /** The document moved to a new epoch and the fresh replica is synced: rebind to `change.doc`. */
  onEpochChange?(change: DocumentEpochChange): void
}

/**
 * One document kept in sync with the gateway over the y-websocket protocol: on every (re)connect
 * it exchanges state vectors, so whatever either side missed while apart is sent once; local
 * changes go out as updates while connected. Awareness messages are ignored.
 *
 * Epochs (docs/epochs.md): when the gateway closes with `CLOSE_EPOCH_CHANGED`, the document moved to
 * a fresh replica on the server. The client keeps showing (and taking writes on) its replica while a
 * fresh `Y.Doc` reconnects and syncs; then it writes into the fresh one every path of its own the
 * old server replica had not received (the gateway's epoch notice says which frames it handled),
 * makes the fresh one current and tells `onEpochChange`, so there is no gap in what the app sees.
 */
export class DocumentSync {
  private readonly socket: ReconnectingSocket
  private isSynced = false
  private waiters: Array<() => void> = []
  private current: Y.Doc
  /** The fresh replica being synced after an epoch change, until it becomes current. */
  private next: Y.Doc | undefined
  /** The epoch notice of the connection that just closed: epoch and update frames the server handled. */
  private notice: { epoch: number; handled: number; cut: Uint8Array | undefined } | undefined
  private readonly writes = new PendingWrites()
  /** Update-bearing frames sent on the current socket. */
  private sentFrames = 0
  private readonly listeners = new Map<Y.Doc, ReplicaListeners>()
  private epochChanges = 0
  /** The epoch the current replica holds, from the gateway's greeting; named on reconnect so a stale replica is refused. */
  private heldEpoch: number | undefined
  /** The epoch the fresh replica is syncing against, during an epoch change. */
  private nextEpoch: number | undefined

  constructor(
    /** The document name (the gateway path). */
    readonly name: string,
    doc: Y.Doc,
    socketOptions: ReconnectingSocketOptions,
    private readonly events: DocumentSyncEvents,
  ) {
    this.current = doc
    this.listen(doc)
    const url = socketOptions.url
    const withEpoch = (base: string): string => {
      if (this.next !== undefined || this.heldEpoch === undefined) return base
      const target = new URL(base)
      target.searchParams.set('epoch', String(this.heldEpoch))
      return target.toString()
    }
    this.socket = new ReconnectingSocket({ ...socketOptions, url: () => withEpoch(typeof url === 'function' ? url() : url) }, {
      onOpen: () => {
        this.sentFrames = 0
        // During an epoch change the log keeps the closed socket's frame numbers: the epoch notice counts those.
        if (this.next === undefined) this.writes.unsend()
        this.socket.send(frame((encoder) => syncProtocol.writeSyncStep1(encoder, this.syncing)))
      },
      onMessage: (bytes) => this.onMessage(bytes),
      onClose: (code) => {
        this.isSynced = false
        if (code === CLOSE_EPOCH_CHANGED) this.beginEpochChange()
      },
    })
  }

  /** The local replica: the current epoch's once an epoch change finished. */
  get doc(): Y.Doc {
    return this.current
  }

  /** Whether the document has caught up with the server since the last connect. */
  get synced(): boolean {
    return this.isSynced
  }

  /** Reconnects after a drop so far. */
  get reconnects(): number {
    return this.socket.reconnects
  }

  /** Epoch changes followed so far. */
  get epochs(): number {
    return this.epochChanges
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
    for (const [doc, listener] of this.listeners) unlisten(doc, listener)
    this.listeners.clear()
    this.socket.stop()
  }

  /** The replica the socket syncs: the fresh one during an epoch change. */
  private get syncing(): Y.Doc {
    return this.next ?? this.current
  }

  private listen(doc: Y.Doc): void {
    // Recorded before Yjs collects what the transaction deleted (a delete's fingerprint), marked sent once it goes out.
    const after = (transaction: Y.Transaction): void => {
      if (transaction.origin !== this && doc === this.current && transaction.changed.size > 0) this.writes.record(doc, transaction, undefined)
    }
    const listener = (update: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction): void => {
      if (origin === this) return
      if (doc !== this.current) {
        // A write on a replica left behind (an app still holding it): carried into the current one
        // (from where, if another epoch change is under way, it is carried on with the rest).
        const late = new PendingWrites()
        late.record(doc, transaction, undefined)
        late.carry(doc, this.current, 0, CLIENT_EPOCH_CARRY_ORIGIN)
        return
      }
      // While a fresh replica syncs, the current one's updates are of an epoch the server left: kept for the carry, not sent.
      const sent = this.next === undefined && this.socket.send(frame((encoder) => syncProtocol.writeUpdate(encoder, update)))
      if (sent) this.writes.markSent(transaction, this.sentFrames++)
    }
    doc.on('afterTransaction', after)
    doc.on('update', listener)
    this.listeners.set(doc, { update: listener, after })
  }

  private beginEpochChange(): void {
    // A second change before the first finished just starts over with another fresh replica.
    this.next = new Y.Doc()
    this.nextEpoch = undefined
  }

  private finishEpochChange(): void {
    const next = this.next
    if (next === undefined) return
    const previous = this.current
    this.next = undefined
    for (const [doc, listener] of this.listeners) if (doc !== previous) unlisten(doc, listener)
    for (const doc of [...this.listeners.keys()]) if (doc !== previous) this.listeners.delete(doc)
    this.current = next
    this.heldEpoch = this.nextEpoch
    this.nextEpoch = undefined
    this.listen(next)
    const notice = this.notice
    this.notice = undefined
    // Sent as an update like any local write (and logged again, in case another change follows).
    // With the cut's state vector, exactly the writes the new base lacks; else those the old replica had not handled.
    const carried = this.writes.carry(previous, next, notice?.handled ?? 0, CLIENT_EPOCH_CARRY_ORIGIN, notice?.cut)
    this.epochChanges++
    this.events.onEpochChange?.({ name: this.name, doc: next, previous, epoch: this.heldEpoch ?? notice?.epoch ?? 0, carried })
  }

  private onMessage(bytes: Uint8Array): void {
    try {
      const decoder = decoding.createDecoder(bytes)
      const type = decoding.readVarUint(decoder)
      if (type === MESSAGE_SYNC) {
        const reply = encoding.createEncoder()
        encoding.writeVarUint(reply, MESSAGE_SYNC)
        const kind = syncProtocol.readSyncMessage(decoder, reply, this.syncing, this)
        // Only a step 1 from the server writes a reply (our step 2, holding whatever it lacks).
        // (During an epoch change the reply is the fresh replica's, holding none of the logged writes: they wait for the carry.)
        if (encoding.length(reply) > 1 && this.socket.send(encoding.toUint8Array(reply))) {
          const index = this.sentFrames++
          if (this.next === undefined) this.writes.sendAll(index)
        }
        if (kind === syncProtocol.messageYjsSyncStep2 && !this.isSynced) {
          this.isSynced = true
          this.socket.settled()
          this.finishEpochChange()
          for (const resolve of this.waiters.splice(0)) resolve()
        }
      } else if (type === MESSAGE_AUTH) {
        authProtocol.readAuthMessage(decoder, this.current, (_doc, reason) => this.events.onPermissionDenied(this.name, reason))
      } else if (type === MESSAGE_EPOCH_GREETING) {
        const epoch = decoding.readVarUint(decoder)
        if (this.next === undefined) this.heldEpoch = epoch
        else this.nextEpoch = epoch
      } else if (type === MESSAGE_EPOCH) {
        const epoch = decoding.readVarUint(decoder)
        const handled = decoding.readVarUint(decoder)
        // A gateway that knows the cut appends its state vector; checked here, so a bad one is reported and the notice falls back to the frame count.
        const cut = decoding.hasContent(decoder) ? decoding.readVarUint8Array(decoder) : undefined
        this.notice = { epoch, handled, cut: undefined }
        if (cut !== undefined) {
          cutClocks(cut)
          this.notice.cut = cut
        }
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

/** What a document sync listens to on one replica. */
interface ReplicaListeners {
  readonly update: (update: Uint8Array, origin: unknown, doc: Y.Doc, transaction: Y.Transaction) => void
  readonly after: (transaction: Y.Transaction) => void
}

const unlisten = (doc: Y.Doc, listener: ReplicaListeners): void => {
  doc.off('update', listener.update)
  doc.off('afterTransaction', listener.after)
}
