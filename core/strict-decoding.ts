import * as decoding from 'lib0/decoding'
import { MalformedFrameError, TruncatedFrameError } from './errors.js'

// lib0's decoders trust their input (readUint8 reads past the end as `undefined`), so every read of
// peer- or client-supplied bytes goes through these checks and fails with a typed error instead.

/** Bytes left to read. */
export const remaining = (decoder: decoding.Decoder): number => decoder.arr.length - decoder.pos

/** Reads a variable-length unsigned integer or throws `TruncatedFrameError`. */
export const readStrictUint = (decoder: decoding.Decoder, what: string): number => {
  if (remaining(decoder) <= 0) throw new TruncatedFrameError(what)
  try {
    return decoding.readVarUint(decoder)
  } catch {
    throw new TruncatedFrameError(what)
  }
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

/** Reads a lib0 `any` value (JSON-like) of at most `maxBytes`, or throws a typed error. */
export const readStrictAny = (decoder: decoding.Decoder, what: string, maxBytes: number): unknown => {
  const bytes = readStrictBytes(decoder, what, maxBytes)
  const inner = decoding.createDecoder(bytes)
  let value: unknown
  try {
    value = decoding.readAny(inner)
  } catch {
    throw new MalformedFrameError(`${what} is not a valid encoded value`)
  }
  // readAny reads past the end as undefined instead of throwing, so check the bounds afterwards.
  if (inner.pos !== bytes.length) throw new MalformedFrameError(`${what} is not a valid encoded value`)
  return value
}

/** Throws unless the decoder consumed every byte: trailing garbage is a malformed frame. */
export const expectEnd = (decoder: decoding.Decoder, what: string): void => {
  if (remaining(decoder) !== 0) throw new MalformedFrameError(`${remaining(decoder)} trailing bytes after ${what}`)
}
