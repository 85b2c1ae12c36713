import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as authProtocol from 'y-protocols/auth'
import * as awarenessProtocol from 'y-protocols/awareness'
import {
  FrameDecodeError, MalformedFrameError, readStrictBytes,
  readStrictString,
  readStrictUint,
  remaining,
} from '../core/index.js'

/**
 * The y-websocket wire protocol as the gateway speaks it: every binary frame is one message, an outer
 * lib0 varUint type followed by its body.
 * - 0 sync: a y-protocols sync message (0 step 1 with a state vector, 1 step 2 and 2 update, each
 *   with a Yjs update);
 * - 1 awareness: a y-protocols awareness update;
 * - 2 auth: server to client only, `permission-denied` with a reason;
 * - 3 query awareness: the client asks for every awareness state.
 * Client frames are decoded completely, with bounds checked on every read, before anything acts on
 * them: lib0's own readers trust their input.
 */

/** Outer message type: y-protocols sync. */
export const WS_MESSAGE_SYNC = 0
/** Outer message type: y-protocols awareness. */
export const WS_MESSAGE_AWARENESS = 1
/** Outer message type: y-protocols auth (permission denied). */
export const WS_MESSAGE_AUTH = 2
/** Outer message type: a request for every awareness state. */
export const WS_MESSAGE_QUERY_AWARENESS = 3

/** One awareness entry as a client sent it. */
export interface WsAwarenessEntry {
  readonly clientId: number
  readonly clock: number
  /** The parsed JSON state; `null` removes the client's state. */
  readonly state: unknown
}

/** A decoded client frame. */
export type WsClientFrame =
  | { readonly kind: 'sync-step-1'; readonly stateVector: Uint8Array }
  | { readonly kind: 'sync-step-2' | 'update'; readonly update: Uint8Array }
  | { readonly kind: 'awareness'; readonly update: Uint8Array; readonly entries: readonly WsAwarenessEntry[] }
  | { readonly kind: 'query-awareness' }

/** A well-formed frame of a message type the gateway does not accept from clients. */
export class UnsupportedMessageError extends FrameDecodeError {
  constructor(detail: string) {
    super('unsupported-message', `unsupported message: ${detail}`)
  }
}

const checkStateVector = (bytes: Uint8Array): void => {
  const decoder = decoding.createDecoder(bytes)
  const entries = readStrictUint(decoder, 'state vector length')
  // Each entry takes at least two bytes; a larger count is a lie that would only waste work.
  if (entries * 2 > remaining(decoder)) throw new MalformedFrameError(`state vector claims ${entries} entries in ${remaining(decoder)} bytes`)
  for (let index = 0; index < entries; index++) {
    readStrictUint(decoder, 'state vector client')
    readStrictUint(decoder, 'state vector clock')
  }
  if (remaining(decoder) !== 0) throw new MalformedFrameError('trailing bytes after the state vector')
}

const awarenessEntries = (update: Uint8Array): WsAwarenessEntry[] => {
  const decoder = decoding.createDecoder(update)
  const count = readStrictUint(decoder, 'awareness entry count')
  if (count * 3 > remaining(decoder)) throw new MalformedFrameError(`awareness update claims ${count} entries in ${remaining(decoder)} bytes`)
  const entries: WsAwarenessEntry[] = []
  for (let index = 0; index < count; index++) {
    const clientId = readStrictUint(decoder, 'awareness client id')
    const clock = readStrictUint(decoder, 'awareness clock')
    const json = readStrictString(decoder, 'awareness state', update.length)
    let state: unknown
    try {
      state = JSON.parse(json)
    } catch {
      throw new MalformedFrameError('awareness state is not JSON')
    }
    entries.push({ clientId, clock, state })
  }
  if (remaining(decoder) !== 0) throw new MalformedFrameError('trailing bytes after the awareness update')
  return entries
}

/**
 * Decodes one client frame. Throws `UnsupportedMessageError` for an unknown or server-only message
 * type and another `FrameDecodeError` (truncated, malformed, trailing bytes) for anything else wrong.
 */
export const decodeWsClientFrame = (bytes: Uint8Array): WsClientFrame => {
  const decoder = decoding.createDecoder(bytes)
  const type = readStrictUint(decoder, 'message type')
  let frame: WsClientFrame
  switch (type) {
    case WS_MESSAGE_SYNC: {
      const syncType = readStrictUint(decoder, 'sync message type')
      const body = readStrictBytes(decoder, 'sync message body', bytes.length)
      if (syncType === syncProtocol.messageYjsSyncStep1) {
        checkStateVector(body)
        frame = { kind: 'sync-step-1', stateVector: body }
      } else if (syncType === syncProtocol.messageYjsSyncStep2) frame = { kind: 'sync-step-2', update: body }
      else if (syncType === syncProtocol.messageYjsUpdate) frame = { kind: 'update', update: body }
      else throw new UnsupportedMessageError(`sync message type ${syncType}`)
      break
    }
    case WS_MESSAGE_AWARENESS: {
      const update = readStrictBytes(decoder, 'awareness update', bytes.length)
      frame = { kind: 'awareness', update, entries: awarenessEntries(update) }
      break
    }
    case WS_MESSAGE_QUERY_AWARENESS:
      frame = { kind: 'query-awareness' }
      break
    default:
      throw new UnsupportedMessageError(`message type ${type}`)
  }
  if (remaining(decoder) !== 0) throw new MalformedFrameError('trailing bytes after the message')
  return frame
}

const finish = (write: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder()
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** Sync step 1: the server's state vector, asking the client for what the server lacks. */
export const wsSyncStep1Frame = (doc: Y.Doc): Uint8Array =>
  finish((encoder) => {
    encoding.writeVarUint(encoder, WS_MESSAGE_SYNC)
    syncProtocol.writeSyncStep1(encoder, doc)
  })

/** Sync step 2: what the client lacks, given its (already checked) state vector. */
export const wsSyncStep2Frame = (doc: Y.Doc, stateVector: Uint8Array): Uint8Array =>
  finish((encoder) => {
    encoding.writeVarUint(encoder, WS_MESSAGE_SYNC)
    syncProtocol.writeSyncStep2(encoder, doc, stateVector)
  })

/** A document update for a client. */
export const wsUpdateFrame = (update: Uint8Array): Uint8Array =>
  finish((encoder) => {
    encoding.writeVarUint(encoder, WS_MESSAGE_SYNC)
    syncProtocol.writeUpdate(encoder, update)
  })

/** The awareness states of `clients`. */
export const wsAwarenessFrame = (awareness: awarenessProtocol.Awareness, clients: readonly number[]): Uint8Array =>
  finish((encoder) => {
    encoding.writeVarUint(encoder, WS_MESSAGE_AWARENESS)
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(awareness, [...clients]))
  })

/** An awareness update (the body of an awareness message) holding exactly `entries`. */
export const encodeAwarenessEntries = (entries: readonly WsAwarenessEntry[]): Uint8Array =>
  finish((encoder) => {
    encoding.writeVarUint(encoder, entries.length)
    for (const entry of entries) {
      encoding.writeVarUint(encoder, entry.clientId)
      encoding.writeVarUint(encoder, entry.clock)
      encoding.writeVarString(encoder, JSON.stringify(entry.state))
    }
  })

/** The y-protocols permission-denied auth message. */
export const wsPermissionDeniedFrame = (reason: string): Uint8Array =>
  finish((encoder) => {
    encoding.writeVarUint(encoder, WS_MESSAGE_AUTH)
    authProtocol.writePermissionDenied(encoder, reason)
  })
