import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { EPOCH_BASE_CLIENT_ID } from '../core/index.js'

/**
 * How clients follow a document into a new epoch (docs/epochs.md, "The gateway"). A new epoch is a
 * fresh replica whose base is written by the reserved client id 0, so a client that keeps its old
 * `Y.Doc` can neither take the new base (its own client-0 ids from an earlier base collide) nor
 * write without dragging old-epoch structs in. The gateway therefore ends each connection of the
 * document with `CLOSE_EPOCH_CHANGED`; the client reconnects with a fresh `Y.Doc`. A connection that
 * comes back holding an older epoch's structs is closed the same way before it is sent or may send
 * anything.
 */

/**
 * Close code: the document moved to a new epoch; reconnect with a fresh `Y.Doc`. Application range
 * and outside 4400-4499, so stock y-websocket providers and the realmsync client retry.
 */
export const CLOSE_EPOCH_CHANGED = 4100

/** y-websocket outer message type of the epoch notice, sent only to clients that asked (`epochs=1`). */
export const WS_MESSAGE_EPOCH = 100

/** y-websocket outer message type of the epoch greeting to an aware client: the epoch its sync is against. */
export const WS_MESSAGE_EPOCH_GREETING = 101

/** The query parameter by which a client says it understands the epoch notice. */
export const EPOCH_AWARE_PARAM = 'epochs'

/** The query parameter by which an aware client names the epoch its `Y.Doc` holds (from the greeting): any other is refused as stale. */
export const EPOCH_HELD_PARAM = 'epoch'

/** The epoch greeting: the epoch a newly greeted aware client syncs against. */
export const wsEpochGreetingFrame = (epoch: number): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, WS_MESSAGE_EPOCH_GREETING)
  encoding.writeVarUint(encoder, epoch)
  return encoding.toUint8Array(encoder)
}

/** The close reason for `CLOSE_EPOCH_CHANGED`. */
export const epochChangedReason = (doc: string, epoch: number): string => `epoch-changed: '${doc}' moved to epoch ${epoch}; reconnect with a fresh Y.Doc`

/**
 * The epoch notice: the new epoch's number, how many update-bearing frames (sync step 2 and update)
 * of this connection the server handled before it switched, and (when known) the state vector the
 * new base was cut at. With the cut, the client carries exactly its writes the base lacks (ids the
 * cut does not cover); without it, its writes sent in frames the server had not handled. A client
 * that reads only the first two numbers ignores the cut.
 */
export const wsEpochFrame = (epoch: number, handledUpdateFrames: number, cut?: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, WS_MESSAGE_EPOCH)
  encoding.writeVarUint(encoder, epoch)
  encoding.writeVarUint(encoder, handledUpdateFrames)
  if (cut !== undefined) encoding.writeVarUint8Array(encoder, cut)
  return encoding.toUint8Array(encoder)
}

const clocksOf = (stateVector: Uint8Array): Map<number, number> => {
  const decoder = decoding.createDecoder(stateVector)
  const clocks = new Map<number, number>()
  const count = decoding.readVarUint(decoder)
  for (let i = 0; i < count; i++) clocks.set(decoding.readVarUint(decoder), decoding.readVarUint(decoder))
  return clocks
}

/**
 * Whether a client's state vector (its sync step 1, already checked) shows a `Y.Doc` of an earlier
 * epoch than `doc`, the current epoch `epoch` of the document: it holds client-0 structs of another
 * base, or structs but none of this epoch's base, or (read-only: it can have nothing the server
 * lacks) structs this epoch never had. Epoch 0 has no base, so nothing is stale there.
 */
export const isStaleEpochState = (clientStateVector: Uint8Array, doc: Y.Doc, epoch: number, writable: boolean): boolean => {
  if (epoch === 0) return false
  const client = clocksOf(clientStateVector)
  if (client.size === 0) return false
  const server = Y.getState(doc.store, EPOCH_BASE_CLIENT_ID)
  const base = client.get(EPOCH_BASE_CLIENT_ID)
  if (base === undefined || base !== server) return true
  if (writable) return false
  for (const [id, clock] of client) if (clock > Y.getState(doc.store, id)) return true
  return false
}
