import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { FrameTooLargeError, MalformedFrameError, UnsupportedVersionError } from './errors.js'
import type { EphemeralValue } from './ephemeral-types.js'
import { decodeIntentResult, encodeIntentResult, INTENT_LIMITS, type IntentResult } from './intent.js'
import { expectEnd, readStrictAny, readStrictByte, readStrictBytes, readStrictString, readStrictUint, remaining } from './strict-decoding.js'
import { isEphemeralValue, isWireName, MAX_NAME_BYTES } from './wire-codec.js'

/**
 * The batch frame of the intent channel, server to client: everything a gateway has for one client
 * at one flush (intent answers, interest-filtered ephemeral changes) in one binary WebSocket
 * message, so a client costs the gateway one socket write per flush rather than one per answer and
 * one per ephemeral batch. lib0 encoding:
 *
 *   u8       SESSION_BATCH_VERSION (2; a single encoded IntentResult starts with its codec version 1)
 *   varuint  item count (at least 1)
 *   item*    u8 kind, then
 *     0 answer:     varUint8Array  the `encodeIntentResult` bytes
 *     1 ephemeral:  varuint entry count, entry*, varuint gone count, varString entity*
 *                   entry: varString entity, varString field, varUint8Array lib0 `writeAny` value
 *
 * Items are applied in order; a gateway puts ephemeral items before answers, so when an answer
 * resolves on the client, the state its intent changed is already in view.
 */

/** First byte of a batch frame; a single intent result (the older frame, still sent to clients that did not ask for batches) starts with 1. */
export const SESSION_BATCH_VERSION = 2

/** Limits of the batch frame. */
export const SESSION_BATCH_LIMITS = Object.freeze({
  /** Largest batch frame a client decodes, in bytes. */
  maxFrameBytes: 16 * 1024 * 1024,
  /** A sender starts a new frame once one holds this many bytes, so frames stay far below the limit. */
  softFrameBytes: 256 * 1024,
})

/** One ephemeral register in a batch. */
export interface SessionBatchRegister {
  readonly entity: string
  readonly field: string
  readonly value: EphemeralValue
}

/** An intent's answer. */
export interface SessionBatchAnswer {
  readonly kind: 'answer'
  readonly result: IntentResult
}

/** Ephemeral changes inside the client's interest area, and entities that left it. */
export interface SessionBatchEphemeral {
  readonly kind: 'ephemeral'
  readonly entries: readonly SessionBatchRegister[]
  readonly gone: readonly string[]
}

/** One item of a batch frame. */
export type SessionBatchItem = SessionBatchAnswer | SessionBatchEphemeral

/**
 * An item already encoded, for senders that share the bytes of one register among the many clients
 * that see it: `entries` from `encodeSessionBatchRegister`, `bytes` from `encodeIntentResult`.
 */
export type EncodedSessionBatchItem =
  | { readonly kind: 'answer'; readonly bytes: Uint8Array }
  | { readonly kind: 'ephemeral'; readonly entries: readonly Uint8Array[]; readonly gone: readonly string[] }

const KIND_ANSWER = 0
const KIND_EPHEMERAL = 1

// One encoder reused for every register: a fresh lib0 encoder starts with a 100-byte buffer of its
// own, and registers are encoded for every flush of a busy peer. Reset by hand (lib0's fields are
// public); nothing it calls can re-enter this function.
const scratch = encoding.createEncoder()
const scratchBytes = (): Uint8Array => {
  const bytes = encoding.toUint8Array(scratch)
  scratch.cpos = 0
  scratch.bufs = []
  return bytes
}

/** Encodes one register for `encodeSessionBatchFrame`; throws `MalformedFrameError` for what a client would refuse. */
export const encodeSessionBatchRegister = (register: SessionBatchRegister): Uint8Array => {
  if (!isWireName(register.entity) || !isWireName(register.field)) {
    throw new MalformedFrameError(`ephemeral entity and field names must be well-formed and at most ${MAX_NAME_BYTES} bytes`)
  }
  if (!isEphemeralValue(register.value)) throw new MalformedFrameError(`ephemeral value of ${register.entity}.${register.field} has an unsupported type`)
  encoding.writeAny(scratch, register.value as Parameters<typeof encoding.writeAny>[1])
  const value = scratchBytes()
  encoding.writeVarString(scratch, register.entity)
  encoding.writeVarString(scratch, register.field)
  encoding.writeVarUint8Array(scratch, value)
  return scratchBytes()
}

/** Encoded size of an item, as `encodeSessionBatchFrame` writes it (within a few bytes of length prefixes). */
export const encodedItemBytes = (item: EncodedSessionBatchItem): number => {
  if (item.kind === 'answer') return item.bytes.length + 4
  let bytes = 8
  for (const entry of item.entries) bytes += entry.length
  for (const entity of item.gone) bytes += entity.length * 3 + 2
  return bytes
}

const utf8 = new TextEncoder()

/** Bytes of a lib0 `writeVarUint`. */
const varUintBytes = (value: number): number => {
  let bytes = 1
  while (value > 0x7f) {
    value = Math.floor(value / 0x80)
    bytes++
  }
  return bytes
}

/** Writes a lib0 `writeVarUint` at `at`; returns the position after it. */
const putVarUint = (target: Uint8Array, at: number, value: number): number => {
  while (value > 0x7f) {
    target[at++] = 0x80 | (value & 0x7f)
    value = Math.floor(value / 0x80)
  }
  target[at++] = value
  return at
}

/**
 * Writes pre-encoded items as one batch frame; throws `FrameTooLargeError` past
 * `SESSION_BATCH_LIMITS.maxFrameBytes`. The frame is sized first and written once: it is built for
 * every client at every flush, and a growing encoder would copy each part twice. `allocate` gives
 * the frame's memory (a server passes a pooled allocator such as Node's `Buffer.allocUnsafe`: a
 * small typed array of its own costs an off-heap allocation); every byte of it is written.
 */
export const encodeSessionBatchFrame = (items: readonly EncodedSessionBatchItem[], allocate: (bytes: number) => Uint8Array = (bytes) => new Uint8Array(bytes)): Uint8Array => {
  if (items.length === 0) throw new MalformedFrameError('a batch frame holds at least one item')
  const goneBytes: Uint8Array[][] = []
  let size = 1 + varUintBytes(items.length)
  for (const item of items) {
    if (item.kind === 'answer') {
      size += 1 + varUintBytes(item.bytes.length) + item.bytes.length
      continue
    }
    size += 1 + varUintBytes(item.entries.length) + varUintBytes(item.gone.length)
    for (const entry of item.entries) size += entry.length
    if (item.gone.length === 0) continue
    const names = item.gone.map((entity) => {
      if (!isWireName(entity)) throw new MalformedFrameError(`entity names must be well-formed and at most ${MAX_NAME_BYTES} bytes`)
      return utf8.encode(entity)
    })
    for (const name of names) size += varUintBytes(name.length) + name.length
    goneBytes.push(names)
  }
  if (size > SESSION_BATCH_LIMITS.maxFrameBytes) throw new FrameTooLargeError(size, SESSION_BATCH_LIMITS.maxFrameBytes)
  const frame = allocate(size)
  frame[0] = SESSION_BATCH_VERSION
  let at = putVarUint(frame, 1, items.length)
  let goneIndex = 0
  for (const item of items) {
    if (item.kind === 'answer') {
      frame[at++] = KIND_ANSWER
      at = putVarUint(frame, at, item.bytes.length)
      frame.set(item.bytes, at)
      at += item.bytes.length
      continue
    }
    frame[at++] = KIND_EPHEMERAL
    at = putVarUint(frame, at, item.entries.length)
    for (const entry of item.entries) {
      frame.set(entry, at)
      at += entry.length
    }
    at = putVarUint(frame, at, item.gone.length)
    if (item.gone.length === 0) continue
    for (const name of goneBytes[goneIndex++] as Uint8Array[]) {
      at = putVarUint(frame, at, name.length)
      frame.set(name, at)
      at += name.length
    }
  }
  // An unzeroed allocation must be written whole: a sizing slip would leak old memory to a client.
  if (at !== size) throw new Error(`batch frame sized ${size} bytes but ${at} were written`)
  return frame
}

/** Encodes items as one batch frame (answers through `encodeIntentResult`, which checks them). */
export const encodeSessionBatch = (items: readonly SessionBatchItem[]): Uint8Array =>
  encodeSessionBatchFrame(
    items.map((item): EncodedSessionBatchItem =>
      item.kind === 'answer' ? { kind: 'answer', bytes: encodeIntentResult(item.result) } : { kind: 'ephemeral', entries: item.entries.map(encodeSessionBatchRegister), gone: item.gone },
    ),
  )

/** Whether a binary frame of the intent channel is a batch (rather than a single intent result). */
export const isSessionBatch = (bytes: Uint8Array): boolean => bytes.length > 0 && bytes[0] === SESSION_BATCH_VERSION

const readRegister = (decoder: decoding.Decoder): SessionBatchRegister => {
  const entity = readStrictString(decoder, 'ephemeral entity', MAX_NAME_BYTES)
  const field = readStrictString(decoder, 'ephemeral field', MAX_NAME_BYTES)
  const value = readStrictAny(decoder, 'ephemeral value', remaining(decoder))
  if (!isEphemeralValue(value)) throw new MalformedFrameError('ephemeral value has an unsupported type')
  return { entity, field, value }
}

/**
 * Decodes a batch frame strictly: a wrong version, a truncated or oversized frame, an unknown item
 * kind, a count the frame cannot hold, or trailing bytes raise a `FrameDecodeError` subclass and
 * yield nothing.
 */
export const decodeSessionBatch = (bytes: Uint8Array): SessionBatchItem[] => {
  if (bytes.length > SESSION_BATCH_LIMITS.maxFrameBytes) throw new FrameTooLargeError(bytes.length, SESSION_BATCH_LIMITS.maxFrameBytes)
  const decoder = decoding.createDecoder(bytes)
  const version = readStrictByte(decoder, 'batch version')
  if (version !== SESSION_BATCH_VERSION) throw new UnsupportedVersionError(version, SESSION_BATCH_VERSION)
  const count = readStrictUint(decoder, 'batch item count')
  // Every item takes at least 2 bytes: refuse a count the frame cannot hold before looping over it.
  if (count === 0 || count * 2 > remaining(decoder)) throw new MalformedFrameError(`batch item count ${count} does not fit the frame`)
  const items: SessionBatchItem[] = []
  for (let i = 0; i < count; i++) {
    const kind = readStrictByte(decoder, 'batch item kind')
    if (kind === KIND_ANSWER) {
      items.push({ kind: 'answer', result: decodeIntentResult(readStrictBytes(decoder, 'batch answer', INTENT_LIMITS.maxFrameBytes)) })
      continue
    }
    if (kind !== KIND_EPHEMERAL) throw new MalformedFrameError(`unknown batch item kind ${kind}`)
    const entryCount = readStrictUint(decoder, 'ephemeral entry count')
    // An entry takes at least 4 bytes (two name lengths, a value length, a value tag).
    if (entryCount * 4 > remaining(decoder)) throw new MalformedFrameError(`ephemeral entry count ${entryCount} does not fit the frame`)
    const entries: SessionBatchRegister[] = []
    for (let e = 0; e < entryCount; e++) entries.push(readRegister(decoder))
    const goneCount = readStrictUint(decoder, 'gone count')
    if (goneCount > remaining(decoder)) throw new MalformedFrameError(`gone count ${goneCount} does not fit the frame`)
    const gone: string[] = []
    for (let g = 0; g < goneCount; g++) gone.push(readStrictString(decoder, 'gone entity', MAX_NAME_BYTES))
    items.push({ kind: 'ephemeral', entries, gone })
  }
  expectEnd(decoder, 'batch frame')
  return items
}
