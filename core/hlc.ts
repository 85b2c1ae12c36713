import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ClockDriftError, MalformedFrameError } from './errors.js'
import type { Millis } from './clock.js'
import { readStrictString, readStrictUint } from './strict-decoding.js'

/**
 * A hybrid logical clock timestamp (Kulkarni et al., 2014): physical milliseconds, a counter for
 * events within the same millisecond, and the peer id that breaks remaining ties, so every pair of
 * timestamps from different peers is strictly ordered.
 */
export interface HlcTimestamp {
  /** Physical component, in milliseconds on the injected clock's time base. */
  readonly wallMs: Millis
  /** Logical counter within `wallMs`. */
  readonly counter: number
  /** The peer that issued the timestamp; the final tie-break. */
  readonly peer: string
}

/** What to do with a remote time that is too far ahead of local physical time. */
export type DriftPolicy = 'reject' | 'clamp'

/** Options for a hybrid logical clock. */
export interface HlcOptions {
  /** Largest tolerated lead of a remote wall time over local physical time. Default 60 000 ms. */
  readonly maxDriftMs?: Millis
  /** `reject` throws `ClockDriftError`; `clamp` caps the remote time at now + maxDrift. Default `reject`. */
  readonly driftPolicy?: DriftPolicy
}

/**
 * Largest logical counter a clock issues. Past it the clock moves its wall time on by one
 * millisecond instead, so a peer that sends a huge counter cannot push ours past 2^53, where
 * `counter + 1 === counter` and timestamps would stop increasing.
 */
export const MAX_HLC_COUNTER = 0xffff_ffff

/** Longest peer id a timestamp may carry on the wire, in UTF-8 bytes. */
export const MAX_HLC_PEER_BYTES = 256

/** The zero timestamp: before every real one. */
export const HLC_ZERO: HlcTimestamp = Object.freeze({ wallMs: 0, counter: 0, peer: '' })

/** Total order over timestamps: wall time, then counter, then peer id. */
export const compareHlc = (a: HlcTimestamp, b: HlcTimestamp): -1 | 0 | 1 => {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1
  if (a.peer === b.peer) return 0
  return a.peer < b.peer ? -1 : 1
}

/** A hybrid logical clock for one peer, reading physical time from an injected source. */
export class HybridLogicalClock {
  private wallMs: Millis = 0
  private counter = 0
  /** Largest tolerated lead of a remote wall time over local physical time. */
  readonly maxDriftMs: Millis
  /** What `receive` does with a remote time further ahead than `maxDriftMs`. */
  readonly driftPolicy: DriftPolicy

  constructor(
    readonly peer: string,
    private readonly physicalNow: () => Millis,
    options: HlcOptions = {},
  ) {
    this.maxDriftMs = options.maxDriftMs ?? 60_000
    this.driftPolicy = options.driftPolicy ?? 'reject'
  }

  /** The latest timestamp issued or observed, without advancing the clock. */
  peek(): HlcTimestamp {
    return { wallMs: this.wallMs, counter: this.counter, peer: this.peer }
  }

  /** Advances the clock for a local event and returns its timestamp. */
  tick(): HlcTimestamp {
    const pt = this.physicalTime()
    if (pt > this.wallMs) {
      this.wallMs = pt
      this.counter = 0
    } else {
      this.counter++
    }
    this.carryCounter()
    return this.peek()
  }

  /**
   * Merges a remote timestamp on receive and returns the new local timestamp, which is after both.
   * A remote wall time more than `maxDriftMs` ahead is rejected or clamped, so one peer with a bad
   * clock cannot drag every other peer's clock into the future.
   */
  receive(remote: HlcTimestamp): HlcTimestamp {
    if (!isValidHlc(remote)) {
      // A NaN or negative wall time would poison this clock for good (Math.max of NaN is NaN).
      throw new RangeError(`invalid hlc timestamp from peer ${String(remote.peer)}: ${remote.wallMs}.${remote.counter}`)
    }
    const pt = this.physicalTime()
    let remoteWall = remote.wallMs
    let remoteCounter = remote.counter
    if (remoteWall - pt > this.maxDriftMs) {
      if (this.driftPolicy === 'reject') throw new ClockDriftError(remote.wallMs, pt, this.maxDriftMs, remote.peer)
      remoteWall = pt + this.maxDriftMs
      remoteCounter = 0
    }
    const wall = Math.max(this.wallMs, remoteWall, pt)
    if (wall === this.wallMs && wall === remoteWall) {
      this.counter = Math.max(this.counter, remoteCounter) + 1
    } else if (wall === this.wallMs) {
      this.counter++
    } else if (wall === remoteWall) {
      this.counter = remoteCounter + 1
    } else {
      this.counter = 0
    }
    this.wallMs = wall
    this.carryCounter()
    return this.peek()
  }

  // Timestamps cross the wire as varuints, which hold whole milliseconds only: a simulator or a
  // monotonic clock may report fractions, and a stamp the receiver decodes differently from what
  // the sender kept would let replicas disagree on which write won.
  private physicalTime(): Millis {
    return Math.floor(this.physicalNow())
  }

  private carryCounter(): void {
    if (this.counter > MAX_HLC_COUNTER) {
      this.wallMs++
      this.counter = 0
    }
  }
}

/** Whether a timestamp has whole, non-negative, safe wall time and counter and a string peer id. */
export const isValidHlc = (ts: HlcTimestamp): boolean =>
  Number.isSafeInteger(ts.wallMs) && ts.wallMs >= 0 && Number.isSafeInteger(ts.counter) && ts.counter >= 0 && typeof ts.peer === 'string'

const utf8 = new TextEncoder()
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Whether a timestamp survives `encodeHlc` and `decodeHlc` unchanged: valid, with a well-formed
 * peer id of at most `MAX_HLC_PEER_BYTES` UTF-8 bytes.
 */
export const isEncodableHlc = (ts: HlcTimestamp): boolean =>
  isValidHlc(ts) &&
  (ts.peer.length * 3 <= MAX_HLC_PEER_BYTES || utf8.encode(ts.peer).length <= MAX_HLC_PEER_BYTES) &&
  !LONE_SURROGATE.test(ts.peer)

/**
 * Writes a timestamp with lib0 encoding. Throws `MalformedFrameError` unless `isEncodableHlc`:
 * varuint encoding would silently truncate a fractional time, and the receiver would refuse the
 * rest and penalise us.
 */
export const encodeHlc = (encoder: encoding.Encoder, ts: HlcTimestamp): void => {
  if (!isEncodableHlc(ts)) {
    throw new MalformedFrameError(
      `cannot encode hlc timestamp ${ts.wallMs}.${ts.counter} of peer ${String(ts.peer)}: times must be whole, non-negative and in range, the peer id well-formed and at most ${MAX_HLC_PEER_BYTES} bytes`,
    )
  }
  encoding.writeVarUint(encoder, ts.wallMs)
  encoding.writeVarUint(encoder, ts.counter)
  encoding.writeVarString(encoder, ts.peer)
}

/** Reads a timestamp written by `encodeHlc`; throws a `FrameDecodeError` subclass on bad input. */
export const decodeHlc = (decoder: decoding.Decoder): HlcTimestamp => {
  const wallMs = readStrictUint(decoder, 'hlc wall time')
  const counter = readStrictUint(decoder, 'hlc counter')
  const peer = readStrictString(decoder, 'hlc peer', MAX_HLC_PEER_BYTES)
  return { wallMs, counter, peer }
}
