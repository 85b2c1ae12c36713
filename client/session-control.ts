import { RealmsyncError, type EphemeralValue } from '../core/index.js'

/**
 * The client's side of the session control messages (JSON text frames with `v: 1` on the intent
 * channel; the gateway's session-control.ts documents the protocol). Read strictly: a message
 * that does not match is reported and dropped.
 */

/** The session is served by the peer this socket reached. */
export interface SessionGreeting {
  readonly type: 'session'
  readonly session: string
  readonly resumeToken: string
  readonly home: string
  readonly lastAckedSeq: number
}

/** The session lives on another peer: reconnect at `url`. */
export interface SessionMove {
  readonly type: 'redirect'
  readonly url: string
  readonly peer: string
  readonly handoff: boolean
}

/** One ephemeral register inside the interest area. */
export interface EphemeralUpdate {
  readonly entity: string
  readonly field: string
  readonly value: EphemeralValue
}

/** Ephemeral changes inside the interest area, and entities that left it. */
export interface EphemeralBatchMessage {
  readonly type: 'ephemeral'
  readonly entries: readonly EphemeralUpdate[]
  readonly gone: readonly string[]
}

/** A control message from the gateway. */
export type SessionControlMessage = SessionGreeting | SessionMove | EphemeralBatchMessage

/** A control message from the gateway did not decode. */
export class SessionControlError extends RealmsyncError {
  constructor(detail: string) {
    super('bad-session-control', `session control message refused: ${detail}`)
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value)
const isSeq = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

const isWsUrl = (value: unknown): value is string => {
  if (typeof value !== 'string') return false
  try {
    const protocol = new URL(value).protocol
    return protocol === 'ws:' || protocol === 'wss:'
  } catch {
    return false
  }
}

/** Decodes a control message from the gateway, or throws `SessionControlError`. */
export const decodeSessionControl = (text: string): SessionControlMessage => {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    throw new SessionControlError('not JSON')
  }
  if (!isObject(message)) throw new SessionControlError('not an object')
  if (message.v !== 1) throw new SessionControlError(`version ${String(message.v)} is not 1`)
  switch (message.type) {
    case 'session': {
      const { session, resumeToken, home, lastAckedSeq } = message
      if (typeof session !== 'string' || typeof resumeToken !== 'string' || typeof home !== 'string' || !isSeq(lastAckedSeq)) throw new SessionControlError('malformed session greeting')
      return { type: 'session', session, resumeToken, home, lastAckedSeq }
    }
    case 'redirect': {
      const { url, peer, handoff } = message
      if (!isWsUrl(url) || typeof peer !== 'string' || typeof handoff !== 'boolean') throw new SessionControlError('malformed redirect')
      return { type: 'redirect', url, peer, handoff }
    }
    case 'ephemeral': {
      const { entries, gone } = message
      if (!Array.isArray(entries) || !Array.isArray(gone) || !gone.every((entity) => typeof entity === 'string')) throw new SessionControlError('malformed ephemeral batch')
      const updates: EphemeralUpdate[] = []
      for (const entry of entries) {
        if (!isObject(entry) || typeof entry.entity !== 'string' || typeof entry.field !== 'string' || !Object.hasOwn(entry, 'value')) throw new SessionControlError('malformed ephemeral entry')
        updates.push({ entity: entry.entity, field: entry.field, value: entry.value as EphemeralValue })
      }
      return { type: 'ephemeral', entries: updates, gone: gone as string[] }
    }
    default:
      throw new SessionControlError(`unknown type ${JSON.stringify(message.type)}`)
  }
}

/** The text frame subscribing to entities whose position lies within `radius` of `(x, y)`. */
export const encodeInterest = (x: number, y: number, radius: number): string => JSON.stringify({ v: 1, type: 'interest', x, y, radius })

/** The text frame telling the gateway every answer up to `seq` arrived (it may forget them). */
export const encodeAcked = (seq: number): string => JSON.stringify({ v: 1, type: 'acked', seq })
