import { FrameDecodeError, RealmsyncError } from '../core/index.js'

/** A length prefix on a byte stream is not a safe integer: the stream cannot be resynchronised. */
export class MalformedLengthPrefixError extends FrameDecodeError {
  constructor(readonly peer: string | undefined) {
    super('length-prefix-malformed', `length prefix from ${peer ?? 'an unidentified peer'} is not a safe integer of at most 8 bytes`)
  }
}

/** A transport was configured in a way that cannot work (no admission rule, bad address, ...). */
export class TransportConfigError extends RealmsyncError {
  constructor(detail: string) {
    super('transport-config', detail)
  }
}

/** The peer key file in a data directory exists but cannot be read as a private key. */
export class PeerKeyFileError extends RealmsyncError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super('peer-key-file', `peer key file ${path} is unusable: ${detail}; refusing to replace it (that would change this peer's id)`)
  }
}
