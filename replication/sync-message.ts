import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { MalformedFrameError, expectEnd, readStrictBytes, readStrictUint, type ClockRange } from '../core/index.js'
import { stateVectorOf } from './clock-ranges.js'

/** A parsed y-protocols sync message: step 1 carries a state vector, step 2 and update carry an update. */
export type SyncMessage =
  | { readonly kind: 'step1'; readonly stateVector: Uint8Array }
  | { readonly kind: 'step2'; readonly update: Uint8Array }
  | { readonly kind: 'update'; readonly update: Uint8Array }

/** Encodes sync step 1 (our state vector) with y-protocols' own writer. */
export const encodeSyncStep1 = (doc: Y.Doc): Uint8Array => {
  const encoder = encoding.createEncoder()
  syncProtocol.writeSyncStep1(encoder, doc)
  return encoding.toUint8Array(encoder)
}

/** Encodes sync step 2: everything `doc` has that the holder of `stateVector` lacks. */
export const encodeSyncStep2 = (doc: Y.Doc, stateVector: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  syncProtocol.writeSyncStep2(encoder, doc, stateVector)
  return encoding.toUint8Array(encoder)
}

/**
 * Encodes sync step 2 holding each listed client's updates from its range's start on (with the
 * delete set, as every step 2): the answer to a pull. Undefined when this replica holds none of them.
 */
export const encodeRangeAnswer = (doc: Y.Doc, ranges: readonly ClockRange[]): Uint8Array | undefined => {
  // Yjs encodes from a state vector, sending every client it does not list from clock 0: so list
  // every client at our own clock, and only the asked ones at their range's start.
  const target = stateVectorOf(doc)
  let holdsAny = false
  for (const range of ranges) {
    const own = target.get(range.client) ?? 0
    if (own <= range.from) continue
    target.set(range.client, range.from)
    holdsAny = true
  }
  return holdsAny ? encodeSyncStep2(doc, Y.encodeStateVector(target)) : undefined
}

/** Encodes an incremental update message. */
export const encodeSyncUpdate = (update: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

/**
 * Parses a y-protocols sync message strictly. y-protocols' own `readSyncMessage` applies straight to
 * a document with no validation, so peer input is parsed here first and applied only once checked.
 */
export const parseSyncMessage = (payload: Uint8Array, maxBytes: number): SyncMessage => {
  const decoder = decoding.createDecoder(payload)
  const kind = readStrictUint(decoder, 'sync message type')
  const body = readStrictBytes(decoder, 'sync message body', maxBytes)
  expectEnd(decoder, 'sync message')
  switch (kind) {
    case syncProtocol.messageYjsSyncStep1:
      return { kind: 'step1', stateVector: body }
    case syncProtocol.messageYjsSyncStep2:
      return { kind: 'step2', update: body }
    case syncProtocol.messageYjsUpdate:
      return { kind: 'update', update: body }
    default:
      throw new MalformedFrameError(`unknown sync message type ${kind}`)
  }
}

/** Decodes a state vector strictly, or throws `MalformedFrameError`. */
export const parseStateVector = (stateVector: Uint8Array): Map<number, number> => {
  const decoder = decoding.createDecoder(stateVector)
  const count = readStrictUint(decoder, 'state vector length')
  if (count > stateVector.length) throw new MalformedFrameError(`state vector claims ${count} clients`)
  const result = new Map<number, number>()
  for (let i = 0; i < count; i++) {
    const client = readStrictUint(decoder, 'state vector client')
    const clock = readStrictUint(decoder, 'state vector clock')
    result.set(client, clock)
  }
  expectEnd(decoder, 'state vector')
  return result
}
