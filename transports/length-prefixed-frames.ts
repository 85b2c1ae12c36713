import * as encoding from 'lib0/encoding'
import { MalformedLengthPrefixError } from './errors.js'

// A safe integer needs at most 8 groups of 7 bits (lib0 varuint); a longer prefix is garbage.
const MAX_PREFIX_BYTES = 8

/** The lib0 varuint length prefix of a frame of `length` bytes. */
export const encodeLengthPrefix = (length: number): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, length)
  return encoding.toUint8Array(encoder)
}

/** Prepends a lib0 varuint length to a frame, as one buffer (one write on the stream). */
export const encodeLengthPrefixed = (frame: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, frame.length)
  encoding.writeUint8Array(encoder, frame)
  return encoding.toUint8Array(encoder)
}

/** What a `LengthPrefixedDecoder` reports. */
export interface LengthPrefixedSink {
  /** One whole frame; the buffer is the receiver's to keep. */
  frame(bytes: Uint8Array): void
  /** A frame declared `size` bytes, over the limit: its bytes are skipped as they arrive, never buffered. */
  oversized(size: number, limit: number): void
}

/**
 * Splits a byte stream into lib0-varuint-length-prefixed frames, incrementally. Memory stays bounded
 * by the limit: an oversized frame is skipped without buffering it, so one bad frame costs the
 * bandwidth, not the connection. Only a prefix that is not a safe integer (the stream is out of
 * sync) throws `MalformedLengthPrefixError`; the caller must then drop the stream.
 */
export class LengthPrefixedDecoder {
  private prefixValue = 0
  private prefixMultiplier = 1
  private prefixBytes = 0
  private body: Uint8Array | undefined
  private filled = 0
  private skipping = 0
  private failed = false

  constructor(
    private readonly sink: LengthPrefixedSink,
    /** Current limit on one frame; read per frame so a link can raise it once a peer is admitted. */
    private readonly maxFrameBytes: () => number,
    private readonly peer?: string,
  ) {}

  /** Feeds one chunk of the stream. */
  push(chunk: Uint8Array): void {
    if (this.failed) return
    let pos = 0
    while (pos < chunk.length) {
      if (this.skipping > 0) {
        const take = Math.min(this.skipping, chunk.length - pos)
        this.skipping -= take
        pos += take
      } else if (this.body) {
        const take = Math.min(this.body.length - this.filled, chunk.length - pos)
        this.body.set(chunk.subarray(pos, pos + take), this.filled)
        this.filled += take
        pos += take
        if (this.filled === this.body.length) this.finishBody()
      } else {
        pos = this.readPrefixByte(chunk, pos)
      }
    }
  }

  private readPrefixByte(chunk: Uint8Array, pos: number): number {
    const byte = chunk[pos] as number
    this.prefixValue += (byte & 0x7f) * this.prefixMultiplier
    this.prefixBytes++
    if (this.prefixValue > Number.MAX_SAFE_INTEGER || (byte >= 0x80 && this.prefixBytes >= MAX_PREFIX_BYTES)) {
      this.failed = true
      throw new MalformedLengthPrefixError(this.peer)
    }
    if (byte >= 0x80) {
      this.prefixMultiplier *= 0x80
      return pos + 1
    }
    const size = this.prefixValue
    this.prefixValue = 0
    this.prefixMultiplier = 1
    this.prefixBytes = 0
    const limit = this.maxFrameBytes()
    if (size > limit) {
      this.skipping = size
      this.sink.oversized(size, limit)
    } else if (size === 0) {
      this.sink.frame(new Uint8Array(0))
    } else {
      this.body = new Uint8Array(size)
      this.filled = 0
    }
    return pos + 1
  }

  private finishBody(): void {
    const frame = this.body as Uint8Array
    this.body = undefined
    this.filled = 0
    this.sink.frame(frame)
  }
}
