import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import { isWireName } from '../core/index.js'
import { SpectatorRequestError, type SharedSpectatorView, type SpectatorHub } from '../spectator/index.js'
import { closeReason } from './close-reason.js'
import { ClientConnection, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, type ConnectionEvents, type ConnectionLimits } from './client-connection.js'
import { DocumentRoom } from './document-room.js'
import { EPOCH_AWARE_PARAM, EPOCH_HELD_PARAM } from './epoch-resync.js'

/**
 * Spectators on the gateway's port (docs/spectator.md): `/.realmsync/spectate/<documentName>`,
 * with `delay=<ms>` and `filter=<name>` as query parameters next to the token, speaks the
 * y-websocket protocol read-only against the view's projection. A stock `WebsocketProvider` connects
 * with `ws://host:port/.realmsync/spectate` as its server URL and the document name as its room.
 */
export const SPECTATE_PATH_PREFIX = '/.realmsync/spectate/'

/** The query parameter naming a spectator's delay in ms. */
export const SPECTATE_DELAY_PARAM = 'delay'

/** The query parameter naming a spectator's filter. */
export const SPECTATE_FILTER_PARAM = 'filter'

/** What a spectator connection asks for. */
export interface SpectateRequest {
  /** The source document. */
  readonly doc: string
  /** The delay asked for, if any. */
  readonly delayMs?: number
  /** The filter asked for, if any. */
  readonly filter?: string
  /** The rest of the query (epoch-aware clients name theirs). */
  readonly query: URLSearchParams
}

/** A spectator request refused before its upgrade. */
export interface SpectateRefusal {
  readonly code: number
  readonly reason: string
}

/** The spectator request a URL makes; undefined when it is not a spectator path. */
export const spectateRequestOf = (url: string | undefined): SpectateRequest | SpectateRefusal | undefined => {
  const parsed = new URL(url ?? '/', 'http://gateway.invalid')
  if (!parsed.pathname.startsWith(SPECTATE_PATH_PREFIX)) return undefined
  let doc: string
  try {
    doc = decodeURIComponent(parsed.pathname.slice(SPECTATE_PATH_PREFIX.length))
  } catch {
    return { code: CLOSE_POLICY_VIOLATION, reason: 'bad-document-name: the path does not decode' }
  }
  if (doc.length === 0 || !isWireName(doc)) return { code: CLOSE_POLICY_VIOLATION, reason: 'bad-document-name: the path must name a document' }
  const delayText = parsed.searchParams.get(SPECTATE_DELAY_PARAM)
  if (delayText !== null && !/^\d{1,9}$/.test(delayText)) return { code: CLOSE_POLICY_VIOLATION, reason: 'spectator-delay: delay must be a whole number of ms' }
  const filter = parsed.searchParams.get(SPECTATE_FILTER_PARAM)
  return {
    doc,
    query: parsed.searchParams,
    ...(delayText !== null ? { delayMs: Number(delayText) } : {}),
    ...(filter !== null ? { filter } : {}),
  }
}

/**
 * The gateway's side of spectator views: one `DocumentRoom` per shared view (over its projection),
 * spectators as read-only `ClientConnection`s in it, so writes are refused on the gateway's own
 * read-only path. A projection rebuild moves the room to the new projection, which closes its
 * spectators with `CLOSE_EPOCH_CHANGED` (4100) exactly as a document epoch does: a stock provider
 * must come back with a fresh `Y.Doc`, and one that comes back with the old one is refused again.
 * Source epoch switches close nobody: the view absorbs them.
 */
export class SpectatorRooms {
  private readonly rooms = new Map<string, DocumentRoom>()
  /** Spectators per view, so a view that closes under them (the hub closed) sends them away rather than freezing them. */
  private readonly members = new Map<string, Set<ClientConnection>>()
  private readonly stops: Array<() => void>

  constructor(
    private readonly hub: SpectatorHub,
    private readonly logger: Logger,
  ) {
    this.stops = [
      hub.onRebuild((shared) => {
        const room = this.rooms.get(shared.key)
        if (room === undefined) return
        this.logger.info({ doc: shared.doc, generation: shared.view.generation, spectators: room.size }, 'spectator projection rebuilt; spectators resync')
        room.rebind(shared.view.projection, shared.view.generation, true)
      }),
      hub.onViewClosed((shared) => {
        for (const connection of [...(this.members.get(shared.key) ?? [])]) connection.closeWith(CLOSE_GOING_AWAY, 'spectator view closed', 'normal')
        this.members.delete(shared.key)
        this.rooms.get(shared.key)?.destroy()
        this.rooms.delete(shared.key)
      }),
    ]
  }

  /**
   * Admits a spectator whose token may read `request.doc`: a hold on the shared view, and a
   * read-only connection on its room. Returns undefined after closing the socket (1008) when the hub
   * refuses the request (delay out of range, unknown filter), or 1011 when the view cannot be opened.
   */
  admit(ws: WebSocket, label: string, request: SpectateRequest, limits: ConnectionLimits, events: ConnectionEvents): ClientConnection | undefined {
    let lease
    try {
      lease = this.hub.join(request.doc, request.delayMs, request.filter)
    } catch (error) {
      if (error instanceof SpectatorRequestError) {
        this.logger.info({ doc: request.doc, reason: error.message }, 'spectator refused')
        ws.close(CLOSE_POLICY_VIOLATION, closeReason(`${error.code}: ${error.message}`))
      } else {
        // The hub's failure, not the spectator's: it costs this connection, never the process.
        this.logger.error({ doc: request.doc, err: error instanceof Error ? error.message : String(error) }, 'spectator view could not be opened')
        ws.close(CLOSE_INTERNAL_ERROR, 'internal-error: spectator view unavailable')
      }
      return undefined
    }
    const { shared } = lease
    const aware = request.query.get(EPOCH_AWARE_PARAM) === '1'
    const heldText = request.query.get(EPOCH_HELD_PARAM)
    const held = aware && heldText !== null && /^\d{1,9}$/.test(heldText) ? Number(heldText) : undefined
    const members = this.members.get(shared.key) ?? new Set<ClientConnection>()
    this.members.set(shared.key, members)
    const connection = new ClientConnection(label, ws, this.roomOf(shared), false, limits, {
      ...events,
      onClosed: (closed, kind) => {
        members.delete(closed)
        lease.release()
        events.onClosed(closed, kind)
      },
    }, this.logger, { current: () => shared.view.generation, aware, ...(held !== undefined ? { held } : {}) })
    members.add(connection)
    this.logger.debug({ client: label, doc: request.doc, delay: shared.view.delayMs, filter: shared.filterName }, 'spectator connected')
    return connection
  }

  /** Stops following the hub and drops every room (the hub itself belongs to whoever made it). */
  close(): void {
    for (const stop of this.stops) stop()
    for (const room of this.rooms.values()) room.destroy()
    this.rooms.clear()
  }

  private roomOf(shared: SharedSpectatorView): DocumentRoom {
    let room = this.rooms.get(shared.key)
    if (room === undefined) {
      room = new DocumentRoom(shared.doc, shared.view.projection)
      this.rooms.set(shared.key, room)
    }
    return room
  }
}
