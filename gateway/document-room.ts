import type * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { mergeUpdatesInGroups } from '../core/index.js'
import { wsAwarenessFrame, wsUpdateFrame } from './y-websocket-frames.js'

/** A client of a room, as the room sees it: something to send frames to. */
export interface RoomMember {
  /** Queues a frame for the client (or closes a client that cannot keep up). */
  send(frame: Uint8Array): void
  /**
   * The document moved to epoch `epoch` (a fresh replica): the client must resync against it.
   * `cutHere`: this peer cut it, so everything its old replica held is in the new base.
   */
  epochChanged?(epoch: number, cutHere: boolean, cut?: Uint8Array): void
}

/** An awareness change as y-protocols reports it. */
interface AwarenessChange {
  readonly added: number[]
  readonly updated: number[]
  readonly removed: number[]
}

/** Runs a flush after the current event-loop turn; injectable so tests can flush by hand. */
export type FlushScheduler = (flush: () => void) => void

/** Updates held for one flush at most this many bytes; past it they go out at once. */
const MAX_BATCH_BYTES = 256 * 1024

interface PendingUpdate {
  readonly update: Uint8Array
  readonly origin: unknown
}

/**
 * The connected clients of one document: fans document updates and awareness changes out to every
 * member except the one they came from (the transaction or awareness origin). Updates that arrive
 * in one event-loop turn are merged (`Y.mergeUpdates`) and go out as one frame per member: with
 * many readers the cost of a send, not of the update, is what limits a relay. One `Awareness` per
 * document, as y-websocket keeps; the server itself has no awareness state.
 */
export class DocumentRoom {
  /** The awareness of this document's clients. */
  readonly awareness: awarenessProtocol.Awareness
  private readonly members = new Set<RoomMember>()
  /** Awareness client ids each member introduced, so its states go when it does. */
  private readonly controlled = new Map<RoomMember, Set<number>>()
  private readonly onUpdate: (update: Uint8Array, origin: unknown) => void
  private readonly onAwareness: (change: AwarenessChange, origin: unknown) => void
  private pending: PendingUpdate[] = []
  private pendingBytes = 0
  private flushScheduled = false
  private current: Y.Doc

  constructor(
    /** The document name. */
    readonly name: string,
    doc: Y.Doc,
    private readonly scheduleFlush: FlushScheduler = (flush) => setImmediate(flush),
  ) {
    this.current = doc
    this.awareness = new awarenessProtocol.Awareness(doc)
    this.awareness.setLocalState(null)
    this.onUpdate = (update, origin) => {
      if (this.members.size === 0) return
      this.pending.push({ update, origin })
      this.pendingBytes += update.length
      if (this.pendingBytes >= MAX_BATCH_BYTES) this.flush()
      else if (!this.flushScheduled) {
        this.flushScheduled = true
        this.scheduleFlush(() => this.flush())
      }
    }
    this.onAwareness = ({ added, updated, removed }, origin) => {
      const owned = this.controlled.get(origin as RoomMember)
      if (owned) {
        for (const id of added) owned.add(id)
        for (const id of removed) owned.delete(id)
      }
      const changed = [...added, ...updated, ...removed]
      if (changed.length === 0) return
      const frame = wsAwarenessFrame(this.awareness, changed)
      for (const member of this.members) if (member !== origin) member.send(frame)
    }
    doc.on('update', this.onUpdate)
    this.awareness.on('update', this.onAwareness)
  }

  /** The peer's replica clients sync against: the current epoch's, with epochs on. */
  get doc(): Y.Doc {
    return this.current
  }

  /**
   * Moves the room to a document's new epoch replica (`Peer.onEpochSwitch`): updates held from the
   * old replica are dropped (they belong to an epoch the clients are about to leave), the room
   * listens to the new one, and every member is told so it resyncs. Awareness stays: it is per
   * client, not per replica.
   */
  rebind(doc: Y.Doc, epoch: number, cutHere: boolean, cut?: Uint8Array): void {
    if (doc === this.current) return
    this.current.off('update', this.onUpdate)
    this.pending = []
    this.pendingBytes = 0
    this.current = doc
    doc.on('update', this.onUpdate)
    for (const member of [...this.members]) member.epochChanged?.(epoch, cutHere, cut)
  }

  /** Sends the updates held since the last flush: one merged frame per member, none of its own. */
  flush(): void {
    const batch = this.pending
    this.pending = []
    this.pendingBytes = 0
    this.flushScheduled = false
    if (batch.length === 0 || this.members.size === 0) return
    const origins = new Set(batch.map((entry) => entry.origin))
    const merge = (entries: readonly PendingUpdate[]): Uint8Array =>
      entries.length === 1 ? (entries[0] as PendingUpdate).update : mergeUpdatesInGroups(entries.map((entry) => entry.update))
    const everything = wsUpdateFrame(merge(batch))
    for (const member of this.members) {
      if (!origins.has(member)) {
        member.send(everything)
        continue
      }
      // A writer does not hear its own updates back, only the others' of the same turn.
      const others = batch.filter((entry) => entry.origin !== member)
      if (others.length > 0) member.send(wsUpdateFrame(merge(others)))
    }
  }

  /** Number of connected clients. */
  get size(): number {
    return this.members.size
  }

  /** Adds a client; it hears every later update and awareness change not its own. */
  join(member: RoomMember): void {
    this.members.add(member)
    this.controlled.set(member, new Set())
  }

  /** Whether `member` may set the awareness state of `clientId`: one no other client controls. */
  mayControl(member: RoomMember, clientId: number): boolean {
    for (const [other, ids] of this.controlled) if (other !== member && ids.has(clientId)) return false
    return true
  }

  /** Removes a client and its awareness states (which the others hear as removals). */
  leave(member: RoomMember): void {
    if (!this.members.delete(member)) return
    const owned = this.controlled.get(member)
    this.controlled.delete(member)
    if (owned && owned.size > 0) awarenessProtocol.removeAwarenessStates(this.awareness, [...owned], 'disconnect')
  }

  /** Stops listening to the document and drops the awareness (its expiry timer included). */
  destroy(): void {
    this.pending = []
    this.pendingBytes = 0
    this.current.off('update', this.onUpdate)
    this.awareness.off('update', this.onAwareness)
    this.awareness.destroy()
    this.members.clear()
    this.controlled.clear()
  }
}
