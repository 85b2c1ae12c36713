// Read at call time, never at load: client-connection.ts imports this module too.
import { CLOSE_POLICY_VIOLATION, CLOSE_UNSUPPORTED_DATA, type ConnectionCloseKind, type ConnectionLimits } from './client-connection.js'
import type { TokenBucket } from './token-bucket.js'


/** What `admitFrame` needs from a connection: its rate bucket, its limits and a way to close it. */
export interface FrameGate {
  readonly bucket: TokenBucket
  readonly limits: ConnectionLimits
  closeWith(code: number, reason: string, kind: ConnectionCloseKind): void
}

/** The connection's rate limit alone; false after closing the connection for going over it. */
export const admitRate = (gate: FrameGate, nowMs: number): boolean => {
  if (gate.bucket.take(nowMs)) return true
  gate.closeWith(CLOSE_POLICY_VIOLATION, `rate-limit: more than ${gate.limits.messagesPerSecond} messages/s (burst ${gate.limits.burstMessages})`, 'rate-limited')
  return false
}

/** The bytes of a frame as `ws` hands them over. */
export const frameBytes = (data: Buffer | ArrayBuffer | Buffer[]): Uint8Array => {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * The checks every client frame passes before it is decoded, on document and intent connections
 * alike: the connection's rate limit, then binary only. Returns the bytes, or undefined after
 * closing the connection with the reason.
 */
export const admitFrame = (gate: FrameGate, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, nowMs: number): Uint8Array | undefined => {
  if (!admitRate(gate, nowMs)) return undefined
  if (!isBinary) {
    gate.closeWith(CLOSE_UNSUPPORTED_DATA, 'unsupported-data: text frames are not part of the protocol', 'malformed')
    return undefined
  }
  return frameBytes(data)
}
