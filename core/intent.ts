import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as string from 'lib0/string'
import { FrameTooLargeError, MalformedFrameError, RealmsyncError, UnsupportedVersionError } from './errors.js'
import { compareHlc, decodeHlc, encodeHlc, type HlcTimestamp } from './hlc.js'
import { expectEnd, readStrictAny, readStrictByte, readStrictString, readStrictUint } from './strict-decoding.js'
import { isWellFormedText, isWorldValue, type WorldValue } from './world-schema.js'

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

/** The answer to an intent, matched to it by `seq`: acknowledged with a result, or rejected with a reason. */
export type IntentResult =
  | { readonly type: 'ack'; readonly seq: number; readonly result: WorldValue }
  | { readonly type: 'reject'; readonly seq: number; readonly reason: string; readonly message: string }

/**
 * Reject reasons the engine itself gives. Games may add their own; every reason is a kebab-case
 * code (`[a-z0-9-]`, at most 64 characters) so clients can switch on it.
 */
export const INTENT_REJECT_REASONS = [
  'invalid-intent',
  'unknown-action',
  'not-permitted',
  'rate-limited',
  'stale-version',
  'conflict',
  'authority-unavailable',
  'cheat-suspected',
  'internal-error',
  'answer-expired',
] as const

/** One of the engine's own reject reasons. */
export type IntentRejectReason = (typeof INTENT_REJECT_REASONS)[number]

/** Default priority class of the built-in action kinds; anything not listed is `normal`. */
export const DEFAULT_ACTION_PRIORITIES: Readonly<Record<string, PriorityClass>> = Object.freeze({
  attack: 'critical',
  damage: 'critical',
  heal: 'critical',
  collide: 'critical',
  pickup: 'critical',
  move: 'normal',
  drop: 'normal',
  trade: 'normal',
  use: 'normal',
  interact: 'normal',
  chat: 'bulk',
  emote: 'bulk',
  inventorySort: 'bulk',
})

const RANK: Readonly<Record<PriorityClass, number>> = { critical: 0, normal: 1, bulk: 2 }

const hasOwn = (table: Readonly<Record<string, PriorityClass>>, action: string): boolean => Object.prototype.hasOwnProperty.call(table, action)

/** The priority class of an action: overrides first, then the defaults, else `normal`. */
export const priorityOf = (action: string, overrides: Readonly<Record<string, PriorityClass>> = {}): PriorityClass => {
  // Own-property lookups only: an action named `toString` or `__proto__` must not read the prototype.
  if (hasOwn(overrides, action)) return overrides[action] as PriorityClass
  if (hasOwn(DEFAULT_ACTION_PRIORITIES, action)) return DEFAULT_ACTION_PRIORITIES[action] as PriorityClass
  return 'normal'
}

/**
 * Scheduling order: higher priority class first, then earlier HLC stamp (unstamped intents after
 * stamped ones of the same class), then player id, then sequence number. It is a total order over
 * distinct (player, seq) pairs, so every peer schedules the same intents identically.
 */
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

/** A two-argument comparator with fixed overrides, for `Array.prototype.sort` or a priority queue. */
export const intentComparator =
  (overrides: Readonly<Record<string, PriorityClass>> = {}) =>
  (a: Intent, b: Intent): number =>
    compareIntents(a, b, overrides)

/** The intent codec's format version; the first byte of every encoded intent and result. */
export const INTENT_CODEC_VERSION = 1

/** Limits the intent codec enforces, identically when encoding and decoding. */
export const INTENT_LIMITS = Object.freeze({
  /** Longest encoded intent or result, in bytes; the field limits below add up to less, so a valid one always fits. */
  maxFrameBytes: 64 * 1024,
  /** Longest encoded payload or ack result, in bytes. */
  maxPayloadBytes: 60 * 1024,
  /** Longest action name, in UTF-8 bytes. */
  maxActionBytes: 128,
  /** Longest player id, in UTF-8 bytes. */
  maxPlayerBytes: 256,
  /** Longest reject reason code, in bytes. */
  maxReasonBytes: 64,
  /** Longest reject message, in UTF-8 bytes. */
  maxMessageBytes: 4096,
})

/** An intent or result handed to an encoder breaks a codec rule; nothing was encoded. */
export class InvalidIntentError extends RealmsyncError {
  constructor(readonly detail: string) {
    super('invalid-intent', `cannot encode intent: ${detail}`)
  }
}

const FLAG_VERSION = 1
const FLAG_STAMP = 2
const KIND_ACK = 0
const KIND_REJECT = 1
const REASON_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/

const utf8Length = (text: string): number => string.encodeUtf8(text).length
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0

const checkName = (what: string, value: unknown, maxBytes: number): void => {
  if (typeof value !== 'string' || value.length === 0 || !isWellFormedText(value) || utf8Length(value) > maxBytes) {
    throw new InvalidIntentError(`${what} must be a non-empty, well-formed string of at most ${maxBytes} UTF-8 bytes`)
  }
}

const checkCount = (what: string, value: unknown): void => {
  if (!isCount(value)) throw new InvalidIntentError(`${what} must be a non-negative safe integer, got ${String(value)}`)
}

const encodeValue = (what: string, value: unknown): Uint8Array => {
  if (!isWorldValue(value)) throw new InvalidIntentError(`${what} is not a JSON-like value`)
  const encoder = encoding.createEncoder()
  encoding.writeAny(encoder, value as Parameters<typeof encoding.writeAny>[1])
  const bytes = encoding.toUint8Array(encoder)
  if (bytes.length > INTENT_LIMITS.maxPayloadBytes) throw new InvalidIntentError(`${what} of ${bytes.length} bytes exceeds ${INTENT_LIMITS.maxPayloadBytes}`)
  return bytes
}

/** Encodes an intent with lib0 encoding; throws `InvalidIntentError` if it would not decode. */
export const encodeIntent = (intent: Intent): Uint8Array => {
  checkName('action', intent.action, INTENT_LIMITS.maxActionBytes)
  checkCount('seq', intent.seq)
  checkName('player', intent.player, INTENT_LIMITS.maxPlayerBytes)
  const payload = encodeValue('payload', intent.payload)
  if (intent.predictedVersion !== undefined) checkCount('predictedVersion', intent.predictedVersion)
  if (intent.stamp !== undefined) {
    checkCount('stamp.wallMs', intent.stamp.wallMs)
    checkCount('stamp.counter', intent.stamp.counter)
    const peer: unknown = intent.stamp.peer
    if (typeof peer !== 'string' || !isWellFormedText(peer) || utf8Length(peer) > 256) throw new InvalidIntentError('stamp.peer must be a well-formed string of at most 256 UTF-8 bytes')
  }
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, INTENT_CODEC_VERSION)
  encoding.writeVarString(encoder, intent.action)
  encoding.writeVarUint(encoder, intent.seq)
  encoding.writeVarString(encoder, intent.player)
  encoding.writeVarUint8Array(encoder, payload)
  const flags = (intent.predictedVersion !== undefined ? FLAG_VERSION : 0) | (intent.stamp !== undefined ? FLAG_STAMP : 0)
  encoding.writeUint8(encoder, flags)
  if (intent.predictedVersion !== undefined) encoding.writeVarUint(encoder, intent.predictedVersion)
  if (intent.stamp !== undefined) encodeHlc(encoder, intent.stamp)
  return encoding.toUint8Array(encoder)
}

const openFrame = (bytes: Uint8Array, what: string): decoding.Decoder => {
  if (bytes.length > INTENT_LIMITS.maxFrameBytes) throw new FrameTooLargeError(bytes.length, INTENT_LIMITS.maxFrameBytes)
  const decoder = decoding.createDecoder(bytes)
  const version = readStrictByte(decoder, `${what} version`)
  if (version !== INTENT_CODEC_VERSION) throw new UnsupportedVersionError(version, INTENT_CODEC_VERSION)
  return decoder
}

const readName = (decoder: decoding.Decoder, what: string, maxBytes: number): string => {
  const value = readStrictString(decoder, what, maxBytes)
  if (value.length === 0) throw new MalformedFrameError(`${what} is empty`)
  return value
}

const readValue = (decoder: decoding.Decoder, what: string): WorldValue => {
  const value = readStrictAny(decoder, what, INTENT_LIMITS.maxPayloadBytes)
  if (!isWorldValue(value)) throw new MalformedFrameError(`${what} is not a JSON-like value`)
  return value
}

/** Decodes an intent strictly; throws a `FrameDecodeError` subclass on any malformed input. */
export const decodeIntent = (bytes: Uint8Array): Intent => {
  const decoder = openFrame(bytes, 'intent')
  const action = readName(decoder, 'intent action', INTENT_LIMITS.maxActionBytes)
  const seq = readStrictUint(decoder, 'intent sequence')
  const player = readName(decoder, 'intent player', INTENT_LIMITS.maxPlayerBytes)
  const payload = readValue(decoder, 'intent payload')
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
    ...(stamp !== undefined ? { stamp } : {}),
  }
}

/** Encodes an intent result with lib0 encoding; throws `InvalidIntentError` if it would not decode. */
export const encodeIntentResult = (result: IntentResult): Uint8Array => {
  checkCount('seq', result.seq)
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, INTENT_CODEC_VERSION)
  if (result.type === 'ack') {
    const value = encodeValue('ack result', result.result)
    encoding.writeUint8(encoder, KIND_ACK)
    encoding.writeVarUint(encoder, result.seq)
    encoding.writeVarUint8Array(encoder, value)
  } else if (result.type === 'reject') {
    if (typeof result.reason !== 'string' || result.reason.length > INTENT_LIMITS.maxReasonBytes || !REASON_PATTERN.test(result.reason)) {
      throw new InvalidIntentError(`reject reason ${JSON.stringify(result.reason)} must be a kebab-case code of at most ${INTENT_LIMITS.maxReasonBytes} characters`)
    }
    if (typeof result.message !== 'string' || !isWellFormedText(result.message) || utf8Length(result.message) > INTENT_LIMITS.maxMessageBytes) {
      throw new InvalidIntentError(`reject message must be a well-formed string of at most ${INTENT_LIMITS.maxMessageBytes} UTF-8 bytes`)
    }
    encoding.writeUint8(encoder, KIND_REJECT)
    encoding.writeVarUint(encoder, result.seq)
    encoding.writeVarString(encoder, result.reason)
    encoding.writeVarString(encoder, result.message)
  } else {
    throw new InvalidIntentError(`unknown result type ${JSON.stringify((result as { type?: unknown }).type)}`)
  }
  return encoding.toUint8Array(encoder)
}

/** Decodes an intent result strictly; throws a `FrameDecodeError` subclass on malformed input. */
export const decodeIntentResult = (bytes: Uint8Array): IntentResult => {
  const decoder = openFrame(bytes, 'intent result')
  const kind = readStrictByte(decoder, 'intent result kind')
  let result: IntentResult
  if (kind === KIND_ACK) {
    const seq = readStrictUint(decoder, 'intent result sequence')
    result = { type: 'ack', seq, result: readValue(decoder, 'intent ack result') }
  } else if (kind === KIND_REJECT) {
    const seq = readStrictUint(decoder, 'intent result sequence')
    const reason = readStrictString(decoder, 'reject reason', INTENT_LIMITS.maxReasonBytes)
    if (!REASON_PATTERN.test(reason)) throw new MalformedFrameError(`reject reason ${JSON.stringify(reason)} is not a kebab-case code`)
    result = { type: 'reject', seq, reason, message: readStrictString(decoder, 'reject message', INTENT_LIMITS.maxMessageBytes) }
  } else {
    throw new MalformedFrameError(`unknown intent result kind ${kind}`)
  }
  expectEnd(decoder, 'intent result')
  return result
}
