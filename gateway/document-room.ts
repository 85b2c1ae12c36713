import type * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { wsAwarenessFrame, wsUpdateFrame } from './y-websocket-frames.js'

/** A client of a room, as the room sees it: something to send frames to. */
export interface RoomMember {
  /** Queues a frame for the client (or closes a client that cannot keep up). */
  send(frame: Uint8Array): void
}

/** An awareness change as y-protocols reports it. */
interface AwarenessChange {
  readonly added: number[]
  readonly updated: number[]
  readonly removed: number[]
}

/**
 * The connected clients of one document: fans document updates and awareness changes out to every
 * member except the one they came from (the transaction or awareness origin). One `Awareness` per
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

  constructor(
    /** The document name. */
    readonly name: string,
    /** The peer's replicated document. */
    readonly doc: Y.Doc,
  ) {
    this.awareness = new awarenessProtocol.Awareness(doc)
    this.awareness.setLocalState(null)
    this.onUpdate = (update, origin) => {
      if (this.members.size === 0) return
      const frame = wsUpdateFrame(update)
      for (const member of this.members) if (member !== origin) member.send(frame)
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
    this.doc.off('update', this.onUpdate)
    this.awareness.off('update', this.onAwareness)
    this.awareness.destroy()
    this.members.clear()
    this.controlled.clear()
  }
}
