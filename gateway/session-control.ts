import { RealmsyncError, type EphemeralValue } from '../core/index.js'

/**
 * Session control messages on the intent channel. Intents and their answers stay binary (core's
 * versioned codec); session control travels as JSON text frames with a version field `v: 1`, so the
 * browser client can read them without a codec shared with the gateway (client/ may import only
 * core/). Each side decodes strictly and drops what it cannot read.
 *
 * Server to client:
 *   { v: 1, type: 'session', session, resumeToken, home, lastAckedSeq }   the session is served here
 *   { v: 1, type: 'redirect', url, peer, handoff }                        reconnect at `url` (close 4300 follows)
 *   { v: 1, type: 'ephemeral', entries: [{ entity, field, value }], gone: [entity] }   interest-filtered state
 * Client to server:
 *   { v: 1, type: 'interest', x, y, radius }                              ephemeral state of entities near (x, y)
 *   { v: 1, type: 'acked', seq }                                          every answer up to `seq` arrived: the engine may forget them
 */

/** Close code of a redirect: the session lives on another peer (application range, not a 44xx refusal, so clients retry). */
export const CLOSE_REDIRECT = 4300

/** Version of the control messages. */
export const SESSION_CONTROL_VERSION = 1

/** Largest control message a client may send, in bytes. */
export const MAX_CLIENT_CONTROL_BYTES = 1024

/** Told to a client once its session is served by this peer. */
export interface SessionHello {
  readonly type: 'session'
  readonly session: string
  /** Present it (with the nonce) to continue this session after a drop or a handoff. */
  readonly resumeToken: string
  /** The id of the peer serving the session. */
  readonly home: string
  readonly lastAckedSeq: number
}

/** Tells a client its session lives elsewhere. */
export interface SessionRedirect {
  readonly type: 'redirect'
  /** The home peer's gateway base URL. */
  readonly url: string
  readonly peer: string
  /** True when the session was just handed over: the new home waits for it before refusing. */
  readonly handoff: boolean
}

/** One ephemeral register as a client sees it. */
export interface EphemeralView {
  readonly entity: string
  readonly field: string
  readonly value: EphemeralValue
}

/** Ephemeral changes inside a client's interest area, and entities that left it. */
export interface EphemeralBatch {
  readonly type: 'ephemeral'
  readonly entries: readonly EphemeralView[]
  readonly gone: readonly string[]
}

/** A control message from the server. */
export type ServerControl = SessionHello | SessionRedirect | EphemeralBatch

/** A client's interest area: entities whose `position` lies within `radius` of `(x, y)`. */
export interface InterestArea {
  readonly x: number
  readonly y: number
  readonly radius: number
}

/** The client has every answer up to `seq` and will never resend those intents. */
export interface ClientAck {
  readonly type: 'acked'
  readonly seq: number
}

/** A control message from a client. */
export type ClientControl = ({ readonly type: 'interest' } & InterestArea) | ClientAck

/** The text frame of a server control message. */
export const encodeServerControl = (message: ServerControl): string =>
  message.type === 'ephemeral'
    ? // Entries may be the store's own, stamps included: only what a client sees goes out.
      JSON.stringify({ v: SESSION_CONTROL_VERSION, type: message.type, entries: message.entries.map(({ entity, field, value }) => ({ entity, field, value })), gone: message.gone })
    : JSON.stringify({ v: SESSION_CONTROL_VERSION, ...message })

/** A client control message that does not decode. */
export class ClientControlError extends RealmsyncError {
  constructor(detail: string) {
    super('bad-control-message', detail)
  }
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** Decodes a client's text frame that must be an interest area, or throws `ClientControlError`. */
export const decodeClientControl = (text: string): InterestArea => {
  const message = decodeClientMessage(text)
  if (message.type !== 'interest') throw new ClientControlError(`expected an interest message, not ${message.type}`)
  return { x: message.x, y: message.y, radius: message.radius }
}

/** Decodes a client's text frame: an interest area or an acked sequence, or throws `ClientControlError`. */
export const decodeClientMessage = (text: string): ClientControl => {
  if (text.length > MAX_CLIENT_CONTROL_BYTES) throw new ClientControlError(`control message over ${MAX_CLIENT_CONTROL_BYTES} bytes`)
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    throw new ClientControlError('control message is not JSON')
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new ClientControlError('control message is not an object')
  const { v, type, x, y, radius, seq } = message as Record<string, unknown>
  if (v !== SESSION_CONTROL_VERSION) throw new ClientControlError(`control message version ${String(v)} is not ${SESSION_CONTROL_VERSION}`)
  if (type === 'acked') {
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new ClientControlError('acked needs a non-negative integer seq')
    return { type, seq }
  }
  if (type !== 'interest') throw new ClientControlError(`unknown control message type ${JSON.stringify(type)}`)
  if (!finite(x) || !finite(y) || !finite(radius) || radius < 0) throw new ClientControlError('interest needs finite x, y and a radius >= 0')
  return { type, x, y, radius }
}
