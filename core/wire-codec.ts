import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { FrameTooLargeError, MalformedFrameError, UnknownMessageTypeError, UnsupportedVersionError } from './errors.js'
import { decodeHlc, encodeHlc } from './hlc.js'
import type { EphemeralEntry, EphemeralValue } from './ephemeral-types.js'
import { MESSAGE_TAGS, type WireMessage } from './wire-messages.js'
import {
  expectEnd,
  readStrictAny,
  readStrictByte,
  readStrictBytes,
  readStrictFloat64,
  readStrictString,
  readStrictUint,
  remaining,
} from './strict-decoding.js'
import type { ClockRange, LinkReport, NetworkCoordinate } from './wire-messages.js'

/** The wire-format version this build writes and accepts. */
export const WIRE_VERSION = 1

/** Default hard limit on one frame: 1 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024

/** Longest document name, entity id or field name accepted on the wire, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 512

/** Codec limits. */
export interface CodecOptions {
  /** Hard limit on an encoded frame, in bytes. Default `DEFAULT_MAX_FRAME_BYTES`. */
  readonly maxFrameBytes?: number
}

/** Deepest nesting of arrays and objects in an ephemeral value. */
export const MAX_EPHEMERAL_VALUE_DEPTH = 32

// A lone UTF-16 surrogate has no UTF-8 form: the writer would keep it while every receiver decodes
// U+FFFD, and replicas would silently hold different values.
const LONE_SURROGATE = /\p{Cs}/u
const utf8 = new TextEncoder()

/** Whether a name (document, entity, field) is well-formed text of at most `MAX_NAME_BYTES` UTF-8 bytes. */
export const isWireName = (name: unknown): name is string =>
  typeof name === 'string' &&
  (name.length * 3 <= MAX_NAME_BYTES || utf8.encode(name).length <= MAX_NAME_BYTES) &&
  !LONE_SURROGATE.test(name)

/**
 * Whether a value is an `EphemeralValue` that survives the wire unchanged: numbers, well-formed
 * strings, booleans, null, bytes, arrays and plain objects (no `__proto__` key), at most
 * `MAX_EPHEMERAL_VALUE_DEPTH` levels deep. `undefined` and bigints are not.
 */
export const isEphemeralValue = (value: unknown): value is EphemeralValue => isEphemeralValueAt(value, 0)

const isEphemeralValueAt = (value: unknown, depth: number): boolean => {
  switch (typeof value) {
    case 'number':
    case 'boolean':
      return true
    case 'string':
      return !LONE_SURROGATE.test(value)
    case 'object':
      break
    default:
      return false
  }
  if (value === null || value instanceof Uint8Array) return true
  if (depth >= MAX_EPHEMERAL_VALUE_DEPTH) return false
  if (Array.isArray(value)) return value.every((item) => isEphemeralValueAt(item, depth + 1))
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return false
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return false
  return Object.entries(value).every(([key, item]) => !LONE_SURROGATE.test(key) && isEphemeralValueAt(item, depth + 1))
}

const writeEntry = (encoder: encoding.Encoder, entry: EphemeralEntry): void => {
  // Refuse here what the receiver's decoder would refuse: it would penalise us for the frame.
  if (!isWireName(entry.entity) || !isWireName(entry.field)) {
    throw new MalformedFrameError(`ephemeral entity and field names must be well-formed and at most ${MAX_NAME_BYTES} bytes`)
  }
  if (!isEphemeralValue(entry.value)) throw new MalformedFrameError(`ephemeral value of ${entry.entity}.${entry.field} has an unsupported type`)
  encoding.writeVarString(encoder, entry.entity)
  encoding.writeVarString(encoder, entry.field)
  encodeHlc(encoder, entry.stamp)
  encoding.writeVarUint8Array(encoder, encodeEphemeralValue(entry.value))
}

/** Encodes one ephemeral value with lib0's `writeAny`. */
export const encodeEphemeralValue = (value: EphemeralValue): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeAny(encoder, value as Parameters<typeof encoding.writeAny>[1])
  return encoding.toUint8Array(encoder)
}

/**
 * Encodes a message as one frame: version, type tag, body. Throws `FrameTooLargeError` past the
 * limit, and `MalformedFrameError` for content `decodeFrame` would refuse (an overlong name, an
 * unsupported value, an invalid stamp).
 */
export const encodeFrame = (message: WireMessage, options: CodecOptions = {}): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, WIRE_VERSION)
  encoding.writeVarUint(encoder, MESSAGE_TAGS[message.type])
  switch (message.type) {
    case 'sync':
      if (!isWireName(message.doc)) throw new MalformedFrameError(`document names must be well-formed and at most ${MAX_NAME_BYTES} bytes`)
      encoding.writeVarString(encoder, message.doc)
      encoding.writeVarUint8Array(encoder, message.payload)
      break
    case 'ephemeral':
      encoding.writeVarUint(encoder, message.entries.length)
      for (const entry of message.entries) writeEntry(encoder, entry)
      break
    case 'gossip':
      writeName(encoder, message.doc)
      writeName(encoder, message.origin)
      writeCount(encoder, message.seq, 'gossip seq')
      writeCount(encoder, message.tree, 'gossip tree')
      if (!Number.isFinite(message.sentAt)) throw new MalformedFrameError('gossip sentAt must be a finite number')
      encoding.writeFloat64(encoder, message.sentAt)
      encoding.writeVarUint8Array(encoder, message.update)
      break
    case 'digest':
    case 'pull':
      writeName(encoder, message.doc)
      writeClockRanges(encoder, message.ranges)
      break
    case 'ping':
      writeCount(encoder, message.nonce, 'ping nonce')
      writeCoordinate(encoder, message.coordinate)
      encoding.writeUint8(encoder, message.full ? 1 : 0)
      encoding.writeVarUint(encoder, message.links.length)
      for (const link of message.links) {
        writeName(encoder, link.peer)
        // Latency in tenths of a millisecond; 0 means down (a real link is never 0 after rounding up).
        encoding.writeVarUint(encoder, link.oneWayMs === null ? 0 : linkTenths(link.oneWayMs))
      }
      break
    case 'pong':
      writeCount(encoder, message.nonce, 'pong nonce')
      writeCoordinate(encoder, message.coordinate)
      break
    case 'channel':
      writeName(encoder, message.channel)
      encoding.writeVarUint8Array(encoder, message.payload)
      break
  }
  const frame = encoding.toUint8Array(encoder)
  const limit = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  if (frame.length > limit) throw new FrameTooLargeError(frame.length, limit)
  return frame
}

// Link latencies above 10 minutes are nonsense from a peer and are clamped.
const MAX_LINK_TENTHS = 6_000_000

const linkTenths = (oneWayMs: number): number => Math.max(1, Math.min(MAX_LINK_TENTHS, Math.ceil(oneWayMs * 10)))

/** A link latency as a receiver decodes it from a ping (rounded up to a tenth of a ms, clamped). */
export const wireLinkLatency = (oneWayMs: number): number => linkTenths(oneWayMs) / 10

const writeName = (encoder: encoding.Encoder, name: string): void => {
  if (!isWireName(name)) throw new MalformedFrameError(`names must be well-formed and at most ${MAX_NAME_BYTES} bytes`)
  encoding.writeVarString(encoder, name)
}

const writeCount = (encoder: encoding.Encoder, value: number, what: string): void => {
  if (!Number.isSafeInteger(value) || value < 0) throw new MalformedFrameError(`${what} must be a non-negative integer`)
  encoding.writeVarUint(encoder, value)
}

const writeCoordinate = (encoder: encoding.Encoder, coordinate: NetworkCoordinate): void => {
  for (const value of [coordinate.x, coordinate.y, coordinate.height, coordinate.error]) {
    if (!Number.isFinite(value)) throw new MalformedFrameError('coordinates must be finite numbers')
    encoding.writeFloat64(encoder, value)
  }
}

// A range is written as client, from, length (not `to`): lengths are small, so most take one byte.
const writeClockRanges = (encoder: encoding.Encoder, ranges: readonly ClockRange[]): void => {
  const clients = new Set<number>()
  encoding.writeVarUint(encoder, ranges.length)
  for (const range of ranges) {
    // Refuse here what the receiver's decoder would refuse: it would penalise us for the frame.
    if (clients.has(range.client)) throw new MalformedFrameError(`clock ranges name client ${range.client} twice`)
    clients.add(range.client)
    writeCount(encoder, range.client, 'range client')
    writeCount(encoder, range.from, 'range start')
    if (!Number.isSafeInteger(range.to) || range.to <= range.from) throw new MalformedFrameError(`clock range of client ${range.client} must be non-empty`)
    encoding.writeVarUint(encoder, range.to - range.from)
  }
}

const readClockRanges = (decoder: decoding.Decoder, what: string): ClockRange[] => {
  const count = readStrictUint(decoder, `${what} count`)
  // Each range takes at least 3 bytes: refuse counts the frame cannot hold before allocating.
  if (count * 3 > remaining(decoder)) throw new MalformedFrameError(`${what} count ${count} exceeds frame size`)
  const ranges: ClockRange[] = []
  const clients = new Set<number>()
  for (let i = 0; i < count; i++) {
    const client = readStrictUint(decoder, `${what} client`)
    const from = readStrictUint(decoder, `${what} start`)
    const length = readStrictUint(decoder, `${what} length`)
    if (length === 0) throw new MalformedFrameError(`${what} of client ${client} is empty`)
    if (from + length > Number.MAX_SAFE_INTEGER) throw new MalformedFrameError(`${what} of client ${client} ends past the largest safe integer`)
    if (clients.has(client)) throw new MalformedFrameError(`${what}s name client ${client} twice`)
    clients.add(client)
    ranges.push({ client, from, to: from + length })
  }
  return ranges
}

const readCoordinate = (decoder: decoding.Decoder): NetworkCoordinate => {
  const x = readStrictFloat64(decoder, 'coordinate x')
  const y = readStrictFloat64(decoder, 'coordinate y')
  const height = readStrictFloat64(decoder, 'coordinate height')
  const error = readStrictFloat64(decoder, 'coordinate error')
  if (![x, y, height, error].every(Number.isFinite) || height < 0 || error < 0) throw new MalformedFrameError('coordinate out of range')
  return { x, y, height, error }
}

const readLinks = (decoder: decoding.Decoder, frameLength: number): LinkReport[] => {
  const count = readStrictUint(decoder, 'link count')
  // Each link takes at least 2 bytes: refuse counts the frame cannot hold before allocating.
  if (count * 2 > frameLength) throw new MalformedFrameError(`link count ${count} exceeds frame size`)
  const links: LinkReport[] = []
  for (let i = 0; i < count; i++) {
    const peer = readStrictString(decoder, 'link peer', MAX_NAME_BYTES)
    const tenths = readStrictUint(decoder, 'link latency')
    if (tenths > MAX_LINK_TENTHS) throw new MalformedFrameError('link latency out of range')
    links.push({ peer, oneWayMs: tenths === 0 ? null : tenths / 10 })
  }
  return links
}

const readEntry = (decoder: decoding.Decoder, maxBytes: number): EphemeralEntry => {
  const entity = readStrictString(decoder, 'ephemeral entity', MAX_NAME_BYTES)
  const field = readStrictString(decoder, 'ephemeral field', MAX_NAME_BYTES)
  const stamp = decodeHlc(decoder)
  const value = readStrictAny(decoder, 'ephemeral value', maxBytes)
  if (!isEphemeralValue(value)) throw new MalformedFrameError('ephemeral value has an unsupported type')
  return { entity, field, stamp, value }
}

/**
 * Decodes one frame strictly: an oversized, truncated, unknown-type or wrong-version frame, or one
 * with trailing bytes, raises a `FrameDecodeError` subclass and yields nothing.
 */
export const decodeFrame = (frame: Uint8Array, options: CodecOptions = {}): WireMessage => {
  const limit = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  if (frame.length > limit) throw new FrameTooLargeError(frame.length, limit)
  const decoder = decoding.createDecoder(frame)
  const version = readStrictUint(decoder, 'wire version')
  if (version !== WIRE_VERSION) throw new UnsupportedVersionError(version, WIRE_VERSION)
  const tag = readStrictUint(decoder, 'message type')
  let message: WireMessage
  switch (tag) {
    case MESSAGE_TAGS.sync: {
      const doc = readStrictString(decoder, 'document name', MAX_NAME_BYTES)
      const payload = readStrictBytes(decoder, 'sync payload', limit)
      message = { type: 'sync', doc, payload }
      break
    }
    case MESSAGE_TAGS.ephemeral: {
      const count = readStrictUint(decoder, 'ephemeral entry count')
      // Each entry takes at least 5 bytes, so a count the frame cannot hold is a lie; refuse it
      // before allocating anything for it.
      if (count * 5 > frame.length) throw new MalformedFrameError(`ephemeral entry count ${count} exceeds frame size`)
      const entries: EphemeralEntry[] = []
      for (let i = 0; i < count; i++) entries.push(readEntry(decoder, limit))
      message = { type: 'ephemeral', entries }
      break
    }
    case MESSAGE_TAGS.gossip: {
      const doc = readStrictString(decoder, 'document name', MAX_NAME_BYTES)
      const origin = readStrictString(decoder, 'gossip origin', MAX_NAME_BYTES)
      const seq = readStrictUint(decoder, 'gossip seq')
      const tree = readStrictUint(decoder, 'gossip tree')
      const sentAt = readStrictFloat64(decoder, 'gossip sentAt')
      if (!Number.isFinite(sentAt)) throw new MalformedFrameError('gossip sentAt must be a finite number')
      const update = readStrictBytes(decoder, 'gossip update', limit)
      message = { type: 'gossip', doc, origin, seq, tree, sentAt, update }
      break
    }
    case MESSAGE_TAGS.digest:
    case MESSAGE_TAGS.pull: {
      const type = tag === MESSAGE_TAGS.digest ? 'digest' : 'pull'
      const doc = readStrictString(decoder, 'document name', MAX_NAME_BYTES)
      message = { type, doc, ranges: readClockRanges(decoder, `${type} range`) }
      break
    }
    case MESSAGE_TAGS.ping: {
      const nonce = readStrictUint(decoder, 'ping nonce')
      const coordinate = readCoordinate(decoder)
      const full = readStrictByte(decoder, 'ping report kind')
      if (full > 1) throw new MalformedFrameError(`ping report kind ${full} is neither 0 (changes) nor 1 (whole)`)
      message = { type: 'ping', nonce, coordinate, full: full === 1, links: readLinks(decoder, frame.length) }
      break
    }
    case MESSAGE_TAGS.pong: {
      const nonce = readStrictUint(decoder, 'pong nonce')
      message = { type: 'pong', nonce, coordinate: readCoordinate(decoder) }
      break
    }
    case MESSAGE_TAGS.channel: {
      const channel = readStrictString(decoder, 'channel name', MAX_NAME_BYTES)
      const payload = readStrictBytes(decoder, 'channel payload', limit)
      message = { type: 'channel', channel, payload }
      break
    }
    default:
      throw new UnknownMessageTypeError(tag)
  }
  expectEnd(decoder, `${message.type} message`)
  return message
}
