/** Base class of every error realmsync raises on purpose; `code` is stable for programs to match on. */
export class RealmsyncError extends Error {
  /** A stable, machine-readable error code such as `frame-too-large`. */
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = new.target.name
    this.code = code
  }
}

/** A frame or message could not be decoded; the frame is dropped and nothing is applied. */
export class FrameDecodeError extends RealmsyncError {}

/** A frame is larger than the configured hard limit. */
export class FrameTooLargeError extends FrameDecodeError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super('frame-too-large', `frame of ${size} bytes exceeds the ${limit}-byte limit`)
  }
}

/** A frame ended before its declared content did. */
export class TruncatedFrameError extends FrameDecodeError {
  constructor(what: string) {
    super('frame-truncated', `frame truncated while reading ${what}`)
  }
}

/** A frame names a wire-format version this build does not speak. */
export class UnsupportedVersionError extends FrameDecodeError {
  constructor(
    readonly version: number,
    readonly supported: number,
  ) {
    super('frame-version', `frame has wire version ${version}; this build speaks version ${supported}`)
  }
}

/** A frame names a message type this build does not know. */
export class UnknownMessageTypeError extends FrameDecodeError {
  constructor(readonly messageType: number) {
    super('frame-unknown-type', `frame has unknown message type ${messageType}`)
  }
}

/** A frame is structurally valid but a field breaks a rule (bad value, trailing bytes, ...). */
export class MalformedFrameError extends FrameDecodeError {
  constructor(detail: string) {
    super('frame-malformed', `malformed frame: ${detail}`)
  }
}

/** A remote hybrid-logical-clock time is further ahead of local physical time than allowed. */
export class ClockDriftError extends RealmsyncError {
  constructor(
    readonly remoteWallMs: number,
    readonly localWallMs: number,
    readonly maxDriftMs: number,
    readonly peer: string,
  ) {
    super(
      'clock-drift',
      `remote time from peer ${peer} is ${remoteWallMs - localWallMs} ms ahead of local time (limit ${maxDriftMs} ms)`,
    )
  }
}

/** A Yjs update (from a peer, a client or storage) could not be decoded; nothing was applied. */
export class InvalidUpdateError extends RealmsyncError {
  constructor(
    readonly doc: string,
    detail: string,
  ) {
    super('invalid-update', `invalid update for document ${doc}: ${detail}`)
  }
}
