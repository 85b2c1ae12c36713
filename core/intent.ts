import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { MalformedFrameError } from './errors.js'
import { compareHlc, decodeHlc, encodeHlc, type HlcTimestamp } from './hlc.js'
import { expectEnd, readStrictAny, readStrictByte, readStrictString, readStrictUint } from './strict-decoding.js'
import { isWorldValue, type WorldValue } from './world-doc.js'

/** How urgently an action is scheduled and sent: combat and collisions first, bulk last. */
export type PriorityClass = 'critical' | 'normal' | 'bulk'

/** A player's request to act. Clients send intents, never raw document writes (DESIGN.md decision 5). */
export interface Intent {
  /** Action name: `move`, `pickup`, `trade`, or a game's own. */
  readonly action: string
  /** Client sequence number, increasing per session; with the session it makes the intent unique. */
  readonly seq: number
  /** The acting player. */
  readonly player: string
  /** Action arguments. */
  readonly payload: WorldValue
  /** Entity version the client predicted against, for optimistic concurrency. */
  readonly predictedVersion?: number
  /** When the intent was issued, if the sender stamps it. */
  readonly stamp?: HlcTimestamp
}

/** The answer to an intent: acknowledged with a result, or rejected with a reason. */
export type IntentResult =
  | { readonly type: 'ack'; readonly seq: number; readonly result: WorldValue }
  | { readonly type: 'reject'; readonly seq: number; readonly reason: string; readonly message: string }

/** Default priority class of the built-in action kinds. */
export const DEFAULT_ACTION_PRIORITIES: Readonly<Record<string, PriorityClass>> = {
  attack: 'critical',
  damage: 'critical',
  heal: 'critical',
  collide: 'critical',
  pickup: 'critical',
  move: 'normal',
  drop: 'normal',
  trade: 'normal',
  use: 'normal',
  chat: 'bulk',
  emote: 'bulk',
  inventorySort: 'bulk',
}

const RANK: Readonly<Record<PriorityClass, number>> = { critical: 0, normal: 1, bulk: 2 }

/** The priority class of an action: overrides first, then the defaults, else `normal`. */
export const priorityOf = (action: string, overrides: Readonly<Record<string, PriorityClass>> = {}): PriorityClass =>
  overrides[action] ?? DEFAULT_ACTION_PRIORITIES[action] ?? 'normal'

/** Scheduling order: higher priority first, then earlier HLC stamp, then player and sequence (total, deterministic). */
export const compareIntents = (a: Intent, b: Intent, overrides: Readonly<Record<string, PriorityClass>> = {}): number => {
  const byClass = RANK[priorityOf(a.action, overrides)] - RANK[priorityOf(b.action, overrides)]
  if (byClass !== 0) return byClass
  if (a.stamp && b.stamp) {
    const byStamp = compareHlc(a.stamp, b.stamp)
    if (byStamp !== 0) return byStamp
  } else if (a.stamp || b.stamp) {
    return a.stamp ? -1 : 1
  }
  if (a.player !== b.player) return a.player < b.player ? -1 : 1
  return a.seq - b.seq
}

const MAX_PAYLOAD_BYTES = 64 * 1024
const FLAG_VERSION = 1
const FLAG_STAMP = 2

/** Encodes an intent with lib0 encoding. */
export const encodeIntent = (intent: Intent): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, intent.action)
  encoding.writeVarUint(encoder, intent.seq)
  encoding.writeVarString(encoder, intent.player)
  const inner = encoding.createEncoder()
  encoding.writeAny(inner, intent.payload as Parameters<typeof encoding.writeAny>[1])
  encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner))
  const flags = (intent.predictedVersion !== undefined ? FLAG_VERSION : 0) | (intent.stamp ? FLAG_STAMP : 0)
  encoding.writeUint8(encoder, flags)
  if (intent.predictedVersion !== undefined) encoding.writeVarUint(encoder, intent.predictedVersion)
  if (intent.stamp) encodeHlc(encoder, intent.stamp)
  return encoding.toUint8Array(encoder)
}

/** Decodes an intent strictly; throws a `FrameDecodeError` subclass on any malformed input. */
export const decodeIntent = (bytes: Uint8Array): Intent => {
  const decoder = decoding.createDecoder(bytes)
  const action = readStrictString(decoder, 'intent action', 128)
  const seq = readStrictUint(decoder, 'intent sequence')
  const player = readStrictString(decoder, 'intent player', 256)
  const payload = readStrictAny(decoder, 'intent payload', MAX_PAYLOAD_BYTES)
  if (!isWorldValue(payload)) throw new MalformedFrameError('intent payload is not a JSON-like value')
  const flags = readStrictByte(decoder, 'intent flags')
  if ((flags & ~(FLAG_VERSION | FLAG_STAMP)) !== 0) throw new MalformedFrameError(`intent has unknown flags ${flags}`)
  const predictedVersion = flags & FLAG_VERSION ? readStrictUint(decoder, 'intent predicted version') : undefined
  const stamp = flags & FLAG_STAMP ? decodeHlc(decoder) : undefined
  expectEnd(decoder, 'intent')
  return {
    action,
    seq,
    player,
    payload,
    ...(predictedVersion !== undefined ? { predictedVersion } : {}),
    ...(stamp ? { stamp } : {}),
  }
}

/** Encodes an intent result with lib0 encoding. */
export const encodeIntentResult = (result: IntentResult): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, result.type === 'ack' ? 0 : 1)
  encoding.writeVarUint(encoder, result.seq)
  if (result.type === 'ack') {
    const inner = encoding.createEncoder()
    encoding.writeAny(inner, result.result as Parameters<typeof encoding.writeAny>[1])
    encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner))
  } else {
    encoding.writeVarString(encoder, result.reason)
    encoding.writeVarString(encoder, result.message)
  }
  return encoding.toUint8Array(encoder)
}

/** Decodes an intent result strictly; throws a `FrameDecodeError` subclass on malformed input. */
export const decodeIntentResult = (bytes: Uint8Array): IntentResult => {
  const decoder = decoding.createDecoder(bytes)
  const kind = readStrictByte(decoder, 'intent result kind')
  const seq = readStrictUint(decoder, 'intent result sequence')
  let result: IntentResult
  if (kind === 0) {
    const value = readStrictAny(decoder, 'intent result', MAX_PAYLOAD_BYTES)
    if (!isWorldValue(value)) throw new MalformedFrameError('intent result is not a JSON-like value')
    result = { type: 'ack', seq, result: value }
  } else if (kind === 1) {
    result = { type: 'reject', seq, reason: readStrictString(decoder, 'reject reason', 128), message: readStrictString(decoder, 'reject message', 4096) }
  } else {
    throw new MalformedFrameError(`unknown intent result kind ${kind}`)
  }
  expectEnd(decoder, 'intent result')
  return result
}
