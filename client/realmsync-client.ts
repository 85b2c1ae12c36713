import * as Y from 'yjs'
import { RealmsyncError, type EphemeralValue, type IntentResult, type WorldValue } from '../core/index.js'
import type { BackoffOptions } from './backoff.js'
import { DocumentSync, type DocumentEpochChange } from './document-sync.js'
import { IntentSender, type IntentOptions } from './intent-sender.js'
import type { WebSocketConstructor } from './websocket-like.js'
import { encodeInterest, type EphemeralBatchMessage, type SessionControlMessage } from './session-control.js'

/** The gateway path of the intent channel (gateway/intent-channel.ts). */
export const INTENT_CHANNEL_PATH = '/.realmsync/intents'

/** Settings of `createRealmsyncClient`. */
export interface RealmsyncClientOptions extends BackoffOptions {
  /** The gateway's base URL, e.g. `ws://localhost:8080`. */
  readonly url: string
  /** The JWT; its subject is the acting player. */
  readonly token: string
  /** A WebSocket constructor; default the global `WebSocket` (browsers). In Node 20 pass `ws`'s. */
  readonly WebSocket?: WebSocketConstructor
  /** A number in [0, 1), for backoff jitter and the session nonce. Default `Math.random`. */
  readonly random?: () => number
  /** Documents to keep in sync, each in its own `Y.Doc`. */
  readonly documents?: readonly string[]
  /** Session nonce; pass the one from an earlier client to continue its session. Default: a fresh one. */
  readonly session?: string
  /** The resume token an earlier client of this session was given (with `session`), where the gateway runs sessions. */
  readonly resumeToken?: string
  /** Told when a peer starts serving the session (first connect, resume, handoff). */
  readonly onSession?: (session: { readonly home: string; readonly resumeToken: string; readonly lastAckedSeq: number }) => void
  /** Told about each ephemeral batch of the interest area, after `ephemeral` took it in. */
  readonly onEphemeral?: (batch: EphemeralBatchMessage) => void
  /** Told about frames from the server that do not decode and writes the server refused. */
  readonly onError?: (error: Error) => void
  /**
   * Told when a synced document moved to a new epoch (the server compacted it into a fresh replica):
   * `client.doc(name)` now returns `change.doc`, already synced and holding this client's carried
   * writes; rebind views and observers to it.
   */
  readonly onDocumentEpoch?: (change: DocumentEpochChange) => void
}

/** Counters of a client. */
export interface RealmsyncClientStats {
  intentsSent: number
  intentsResent: number
  acks: number
  rejects: number
  /** Reconnects of the intent channel. */
  reconnects: number
  /** Redirects followed (affinity and handoff). */
  redirects: number
}

/** A circle in world coordinates: entities whose ephemeral `position` lies inside it are visible. */
export interface InterestCircle {
  readonly x: number
  readonly y: number
  readonly radius: number
}

/** A connected player. */
export interface RealmsyncClient {
  /** The acting player (the token's subject). */
  readonly player: string
  /** The session nonce; with the player it names the session on the server. */
  readonly session: string
  /** The peer serving the session, once greeted (sessions on the gateway). */
  readonly home: string | undefined
  /** The session's resume token, once greeted: keep it with `session` to resume after a reload. */
  readonly resumeToken: string | undefined
  /** The gateway base URL in use now (it changes when the session moves). */
  readonly url: string
  /** Subscribes to the ephemeral state of entities near a point (resent after every reconnect); move it as the player moves. */
  subscribe(area: InterestCircle): void
  /** Ephemeral registers of the entities in the interest area, by entity then field. */
  readonly ephemeral: ReadonlyMap<string, Readonly<Record<string, EphemeralValue>>>
  /** The local replica of a synced document. */
  doc(name: string): Y.Doc
  /** Resolves once `name` has caught up with the server. */
  whenSynced(name: string): Promise<void>
  /** Sends an intent; resolves with its ack or its reject (with the reason), exactly once. */
  send(action: string, payload: WorldValue, options?: IntentOptions): Promise<IntentResult>
  /** Intents sent and not yet answered. */
  readonly pendingIntents: number
  /** Counters so far. */
  stats(): RealmsyncClientStats
  /** Drops every connection so they reconnect (as after a network change). */
  reconnect(): void
  /** Disconnects for good; pending intents fail with `IntentChannelClosedError`. */
  close(): void
}

/** A client was configured wrongly (no WebSocket, a token without a subject, an unknown document). */
export class RealmsyncClientError extends RealmsyncError {
  constructor(detail: string) {
    super('client-config', detail)
  }
}

const base64UrlDecode = (text: string): string => {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=')
  const binary = atob(base64)
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)))
}

/** The subject of a JWT, read without verifying it: the server verifies; the client only needs the name. */
export const tokenSubject = (token: string): string => {
  const part = token.split('.')[1]
  let claims: unknown
  try {
    claims = part === undefined ? undefined : JSON.parse(base64UrlDecode(part))
  } catch {
    claims = undefined
  }
  const sub = claims !== null && typeof claims === 'object' ? (claims as { sub?: unknown }).sub : undefined
  if (typeof sub !== 'string' || sub.length === 0) throw new RealmsyncClientError('the token has no subject (sub)')
  return sub
}

const NONCE_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

const makeNonce = (random: () => number): string => {
  let nonce = ''
  for (let i = 0; i < 20; i++) nonce += NONCE_ALPHABET[Math.floor(random() * NONCE_ALPHABET.length) % NONCE_ALPHABET.length]
  return nonce
}

const withQuery = (url: string, path: string, query: Record<string, string>): string => {
  const target = new URL(url)
  target.pathname = `${target.pathname.replace(/\/+$/, '')}${path}`
  for (const [key, value] of Object.entries(query)) target.searchParams.set(key, value)
  return target.toString()
}

/**
 * Connects a player to a realmsync gateway: one y-websocket connection per document, plus the
 * intent channel. Every connection reconnects on its own with exponential backoff and jitter; after
 * a reconnect documents exchange state vectors and unanswered intents are resent with their
 * sequence numbers. Browser-safe: imports only core/, yjs, y-protocols and lib0.
 */
export const createRealmsyncClient = (options: RealmsyncClientOptions): RealmsyncClient => {
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (WebSocketImpl === undefined) throw new RealmsyncClientError('no WebSocket: pass one (in Node 20, `WebSocket` from ws)')
  const random = options.random ?? Math.random
  const player = tokenSubject(options.token)
  const session = options.session ?? makeNonce(random)
  const onError = options.onError ?? (() => {})
  const backoff: BackoffOptions = {
    ...(options.baseMs !== undefined ? { baseMs: options.baseMs } : {}),
    ...(options.capMs !== undefined ? { capMs: options.capMs } : {}),
  }
  // The base URL moves with the session (redirects); every socket reads it when it connects.
  let baseUrl = options.url
  let docsUrl = options.url
  let resumeToken = options.resumeToken
  let home: string | undefined
  let handoffPending = false
  let redirects = 0
  let interest: InterestCircle | undefined
  const ephemeral = new Map<string, Record<string, EphemeralValue>>()
  const socketOptions = (path: string, query: () => Record<string, string>) => ({ url: () => withQuery(baseUrl, path, { ...query(), token: options.token }), WebSocket: WebSocketImpl, random, ...backoff })

  const documents = new Map<string, DocumentSync>()
  for (const name of options.documents ?? []) {
    if (documents.has(name)) continue
    // `epochs=1`: this client understands the gateway's epoch notice (gateway/epoch-resync.ts).
    documents.set(name, new DocumentSync(name, new Y.Doc(), socketOptions(`/${encodeURIComponent(name)}`, () => ({ epochs: '1' })), {
      onPermissionDenied: (doc, reason) => onError(new RealmsyncClientError(`write to '${doc}' refused: ${reason}`)),
      onError: (doc, error) => onError(new RealmsyncClientError(`bad frame on '${doc}': ${error.message}`)),
      ...(options.onDocumentEpoch ? { onEpochChange: options.onDocumentEpoch } : {}),
    }))
  }
  const applyEphemeral = (batch: EphemeralBatchMessage): void => {
    for (const entity of batch.gone) ephemeral.delete(entity)
    for (const entry of batch.entries) {
      let fields = ephemeral.get(entry.entity)
      if (!fields) ephemeral.set(entry.entity, (fields = Object.create(null) as Record<string, EphemeralValue>))
      fields[entry.field] = entry.value
    }
    options.onEphemeral?.(batch)
  }
  const onControl = (message: SessionControlMessage): void => {
    if (message.type === 'redirect') {
      // The gateway closes with 4300 next; the socket then reconnects at once to the new base URL.
      redirects++
      baseUrl = message.url
      handoffPending = message.handoff
      return
    }
    if (message.type === 'ephemeral') {
      applyEphemeral(message)
      return
    }
    home = message.home
    resumeToken = message.resumeToken
    handoffPending = false
    // Documents follow the session only once its new home greets it: by then a handed-off session's
    // home holds what the old one had, so the state-vector exchange on the move leaves no gap.
    if (docsUrl !== baseUrl) {
      docsUrl = baseUrl
      for (const sync of documents.values()) sync.moveNow()
    }
    options.onSession?.({ home: message.home, resumeToken: message.resumeToken, lastAckedSeq: message.lastAckedSeq })
  }
  const intentQuery = (): Record<string, string> => ({
    session,
    // Answers and ephemeral batches as batch frames (core/session-batch.ts); a gateway that predates them ignores this.
    batch: '1',
    ...(resumeToken !== undefined ? { resume: resumeToken } : {}),
    ...(handoffPending ? { handoff: '1' } : {}),
  })
  const intents = new IntentSender(player, socketOptions(INTENT_CHANNEL_PATH, intentQuery), onError, {
    onControl,
    onOpen: () => {
      if (interest !== undefined) intents.sendText(encodeInterest(interest.x, interest.y, interest.radius))
    },
  })

  const syncOf = (name: string): DocumentSync => {
    const sync = documents.get(name)
    if (sync === undefined) throw new RealmsyncClientError(`document '${name}' is not synced by this client`)
    return sync
  }

  return {
    player,
    session,
    get home() {
      return home
    },
    get resumeToken() {
      return resumeToken
    },
    get url() {
      return baseUrl
    },
    ephemeral,
    subscribe: (area) => {
      if (![area.x, area.y, area.radius].every(Number.isFinite) || area.radius < 0) throw new RealmsyncClientError('an interest area needs finite x, y and a radius >= 0')
      interest = { x: area.x, y: area.y, radius: area.radius }
      intents.sendText(encodeInterest(area.x, area.y, area.radius))
    },
    doc: (name) => syncOf(name).doc,
    whenSynced: (name) => syncOf(name).whenSynced(),
    send: (action, payload, intentOptions) => intents.send(action, payload, intentOptions),
    get pendingIntents() {
      return intents.pendingCount
    },
    stats: () => ({ intentsSent: intents.stats.sent, intentsResent: intents.stats.resent, acks: intents.stats.acks, rejects: intents.stats.rejects, reconnects: intents.reconnects, redirects }),
    reconnect: () => {
      intents.reconnect()
      for (const sync of documents.values()) sync.reconnect()
    },
    close: () => {
      intents.close()
      for (const sync of documents.values()) sync.destroy()
    },
  }
}
