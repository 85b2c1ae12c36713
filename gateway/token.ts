import { SignJWT } from 'jose'
import { RealmsyncError, type Clock } from '../core/index.js'
import { grantsFrom } from './permissions.js'
import { secretBytes } from './secret.js'

/** What a development token grants. */
export interface DevTokenOptions {
  /** The player id (`sub`). */
  readonly player: string
  /** Read patterns, e.g. `world/*`. */
  readonly read: readonly string[]
  /** Write patterns; each must lie under `player/<player>/`. */
  readonly write: readonly string[]
  /** Lifetime in seconds, a positive integer. */
  readonly ttlSeconds: number
  /** Shared HS256 secret, at least 32 bytes. */
  readonly secret: string | Uint8Array
  /** Time source; defaults to the system time. */
  readonly clock?: Pick<Clock, 'now'>
}

/**
 * Signs an HS256 token for local development and tests. Refuses (with the same typed errors the
 * verifier would raise) anything `verifyToken` would refuse: weak secrets, bad patterns, writes
 * outside the player's own documents.
 */
export const signDevToken = async (options: DevTokenOptions): Promise<string> => {
  const key = secretBytes(options.secret)
  if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds <= 0) {
    throw new RealmsyncError('bad-ttl', `the token lifetime must be a positive whole number of seconds, got ${options.ttlSeconds}`)
  }
  grantsFrom({ player: options.player, read: options.read, write: options.write })
  const issuedAt = Math.floor((options.clock?.now() ?? Date.now()) / 1000)
  return new SignJWT({ read: [...options.read], write: [...options.write] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.player)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .sign(key)
}
