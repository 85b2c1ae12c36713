import * as decoding from 'lib0/decoding'
import { MalformedFrameError, TruncatedFrameError } from './errors.js'

// lib0's decoders trust their input (readUint8 reads past the end as `undefined`, readVarUint
// returns integers past 2^53 that have silently lost precision), so every read of peer- or
// client-supplied bytes goes through these checks and fails with a typed error instead.

/** Deepest nesting of arrays and objects `readStrictAny` accepts; deeper input is malformed, not a stack overflow. */
export const MAX_DECODED_VALUE_DEPTH = 64

/** Bytes left to read. */
export const remaining = (decoder: decoding.Decoder): number => decoder.arr.length - decoder.pos

// A safe integer needs at most 53 bits: 8 groups of 7 bits. Capping the byte count also keeps the
// multiplier finite, so a long run of 0x80 bytes cannot turn the sum into NaN.
const MAX_VAR_UINT_BYTES = 8

/**
 * Reads a variable-length unsigned integer (lib0 `writeVarUint` format). Throws
 * `TruncatedFrameError` if the input ends inside it and `MalformedFrameError` if it is not a safe integer.
 */
export const readStrictUint = (decoder: decoding.Decoder, what: string): number => {
  let value = 0
  let multiplier = 1
  for (let index = 0; index < MAX_VAR_UINT_BYTES; index++) {
    if (remaining(decoder) <= 0) throw new TruncatedFrameError(what)
    const byte = decoder.arr[decoder.pos++] as number
    value += (byte & 0x7f) * multiplier
    if (value > Number.MAX_SAFE_INTEGER) throw new MalformedFrameError(`${what} exceeds the largest safe integer`)
    if (byte < 0x80) return value
    multiplier *= 0x80
  }
  throw new MalformedFrameError(`${what} is longer than ${MAX_VAR_UINT_BYTES} bytes`)
}

/**
 * Reads a variable-length signed integer (lib0 `writeVarInt` format: sign in the first byte).
 * Throws like `readStrictUint`.
 */
export const readStrictInt = (decoder: decoding.Decoder, what: string): number => {
  if (remaining(decoder) <= 0) throw new TruncatedFrameError(what)
  const first = decoder.arr[decoder.pos++] as number
  const sign = first & 0x40 ? -1 : 1
  let value = first & 0x3f
  if (first < 0x80) return sign * value
  let multiplier = 0x40
  for (let index = 1; index < MAX_VAR_UINT_BYTES; index++) {
    if (remaining(decoder) <= 0) throw new TruncatedFrameError(what)
    const byte = decoder.arr[decoder.pos++] as number
    value += (byte & 0x7f) * multiplier
    if (value > Number.MAX_SAFE_INTEGER) throw new MalformedFrameError(`${what} exceeds the largest safe integer`)
    if (byte < 0x80) return sign * value
    multiplier *= 0x80
  }
  throw new MalformedFrameError(`${what} is longer than ${MAX_VAR_UINT_BYTES} bytes`)
}

/** Reads one byte or throws `TruncatedFrameError`. */
export const readStrictByte = (decoder: decoding.Decoder, what: string): number => {
  if (remaining(decoder) <= 0) throw new TruncatedFrameError(what)
  return decoding.readUint8(decoder)
}

/** Reads a length-prefixed byte array of at most `maxBytes`, copied so it does not pin the frame. */
export const readStrictBytes = (decoder: decoding.Decoder, what: string, maxBytes: number): Uint8Array => {
  const length = readStrictUint(decoder, `${what} length`)
  if (length > maxBytes) throw new MalformedFrameError(`${what} of ${length} bytes exceeds ${maxBytes}`)
  if (length > remaining(decoder)) throw new TruncatedFrameError(what)
  return decoding.readUint8Array(decoder, length).slice()
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Reads a length-prefixed UTF-8 string of at most `maxBytes` encoded bytes. */
export const readStrictString = (decoder: decoding.Decoder, what: string, maxBytes: number): string => {
  const length = readStrictUint(decoder, `${what} length`)
  if (length > maxBytes) throw new MalformedFrameError(`${what} of ${length} bytes exceeds ${maxBytes}`)
  if (length > remaining(decoder)) throw new TruncatedFrameError(what)
  try {
    return utf8.decode(decoding.readUint8Array(decoder, length))
  } catch {
    throw new MalformedFrameError(`${what} is not valid UTF-8`)
  }
}

/** Reads a 64-bit float or throws `TruncatedFrameError`. */
export const readStrictFloat64 = (decoder: decoding.Decoder, what: string): number => {
  if (remaining(decoder) < 8) throw new TruncatedFrameError(what)
  return decoding.readFloat64(decoder)
}

// lib0 `writeAny` tags, counted down from 127.
const ANY_UNDEFINED = 127
const ANY_NULL = 126
const ANY_INTEGER = 125
const ANY_FLOAT32 = 124
const ANY_FLOAT64 = 123
const ANY_BIGINT = 122
const ANY_FALSE = 121
const ANY_TRUE = 120
const ANY_STRING = 119
const ANY_OBJECT = 118
const ANY_ARRAY = 117
const ANY_BYTES = 116

// lib0's own readAny builds objects by assignment, so a `__proto__` key would replace the
// prototype of the decoded object (its fields would then be inherited, invisible to key checks).
const FORBIDDEN_KEY = '__proto__'

const readAnyValue = (decoder: decoding.Decoder, what: string, depth: number): unknown => {
  const tag = readStrictByte(decoder, what)
  switch (tag) {
    case ANY_UNDEFINED:
      return undefined
    case ANY_NULL:
      return null
    case ANY_INTEGER:
      return readStrictInt(decoder, what)
    case ANY_FLOAT32:
      if (remaining(decoder) < 4) throw new TruncatedFrameError(what)
      return decoding.readFloat32(decoder)
    case ANY_FLOAT64:
      return readStrictFloat64(decoder, what)
    case ANY_BIGINT:
      if (remaining(decoder) < 8) throw new TruncatedFrameError(what)
      return decoding.readBigInt64(decoder)
    case ANY_FALSE:
      return false
    case ANY_TRUE:
      return true
    case ANY_STRING:
      return readStrictString(decoder, `${what} string`, remaining(decoder))
    case ANY_BYTES:
      return readStrictBytes(decoder, `${what} bytes`, remaining(decoder))
    case ANY_ARRAY:
    case ANY_OBJECT: {
      if (depth >= MAX_DECODED_VALUE_DEPTH) throw new MalformedFrameError(`${what} is nested deeper than ${MAX_DECODED_VALUE_DEPTH} levels`)
      const count = readStrictUint(decoder, `${what} length`)
      // Every element takes at least one byte (two for a key and a value): refuse a count the
      // input cannot hold before looping over it.
      if (count * (tag === ANY_OBJECT ? 2 : 1) > remaining(decoder)) throw new MalformedFrameError(`${what} claims ${count} elements`)
      if (tag === ANY_ARRAY) {
        const items: unknown[] = []
        for (let i = 0; i < count; i++) items.push(readAnyValue(decoder, what, depth + 1))
        return items
      }
      const object: Record<string, unknown> = {}
      for (let i = 0; i < count; i++) {
        const key = readStrictString(decoder, `${what} key`, remaining(decoder))
        if (key === FORBIDDEN_KEY) throw new MalformedFrameError(`${what} has a forbidden key ${FORBIDDEN_KEY}`)
        if (Object.prototype.hasOwnProperty.call(object, key)) throw new MalformedFrameError(`${what} repeats key ${JSON.stringify(key)}`)
        object[key] = readAnyValue(decoder, what, depth + 1)
      }
      return object
    }
    default:
      throw new MalformedFrameError(`${what} has unknown value tag ${tag}`)
  }
}

/**
 * Reads a length-prefixed lib0 `any` value (JSON-like, bytes, bigint or undefined) of at most
 * `maxBytes`, or throws a typed error. Objects never carry a `__proto__` key or a repeated key,
 * and nesting is capped at `MAX_DECODED_VALUE_DEPTH`.
 */
export const readStrictAny = (decoder: decoding.Decoder, what: string, maxBytes: number): unknown => {
  const inner = decoding.createDecoder(readStrictBytes(decoder, what, maxBytes))
  const value = readAnyValue(inner, what, 0)
  if (remaining(inner) !== 0) throw new MalformedFrameError(`${what} has ${remaining(inner)} trailing bytes`)
  return value
}

/** Throws unless the decoder consumed every byte: trailing garbage is a malformed frame. */
export const expectEnd = (decoder: decoding.Decoder, what: string): void => {
  if (remaining(decoder) !== 0) throw new MalformedFrameError(`${remaining(decoder)} trailing bytes after ${what}`)
}
