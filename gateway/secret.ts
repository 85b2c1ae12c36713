import { RealmsyncError } from '../core/index.js'

/** Shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash output size). */
export const MIN_SECRET_BYTES = 32

/** The environment variable the gateway and `realmsync token` read the shared secret from. */
export const AUTH_SECRET_ENV = 'REALMSYNC_AUTH_SECRET'

/** A shared secret is too short to sign or verify tokens safely. */
export class WeakSecretError extends RealmsyncError {
  constructor(bytes: number) {
    super('weak-secret', `the auth secret is ${bytes} bytes; it must be at least ${MIN_SECRET_BYTES} bytes (for example: openssl rand -base64 32)`)
  }
}

/** The secret as bytes; throws `WeakSecretError` when it is shorter than `MIN_SECRET_BYTES`. */
export const secretBytes = (secret: string | Uint8Array): Uint8Array => {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  if (bytes.length < MIN_SECRET_BYTES) throw new WeakSecretError(bytes.length)
  return bytes
}
