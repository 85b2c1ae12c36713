import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { AddressInfo } from 'node:net'
import pino, { type Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import { isWireName, RealmsyncError } from '../core/index.js'
import type { Peer } from '../replication/index.js'
import { AuthError, CLOSE_FORBIDDEN, tokenFromRequest, type Authenticate } from './auth.js'
import { canRead, canWrite, type Grants } from './permissions.js'
import { DocumentRoom } from './document-room.js'
import { closeReason } from './close-reason.js'
import {
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_POLICY_VIOLATION,
  CLOSE_TRY_AGAIN_LATER,
  ClientConnection,
  type ConnectionCloseKind,
  type ConnectionLimits,
} from './client-connection.js'
import { BATCH_FRAMES_PARAM, INTENT_CHANNEL_PATH, IntentConnection, intentSessionId, isSessionNonce, type IntentChannelOptions, type IntentSubmitter } from './intent-channel.js'
import { SessionHost, type DrainReport, type SessionAdmission, type SessionOptions } from './session-host.js'
import type { SessionRegistry } from './session-registry.js'
import { InterestFanout } from './interest-fanout.js'
import { EPOCH_AWARE_PARAM, EPOCH_HELD_PARAM } from './epoch-resync.js'
import { CLOSE_REDIRECT, encodeServerControl, type InterestArea } from './session-control.js'
import type { IntentEngine } from '../resolvers/index.js'
import type { SpectatorHub } from '../spectator/index.js'
import { SessionFlusher, type SessionFlushMode } from './session-outbox.js'
import { SpectatorRooms, spectateRequestOf, type SpectateRequest } from './spectator-route.js'

/** Settings of `startGateway`. */
export interface GatewayOptions {
  /** The peer whose documents clients sync. */
  readonly peer: Peer
  /** TCP port; 0 picks a free one (read it back from `Gateway.port`). */
  readonly port: number
  /** Interface to listen on. Default: every interface. */
  readonly host?: string
  /** Turns a connection request into grants or rejects with an `AuthError` (see `defaultAuthenticate`). */
  readonly authenticate: Authenticate
  /** Structured logger. Default: silent. */
  readonly logger?: Logger
  /** Bytes queued for one client before it is closed as a slow reader (1013). Default 4 MiB. */
  readonly maxBufferedBytes?: number
  /** Sustained messages per second per connection before it is closed (1008). Default 200. */
  readonly messagesPerSecond?: number
  /** Burst of messages per connection. Default 400. */
  readonly burstMessages?: number
  /** Largest frame a client may send; `ws` closes larger ones with 1009. Default 16 MiB. */
  readonly maxFrameBytes?: number
  /** Time a closed connection gets to finish the close handshake before it is cut. Default 5000 ms. */
  readonly closeGraceMs?: number
  /** Serves the intent channel on `/.realmsync/intents` (see intent-channel.ts). Default: no intent channel. */
  readonly intents?: IntentChannelOptions
  /**
   * Player sessions on the intent channel: a session registry document, affinity (a player is sent to
   * its home peer), handoff on `drain()`, resume tokens, interest-filtered ephemeral state. Needs
   * `intents`. Default: off (the intent channel dedupes by nonce alone).
   */
  readonly sessions?: SessionOptions
  /** How often interest-filtered ephemeral changes go out to subscribed clients. Default 50 ms. */
  readonly ephemeralIntervalMs?: number
  /**
   * Serves delayed, filtered views of documents to spectators on `/.realmsync/spectate/<name>`
   * (docs/spectator.md); the token needs read permission on the document. Default: no spectators.
   */
  readonly spectators?: SpectatorHub
  /** Cell side of the interest fan-out's spatial index, in world units (about the usual interest radius). Default 64. */
  readonly interestCellSize?: number
  /**
   * When intent answers go out to clients that read batch frames (`batch=1`, as the realmsync
   * client does): `'tick'` holds them for the fan-out tick, so an answer shares one frame (one
   * socket write) with the ephemeral changes of that tick, its own intent's effect included, at up
   * to `ephemeralIntervalMs` more ack latency (only with sessions, which run the tick);
   * `'immediate'` (the default) sends them at the end of the event-loop turn.
   */
  readonly answerFlush?: SessionFlushMode
}

/** Counters of a gateway. */
export interface GatewayStats {
  /** Connections open now. */
  connections: number
  /** Connections accepted since start. */
  accepted: number
  /** Upgrades refused (auth, permission, bad name, unavailable document). */
  refused: number
  /** Closed for malformed or unsupported frames. */
  closedMalformed: number
  /** Closed for going over the message rate. */
  closedRateLimited: number
  /** Closed as slow readers. */
  closedSlowReaders: number
  /** Closed when their token expired. */
  closedExpired: number
  /** Write attempts on read-only documents answered with permission-denied. */
  permissionDenied: number
  /** Client updates applied to writable documents. */
  updatesApplied: number
  /** Intent answers sent (acks and rejects, refusals included). */
  intentsAnswered: number
  /** Intents refused at the gateway because they named another player. */
  intentsRefused: number
  /** Session connections sent to another peer (affinity and handoff). */
  redirects: number
  /** Ephemeral batches sent to subscribed clients. */
  ephemeralBatches: number
  /** Batch frames sent to clients that read them (each may hold several answers and ephemeral batches). */
  batchFrames: number
  /** Document connections closed to resync after their document moved to a new epoch, or refused holding an older epoch. */
  closedEpoch: number
}

/** A running gateway. */
export interface Gateway {
  /** The port it listens on. */
  readonly port: number
  /** Counters so far. */
  stats(): GatewayStats
  /** The session registry, when sessions are on. */
  readonly registry: SessionRegistry | undefined
  /**
   * Hands every session homed here to another peer (`target`, or spread over the live ones) and
   * takes no new sessions; document connections stay until their clients move. Needs `sessions`.
   */
  drain(target?: string): Promise<DrainReport>
  /** Hands one player's session to peer `target` (a zone change), as a drain does for every session. Needs `sessions`. */
  handOff(player: string, target: string): Promise<DrainReport['handedOff'][number]>
  /** Closes every client connection (1001) and stops listening; the peer stays open. */
  close(): Promise<void>
}

/** A refusal decided before the upgrade, sent as the first and only frame after it. */
interface Refusal {
  readonly code: number
  readonly reason: string
}

const MIB = 1024 * 1024

/** Documents under this prefix are the cluster's own (the session registry); clients never reach them. */
export const INTERNAL_DOCUMENT_PREFIX = 'realmsync/'

/** The document a request path names: `/<name>` URL-decoded, or a refusal. */
const documentNameOf = (url: string | undefined): string | Refusal => {
  let name: string
  try {
    name = decodeURIComponent(new URL(url ?? '/', 'http://gateway.invalid').pathname.slice(1))
  } catch {
    return { code: CLOSE_POLICY_VIOLATION, reason: 'bad-document-name: the path does not decode' }
  }
  if (name.length === 0 || !isWireName(name)) return { code: CLOSE_POLICY_VIOLATION, reason: 'bad-document-name: the path must name a document' }
  return name
}

/**
 * Starts the client WebSocket endpoint of `peer`: `/<documentName>` speaks the y-websocket
 * protocol, so a stock `WebsocketProvider` (token in `params`) can sync every document it may
 * read. Clients write only documents wholly theirs; on any other document their writes are refused
 * with permission-denied and applied nowhere. Refused connections are accepted and then closed
 * with the refusal's code and reason, because a browser sees close frames but not HTTP statuses.
 */
export const startGateway = async (options: GatewayOptions): Promise<Gateway> => {
  const { peer, authenticate } = options
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'gateway' })
  const limits: ConnectionLimits = {
    maxBufferedBytes: options.maxBufferedBytes ?? 4 * MIB,
    messagesPerSecond: options.messagesPerSecond ?? 200,
    burstMessages: options.burstMessages ?? 400,
    closeGraceMs: options.closeGraceMs ?? 5000,
  }
  const counters: Omit<GatewayStats, 'connections' | 'ephemeralBatches' | 'batchFrames'> = {
    accepted: 0,
    refused: 0,
    closedMalformed: 0,
    closedRateLimited: 0,
    closedSlowReaders: 0,
    closedExpired: 0,
    permissionDenied: 0,
    updatesApplied: 0,
    intentsAnswered: 0,
    intentsRefused: 0,
    redirects: 0,
    closedEpoch: 0,
  }
  const closeCounter: Record<ConnectionCloseKind, keyof GatewayStats | undefined> = {
    malformed: 'closedMalformed',
    'rate-limited': 'closedRateLimited',
    'slow-reader': 'closedSlowReaders',
    expired: 'closedExpired',
    epoch: 'closedEpoch',
    normal: undefined,
  }
  const rooms = new Map<string, DocumentRoom>()
  const connections = new Set<ClientConnection | IntentConnection>()
  let nextConnection = 1
  /** Open intent sockets per engine session id, for connections without sessions (the engine is told when the last one closes). */
  const openSessionIds = new Map<string, number>()
  let closed = false
  let host: SessionHost | undefined
  const fanout = new InterestFanout(peer.ephemeral, options.interestCellSize !== undefined ? { cellSize: options.interestCellSize } : {})
  const spectatorRooms = options.spectators === undefined ? undefined : new SpectatorRooms(options.spectators, logger)
  // Without sessions there is no tick to wait for.
  const flusher = new SessionFlusher(options.sessions === undefined ? 'immediate' : (options.answerFlush ?? 'immediate'))

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes ?? 16 * MIB })
  const server = createServer((_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' })
    response.end('realmsync gateway: connect with a WebSocket to /<documentName>\n')
  })

  const roomOf = (name: string): DocumentRoom => {
    const doc = peer.getDoc(name)
    let room = rooms.get(name)
    // A room lives as long as the gateway: y-protocols' Awareness leaves a listener on its document,
    // so making one per visit would leak. Only a document reopened under the same name needs a new one.
    if (room && room.doc !== doc) {
      room.destroy()
      room = undefined
    }
    if (!room) {
      if (!doc) throw new Error(`document '${name}' is not open`)
      room = new DocumentRoom(name, doc)
      rooms.set(name, room)
    }
    return room
  }

  const authenticateRequest = async (request: IncomingMessage): Promise<Grants | Refusal> => {
    try {
      return await authenticate({ token: tokenFromRequest(request.url, request.headers), headers: request.headers })
    } catch (error) {
      if (error instanceof AuthError) return { code: error.closeCode, reason: error.closeReason }
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'authentication hook failed')
      return { code: CLOSE_INTERNAL_ERROR, reason: 'internal-error: authentication failed' }
    }
  }

  const decide = async (request: IncomingMessage, name: string): Promise<Grants | Refusal> => {
    const grants = await authenticateRequest(request)
    if ('code' in grants) return grants
    // Internal documents (the session registry) hold other players' state: never served to clients.
    if (name.startsWith(INTERNAL_DOCUMENT_PREFIX)) return { code: CLOSE_FORBIDDEN, reason: closeReason(`forbidden-document: '${name}' is internal to the cluster`) }
    if (!canRead(grants, name)) return { code: CLOSE_FORBIDDEN, reason: closeReason(`forbidden-document: player '${grants.player}' may not read '${name}'`) }
    try {
      // Like the y-websocket server, a readable document that does not exist yet is created empty;
      // one held in the peer's store is loaded rather than shadowed.
      await peer.openStoredDoc(name)
    } catch (error) {
      logger.error({ doc: name, err: error instanceof Error ? error.message : String(error) }, 'document could not be opened for a client')
      return { code: CLOSE_INTERNAL_ERROR, reason: 'internal-error: document unavailable' }
    }
    return grants
  }

  // Each switch moves the document's room to the new replica and sends its clients to resync.
  const stopEpochs = peer.onEpochSwitch((event) => {
    const room = rooms.get(event.doc)
    if (room === undefined) return
    logger.info({ doc: event.doc, epoch: event.epoch.n, clients: room.size }, 'document moved to a new epoch; clients resync')
    room.rebind(event.ydoc, event.epoch.n, event.cutHere, event.cut)
  })

  const admit = (ws: WebSocket, name: string, grants: Grants, query: URLSearchParams): void => {
    const writable = canWrite(grants, name)
    const aware = query.get(EPOCH_AWARE_PARAM) === '1'
    const heldText = query.get(EPOCH_HELD_PARAM)
    const held = aware && heldText !== null && /^\d{1,9}$/.test(heldText) ? Number(heldText) : undefined
    const epochs = peer.epochOf(name) === undefined ? undefined : { current: () => peer.epochOf(name)?.n ?? 0, aware, ...(held !== undefined ? { held } : {}) }
    const untrack = host?.trackDocument(grants.player, name)
    const connection = new ClientConnection(`${grants.player}#${nextConnection++}`, ws, roomOf(name), writable, limits, {
      onClosed: (closedConnection, kind) => {
        untrack?.()
        connections.delete(closedConnection)
        const counter = closeCounter[kind]
        if (counter) counters[counter as keyof typeof counters]++
      },
      onPermissionDenied: () => counters.permissionDenied++,
      onUpdateApplied: () => counters.updatesApplied++,
    }, logger, epochs)
    connections.add(connection)
    counters.accepted++
    logger.debug({ client: connection.label, doc: name, writable }, 'client connected')
    connection.start(grants.expiresAt)
  }

  const admitSpectator = (ws: WebSocket, spectate: SpectateRequest, grants: Grants): void => {
    const connection = spectatorRooms?.admit(ws, `${grants.player}#${nextConnection++}`, spectate, limits, {
      onClosed: (closedConnection, kind) => {
        connections.delete(closedConnection)
        const counter = closeCounter[kind]
        if (counter) counters[counter as keyof typeof counters]++
      },
      onPermissionDenied: () => counters.permissionDenied++,
      onUpdateApplied: () => counters.updatesApplied++,
    })
    if (connection === undefined) {
      counters.refused++
      return
    }
    connections.add(connection)
    counters.accepted++
    connection.start(grants.expiresAt)
  }

  const engineFor = (ws: WebSocket, grants: Grants, intents: IntentChannelOptions): IntentEngine | undefined => {
    try {
      return typeof intents.engine === 'function' ? intents.engine(grants) : intents.engine
    } catch (error) {
      // A failing engine picker is the host's bug; it must cost this connection, not the process.
      logger.error({ player: grants.player, err: error instanceof Error ? error.message : String(error) }, 'intent engine could not be picked')
      ws.close(CLOSE_INTERNAL_ERROR, 'internal-error: no intent engine')
      return undefined
    }
  }

  const admitIntents = (ws: WebSocket, nonce: string, grants: Grants, intents: IntentChannelOptions, admission: SessionAdmission | undefined, batched: boolean): void => {
    if (admission !== undefined && admission.kind !== 'admit') {
      if (admission.kind === 'redirect') {
        counters.redirects++
        ws.send(encodeServerControl({ type: 'redirect', url: admission.url, peer: admission.peer, handoff: admission.handoff }))
        ws.close(CLOSE_REDIRECT, closeReason(`redirect: the session lives on peer ${admission.peer}`))
      } else {
        counters.refused++
        ws.close(admission.code, closeReason(admission.reason))
      }
      return
    }
    const engine = engineFor(ws, grants, intents)
    if (engine === undefined) return
    const session = admission?.session
    const sessionId = intentSessionId(grants.player, nonce)
    session?.bind(engine)
    if (!session) openSessionIds.set(sessionId, (openSessionIds.get(sessionId) ?? 0) + 1)
    const submit: IntentSubmitter = session ? (intent) => session.submit(intent, engine) : (intent) => engine.submit(sessionId, intent)
    const connection = new IntentConnection(`${grants.player}#${nextConnection++}`, ws, grants, sessionId, submit, limits, {
      onClosed: (closedConnection, kind) => {
        connections.delete(closedConnection)
        fanout.remove(closedConnection)
        if (session && session.link === closedConnection) {
          session.link = undefined
          host?.disconnected(session)
        }
        if (!session) {
          // Without sessions the nonce alone names the session: the engine forgets it once no socket of it is left open for its idle time.
          const open = (openSessionIds.get(sessionId) ?? 1) - 1
          if (open > 0) openSessionIds.set(sessionId, open)
          else {
            openSessionIds.delete(sessionId)
            engine.release(sessionId)
          }
        }
        const counter = closeCounter[kind]
        if (counter) counters[counter as keyof typeof counters]++
      },
      onAnswered: () => counters.intentsAnswered++,
      onRefused: () => counters.intentsRefused++,
      ...(session
        ? {
            onInterest: (subscriber: IntentConnection, area: InterestArea) => fanout.subscribe(subscriber, area),
            // Never past what was answered: an ack beyond it would only make the client's own pending intents expire.
            onAcked: (_: IntentConnection, seq: number) => session.acknowledged(Math.min(seq, session.lastAckedSeq)),
          }
        : {}),
    }, logger, batched ? flusher : undefined)
    connections.add(connection)
    counters.accepted++
    if (session && admission?.kind === 'admit') {
      // The previous connection of this session (a reconnect that beat the old socket's close) yields.
      const previous = session.link
      session.link = connection
      if (previous instanceof IntentConnection) previous.closeWith(CLOSE_GOING_AWAY, 'session continued on a newer connection', 'normal')
      if (session.draining) {
        // Admitted just before a handoff took the session away: follow it rather than sit unanswered.
        // (While the handover is still under way the record names this peer, and the handover redirects this link itself.)
        const home = host?.homeElsewhere(grants.player)
        if (home) connection.redirect({ ...home, handoff: true })
        else if (host?.registry.get(grants.player)?.home !== peer.id) connection.closeWith(CLOSE_TRY_AGAIN_LATER, 'draining: the session is being handed over', 'normal')
      } else {
        connection.sendControl({ type: 'session', ...admission.hello })
      }
    }
    logger.debug({ client: connection.label, session: connection.session }, 'intent channel connected')
  }

  /** The intent channel's session nonce from the `session` query parameter, or a refusal. */
  const intentSessionOf = (url: string | undefined): string | Refusal => {
    if (!options.intents) return { code: CLOSE_POLICY_VIOLATION, reason: 'no-intent-channel: this gateway does not take intents' }
    const nonce = new URL(url ?? '/', 'http://gateway.invalid').searchParams.get('session') ?? ''
    return isSessionNonce(nonce) ? nonce : { code: CLOSE_POLICY_VIOLATION, reason: 'bad-session: the session parameter must be 1-64 of A-Z a-z 0-9 _ -' }
  }

  /** Completes a WebSocket upgrade: a refusal is sent as its close code and reason (and counted), anything else is accepted. */
  const upgradeOrRefuse = <T extends object>(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    outcome: T | Refusal,
    refusedLog: string,
    accept: (ws: WebSocket, accepted: T) => void,
  ): void => {
    if (closed) {
      socket.destroy()
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      if ('code' in outcome) {
        counters.refused++
        logger.info({ code: outcome.code, reason: outcome.reason }, refusedLog)
        ws.close(outcome.code, outcome.reason)
        return
      }
      accept(ws, outcome)
    })
  }

  const onUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    // The socket may fail while the token is checked; without a listener that error would crash.
    socket.on('error', () => socket.destroy())
    if (new URL(request.url ?? '/', 'http://gateway.invalid').pathname === INTENT_CHANNEL_PATH) {
      await onIntentUpgrade(request, socket, head)
      return
    }
    const spectate = spectatorRooms === undefined ? undefined : spectateRequestOf(request.url)
    const name = spectate === undefined ? documentNameOf(request.url) : 'code' in spectate ? spectate : spectate.doc
    const outcome = typeof name === 'string' ? await decide(request, name) : name
    upgradeOrRefuse(request, socket, head, outcome, 'client connection refused', (ws, accepted) => {
      if (closed) ws.close(CLOSE_GOING_AWAY, 'server shutting down')
      else if (spectate !== undefined && !('code' in spectate)) admitSpectator(ws, spectate, accepted)
      else admit(ws, name as string, accepted, new URL(request.url ?? '/', 'http://gateway.invalid').searchParams)
    })
  }

  const onIntentUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const nonce = intentSessionOf(request.url)
    const outcome = typeof nonce === 'string' ? await authenticateRequest(request) : nonce
    let admission: SessionAdmission | undefined
    const query = new URL(request.url ?? '/', 'http://gateway.invalid').searchParams
    if (host && typeof nonce === 'string' && !('code' in outcome)) {
      admission = await host.admit(outcome.player, nonce, query.get('resume') ?? undefined, query.get('handoff') === '1')
    }
    upgradeOrRefuse(request, socket, head, outcome, 'intent connection refused', (ws, accepted) => {
      if (closed || !options.intents) ws.close(CLOSE_GOING_AWAY, 'server shutting down')
      else admitIntents(ws, nonce as string, accepted, options.intents, admission, query.get(BATCH_FRAMES_PARAM) === '1')
    })
  }

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(request, socket, head).catch((error: unknown) => {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'upgrade failed')
      socket.destroy()
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (error) => logger.error({ err: error.message }, 'gateway server error'))
  const port = (server.address() as AddressInfo).port
  logger.info({ port, host: options.host }, 'gateway listening')
  let ephemeralTimer: ReturnType<typeof setInterval> | undefined
  if (options.sessions !== undefined) {
    const hostName = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host
    const url = options.sessions.url ?? `ws://${hostName.includes(':') ? `[${hostName}]` : hostName}:${port}`
    host = new SessionHost(peer, url, options.sessions, logger)
    ephemeralTimer = setInterval(() => {
      fanout.tick()
      // The tick's batches and the answers held for it leave together, one frame per client.
      flusher.flush()
    }, options.ephemeralIntervalMs ?? 50)
    ephemeralTimer.unref()
  }

  return {
    port,
    stats: () => ({ connections: connections.size, ...counters, ephemeralBatches: fanout.batches, batchFrames: flusher.frames }),
    registry: host?.registry,
    drain: async (target) => {
      if (host === undefined) throw new RealmsyncError('no-sessions', 'drain needs a gateway started with `sessions`')
      return host.drain(target)
    },
    handOff: async (player, target) => {
      if (host === undefined) throw new RealmsyncError('no-sessions', 'handOff needs a gateway started with `sessions`')
      return host.handOff(player, target)
    },
    close: async () => {
      if (closed) return
      closed = true
      stopEpochs()
      spectatorRooms?.close()
      clearInterval(ephemeralTimer)
      flusher.close()
      for (const connection of [...connections]) connection.closeWith(CLOSE_GOING_AWAY, 'server shutting down', 'normal')
      for (const room of rooms.values()) room.destroy()
      rooms.clear()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Sockets still finishing their close handshake would hold close() up to the grace period.
        server.closeAllConnections()
      })
      for (const client of wss.clients) client.terminate()
    },
  }
}
