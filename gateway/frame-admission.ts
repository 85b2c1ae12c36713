// Read at call time, never at load: client-connection.ts imports this module too.
import { CLOSE_POLICY_VIOLATION, CLOSE_UNSUPPORTED_DATA, type ConnectionCloseKind, type ConnectionLimits } from './client-connection.js'
import type { TokenBucket } from './token-bucket.js'


/** What `admitFrame` needs from a connection: its rate bucket, its limits and a way to close it. */
export interface FrameGate {
  readonly bucket: TokenBucket
  readonly limits: ConnectionLimits
  closeWith(code: number, reason: string, kind: ConnectionCloseKind): void
}

/**
 * The checks every client frame passes before it is decoded, on document and intent connections
 * alike: the connection's rate limit, then binary only. Returns the bytes, or undefined after
 * closing the connection with the reason.
 */
export const admitFrame = (gate: FrameGate, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, nowMs: number): Uint8Array | undefined => {
  if (!gate.bucket.take(nowMs)) {
    gate.closeWith(CLOSE_POLICY_VIOLATION, `rate-limit: more than ${gate.limits.messagesPerSecond} messages/s (burst ${gate.limits.burstMessages})`, 'rate-limited')
    return undefined
  }
  if (!isBinary) {
    gate.closeWith(CLOSE_UNSUPPORTED_DATA, 'unsupported-data: text frames are not part of the protocol', 'malformed')
    return undefined
  }
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}
