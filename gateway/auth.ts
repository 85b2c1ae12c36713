import { createLocalJWKSet, errors, importSPKI, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { RealmsyncError, type Clock } from '../core/index.js'
import { ForbiddenGrantError, grantsFrom, PermissionPatternError, type Grants } from './permissions.js'
import { secretBytes } from './secret.js'

/**
 * Client authentication: a JWT names the player (`sub`) and the document patterns they may `read`
 * and `write` (string arrays). Verification uses jose; unsigned (`alg: none`) tokens are never
 * accepted, and each key source accepts only its own family of algorithms, so a public key can
 * never be misused as an HMAC secret.
 *
 * Refusals carry the WebSocket close code the gateway closes with:
 * - 4401 (unauthorized): `missing-token`, `bad-token`, `expired-token`: get a new token and retry;
 * - 4403 (forbidden): `forbidden-grant`: the token is genuine but grants a write outside the
 *   player's own `player/<id>/` documents; a new token from the same issuer will not help.
 * Codes 4000-4999 are for applications (RFC 6455 §7.4.2); 4401/4403 mirror HTTP 401/403.
 */

/** Why a connection was refused. */
export type AuthErrorCode = 'missing-token' | 'bad-token' | 'expired-token' | 'forbidden-grant'

/** WebSocket close code for a missing, bad or expired token. */
export const CLOSE_UNAUTHORIZED = 4401
/** WebSocket close code for a token that grants what its player may not have. */
export const CLOSE_FORBIDDEN = 4403

/** Longest close reason a WebSocket close frame can carry, in UTF-8 bytes (RFC 6455 §5.5). */
const MAX_CLOSE_REASON_BYTES = 123

/** A token was missing or refused; carries the WebSocket close code and reason to answer with. */
export class AuthError extends RealmsyncError {
  declare readonly code: AuthErrorCode
  /** 4401 for missing, bad or expired tokens; 4403 for forbidden grants. */
  readonly closeCode: typeof CLOSE_UNAUTHORIZED | typeof CLOSE_FORBIDDEN
  /** A short reason for the close frame (at most 123 bytes), e.g. `expired-token: token expired`. */
  readonly closeReason: string

  constructor(code: AuthErrorCode, detail: string) {
    super(code, `${code}: ${detail}`)
    this.closeCode = code === 'forbidden-grant' ? CLOSE_FORBIDDEN : CLOSE_UNAUTHORIZED
    this.closeReason = truncateUtf8(`${code}: ${detail}`, MAX_CLOSE_REASON_BYTES)
  }
}

const truncateUtf8 = (text: string, maxBytes: number): string => {
  const encoder = new TextEncoder()
  if (encoder.encode(text).length <= maxBytes) return text
  let out = ''
  for (const char of text) {
    if (encoder.encode(out + char).length > maxBytes) break
    out += char
  }
  return out
}

/** Where verification keys come from. */
export type KeySource =
  /** A shared HS256 secret of at least 32 bytes. */
  | { readonly kind: 'secret'; readonly secret: string | Uint8Array }
  /** A public key as SPKI PEM, with the one algorithm it verifies (e.g. `ES256`, `RS256`, `EdDSA`). */
  | { readonly kind: 'public-key'; readonly pem: string; readonly algorithm: string }
  /** A JSON Web Key Set held locally (no network fetch); keys are picked by `kid` and `alg`. */
  | { readonly kind: 'jwks'; readonly jwks: JSONWebKeySet; readonly algorithms?: readonly string[] }

/** Options for `verifyToken`. */
export interface VerifyOptions {
  /** Allowed clock skew for exp, nbf and iat, in seconds. Default 5. */
  readonly clockToleranceSeconds?: number
  /** Time source; defaults to the system time. The simulator passes virtual time. */
  readonly clock?: Pick<Clock, 'now'>
}

/** Asymmetric algorithms a JWKS may use by default; symmetric ones are excluded on purpose. */
export const DEFAULT_JWKS_ALGORITHMS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']

/** Largest number of patterns a token may carry per list; bounds the work of every permission check. */
export const MAX_GRANT_PATTERNS = 64

const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5

/** A key source made ready for repeated verification (PEM parsed once, JWKS indexed once). */
export interface PreparedKey {
  readonly key: Uint8Array | CryptoKey | JWTVerifyGetKey
  readonly algorithms: string[]
}

/** Parses a key source once; throws on an unusable key (a configuration error, not an `AuthError`). */
export const prepareKey = async (source: KeySource): Promise<PreparedKey> => {
  switch (source.kind) {
    case 'secret':
      return { key: secretBytes(source.secret), algorithms: ['HS256'] }
    case 'public-key':
      if (source.algorithm.startsWith('HS') || source.algorithm === 'none') {
        throw new RealmsyncError('bad-key', `a public key cannot verify '${source.algorithm}' tokens`)
      }
      return { key: await importSPKI(source.pem, source.algorithm), algorithms: [source.algorithm] }
    case 'jwks':
      return { key: createLocalJWKSet(source.jwks), algorithms: [...(source.algorithms ?? DEFAULT_JWKS_ALGORITHMS)] }
  }
}

const stringList = (payload: JWTPayload, claim: 'read' | 'write'): string[] => {
  const value = payload[claim]
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new AuthError('bad-token', `claim '${claim}' must be an array of strings`)
  }
  if (value.length > MAX_GRANT_PATTERNS) throw new AuthError('bad-token', `claim '${claim}' has more than ${MAX_GRANT_PATTERNS} patterns`)
  return value
}

/** Turns a jose failure into an `AuthError` without echoing token contents. */
const refusal = (error: unknown): AuthError => {
  if (error instanceof AuthError) return error
  if (error instanceof errors.JWTExpired) return new AuthError('expired-token', 'token expired')
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new AuthError('bad-token', error.claim === 'nbf' ? 'token not yet valid (nbf)' : `claim check failed (${error.claim})`)
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthError('bad-token', 'signature does not verify')
  if (error instanceof errors.JOSEAlgNotAllowed) return new AuthError('bad-token', 'algorithm not allowed')
  if (error instanceof errors.JWKSNoMatchingKey) return new AuthError('bad-token', 'no matching key')
  return new AuthError('bad-token', 'malformed token')
}

/**
 * Verifies a token and returns what its player may read and write. Throws `AuthError`:
 * `missing-token`, `bad-token` (signature, algorithm, shape, claims, patterns), `expired-token`,
 * `forbidden-grant` (a write pattern outside `player/<sub>/`).
 */
export const verifyToken = async (token: string | undefined, keySource: KeySource | PreparedKey, options: VerifyOptions = {}): Promise<Grants> => {
  if (token === undefined || token.length === 0) throw new AuthError('missing-token', 'no token (token query parameter or Authorization: Bearer header)')
  const prepared = 'kind' in keySource ? await prepareKey(keySource) : keySource
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS
  const nowMs = options.clock?.now() ?? Date.now()
  let payload: JWTPayload
  try {
    const verifyOptions = { algorithms: prepared.algorithms, clockTolerance: tolerance, currentDate: new Date(nowMs), requiredClaims: ['sub', 'exp', 'iat'] }
    // jose's overloads split on key kind; the branch keeps each call precisely typed.
    const result = typeof prepared.key === 'function' ? await jwtVerify(token, prepared.key, verifyOptions) : await jwtVerify(token, prepared.key, verifyOptions)
    payload = result.payload
  } catch (error) {
    throw refusal(error)
  }
  // jose checks iat only against a maximum age; a token issued in the future is refused here.
  if (typeof payload.iat === 'number' && payload.iat > nowMs / 1000 + tolerance) throw new AuthError('bad-token', 'token issued in the future')
  try {
    return grantsFrom({
      player: payload.sub as string,
      read: stringList(payload, 'read'),
      write: stringList(payload, 'write'),
      expiresAt: (payload.exp as number) * 1000,
    })
  } catch (error) {
    if (error instanceof ForbiddenGrantError) throw new AuthError('forbidden-grant', error.message)
    if (error instanceof PermissionPatternError) throw new AuthError('bad-token', error.message)
    throw refusal(error)
  }
}

/** What an authentication hook sees of a connection request. */
export interface AuthRequest {
  /** The token the gateway found (see `tokenFromRequest`), if any. */
  readonly token: string | undefined
  /** The upgrade request's headers, lower-cased as Node delivers them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/** Replaceable authentication hook: resolves to grants or rejects with an `AuthError`. */
export type Authenticate = (request: AuthRequest) => Promise<Grants>

const headerValue = (headers: AuthRequest['headers'], name: string): string | undefined => {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue
    return Array.isArray(value) ? value[0] : value
  }
  return undefined
}

/** The token of an `Authorization: Bearer <token>` header, if there is one. */
export const bearerToken = (headers: AuthRequest['headers']): string | undefined => {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/iu.exec(headerValue(headers, 'authorization') ?? '')
  return match?.[1]
}

/**
 * The token of a connection request: the `Authorization: Bearer` header if present, else the
 * `token` query parameter of `url` (what y-websocket's `params` option sends). `url` may be a
 * path such as `/world/1?token=...` as Node's request.url gives it.
 */
export const tokenFromRequest = (url: string | undefined, headers: AuthRequest['headers']): string | undefined => {
  const fromHeader = bearerToken(headers)
  if (fromHeader !== undefined) return fromHeader
  if (url === undefined) return undefined
  let parsed: URL
  try {
    parsed = new URL(url, 'http://gateway.invalid')
  } catch {
    return undefined
  }
  const token = parsed.searchParams.get('token')
  return token === null || token.length === 0 ? undefined : token
}

/**
 * The default hook: verifies `request.token`, or else the Bearer header, against `keySource`.
 * The key is prepared once, on first use.
 */
export const defaultAuthenticate = (keySource: KeySource, options: VerifyOptions = {}): Authenticate => {
  let prepared: Promise<PreparedKey> | undefined
  return async (request) => {
    prepared ??= prepareKey(keySource)
    return verifyToken(request.token ?? bearerToken(request.headers), await prepared, options)
  }
}
