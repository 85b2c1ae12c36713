import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  AuthError,
  bearerToken,
  canRead,
  canWrite,
  CLOSE_FORBIDDEN,
  CLOSE_UNAUTHORIZED,
  defaultAuthenticate,
  prepareKey,
  signDevToken,
  tokenFromRequest,
  verifyToken,
  WeakSecretError,
  type AuthErrorCode,
  type KeySource,
} from '../../gateway/index.js'

const SECRET = 'a-development-secret-of-32-bytes!'
const OTHER_SECRET = 'another-secret-that-is-long-enough'
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0)
const clock = { now: () => NOW }
const secretSource: KeySource = { kind: 'secret', secret: SECRET }

const devToken = (overrides: Partial<Parameters<typeof signDevToken>[0]> = {}) =>
  signDevToken({ player: 'p1', read: ['world/*'], write: ['player/p1/*'], ttlSeconds: 60, secret: SECRET, clock, ...overrides })

/** Signs arbitrary claims, for tokens signDevToken refuses to make. */
const rawToken = (claims: JWTPayload, secret = SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret))

const seconds = NOW / 1000

const refusal = async (promise: Promise<unknown>): Promise<AuthError> => {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError)
    return error as AuthError
  }
  throw new Error('expected a refusal')
}

const expectRefused = async (promise: Promise<unknown>, code: AuthErrorCode) => {
  const error = await refusal(promise)
  expect(error.code).toBe(code)
  expect(error.closeCode).toBe(code === 'forbidden-grant' ? CLOSE_FORBIDDEN : CLOSE_UNAUTHORIZED)
  expect(error.closeReason.startsWith(code)).toBe(true)
  expect(new TextEncoder().encode(error.closeReason).length).toBeLessThanOrEqual(123)
  return error
}

describe('verifyToken with a shared secret', () => {
  it('accepts a valid token and returns its grants', async () => {
    const grants = await verifyToken(await devToken(), secretSource, { clock })
    expect(grants.player).toBe('p1')
    expect(grants.expiresAt).toBe(NOW + 60_000)
    expect(canRead(grants, 'world/1')).toBe(true)
    expect(canWrite(grants, 'world/1')).toBe(false)
    expect(canWrite(grants, 'player/p1/inventory')).toBe(true)
  })

  it('refuses expired tokens, allowing a small clock tolerance', async () => {
    const token = await devToken({ ttlSeconds: 60 })
    const later = (ms: number) => ({ clock: { now: () => NOW + ms } })
    await expect(verifyToken(token, secretSource, later(62_000))).resolves.toMatchObject({ player: 'p1' })
    await expectRefused(verifyToken(token, secretSource, later(70_000)), 'expired-token')
    await expectRefused(verifyToken(token, secretSource, { clock: { now: () => NOW + 61_000 }, clockToleranceSeconds: 0 }), 'expired-token')
  })

  it('refuses tokens not yet valid or issued in the future', async () => {
    await expectRefused(verifyToken(await rawToken({ sub: 'p1', iat: seconds, exp: seconds + 60, nbf: seconds + 30 }), secretSource, { clock }), 'bad-token')
    await expectRefused(verifyToken(await rawToken({ sub: 'p1', iat: seconds + 30, exp: seconds + 60 }), secretSource, { clock }), 'bad-token')
  })

  it('refuses a wrong secret, a tampered token and alg none', async () => {
    const token = await devToken()
    await expectRefused(verifyToken(token, { kind: 'secret', secret: OTHER_SECRET }, { clock }), 'bad-token')
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as JWTPayload
    const widened = Buffer.from(JSON.stringify({ ...claims, read: ['**'] })).toString('base64url')
    await expectRefused(verifyToken(`${header}.${widened}.${signature}`, secretSource, { clock }), 'bad-token')
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA')
    await expectRefused(verifyToken(`${header}.${payload}.${flipped}`, secretSource, { clock }), 'bad-token')
    const unsigned = new UnsecuredJWT({ sub: 'p1', read: ['**'] }).setIssuedAt(seconds).setExpirationTime(seconds + 60).encode()
    await expectRefused(verifyToken(unsigned, secretSource, { clock }), 'bad-token')
    for (const garbage of ['x', 'a.b.c', '...', 'é.é.é']) await expectRefused(verifyToken(garbage, secretSource, { clock }), 'bad-token')
  })

  it('refuses a missing token', async () => {
    await expectRefused(verifyToken(undefined, secretSource), 'missing-token')
    await expectRefused(verifyToken('', secretSource), 'missing-token')
  })

  it('refuses tokens with missing or malformed claims', async () => {
    const base = { sub: 'p1', iat: seconds, exp: seconds + 60 }
    const cases: JWTPayload[] = [
      { iat: seconds, exp: seconds + 60 },
      { sub: 'p1', iat: seconds },
      { sub: 'p1', exp: seconds + 60 },
      { ...base, read: 'world/*' },
      { ...base, read: [1] },
      { ...base, read: ['world//x'] },
      { ...base, read: Array.from({ length: 65 }, (_, i) => `world/${i}`) },
      { ...base, sub: 'a/b' },
    ]
    for (const claims of cases) await expectRefused(verifyToken(await rawToken(claims), secretSource, { clock }), 'bad-token')
    // Absent lists mean no grants, not an error.
    const bare = await verifyToken(await rawToken(base), secretSource, { clock })
    expect(bare.read).toEqual([])
    expect(bare.write).toEqual([])
  })

  it('refuses genuine tokens that grant writes outside the player’s own documents with 4403', async () => {
    const base = { sub: 'p1', iat: seconds, exp: seconds + 60 }
    for (const write of [['world/*'], ['**'], ['player/p2/*'], ['player/*/x']]) {
      const error = await expectRefused(verifyToken(await rawToken({ ...base, write }), secretSource, { clock }), 'forbidden-grant')
      expect(error.message).toMatch(/may write only documents under 'player\/p1\/'/)
    }
    // Close reasons stay within the 123 bytes a close frame can carry, even for long multi-byte names.
    const long = await expectRefused(verifyToken(await rawToken({ ...base, sub: 'é'.repeat(60), write: ['world/x'] }), secretSource, { clock }), 'forbidden-grant')
    expect(long.message.length).toBeGreaterThan(123)
  })

  it('refuses weak secrets as a configuration error, not an auth refusal', async () => {
    await expect(verifyToken('a.b.c', { kind: 'secret', secret: 'short' })).rejects.toBeInstanceOf(WeakSecretError)
  })
})

describe('verifyToken with public keys', () => {
  it('verifies with an SPKI PEM key and refuses other keys and HMAC confusion', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true })
    const other = await generateKeyPair('ES256', { extractable: true })
    const source: KeySource = { kind: 'public-key', pem: await exportSPKI(pair.publicKey), algorithm: 'ES256' }
    const sign = (key: CryptoKey) => new SignJWT({ read: ['world/*'] }).setProtectedHeader({ alg: 'ES256' }).setSubject('p1').setIssuedAt(seconds).setExpirationTime(seconds + 60).sign(key)
    expect((await verifyToken(await sign(pair.privateKey), source, { clock })).player).toBe('p1')
    await expectRefused(verifyToken(await sign(other.privateKey), source, { clock }), 'bad-token')
    // An HS256 token must not verify even if someone uses the PEM text as an HMAC secret.
    await expectRefused(verifyToken(await rawToken({ sub: 'p1', iat: seconds, exp: seconds + 60 }, source.pem), source, { clock }), 'bad-token')
    await expect(prepareKey({ kind: 'public-key', pem: source.pem, algorithm: 'HS256' })).rejects.toThrow(/cannot verify 'HS256'/)
  })

  it('verifies with a local JWKS, picking the key by kid', async () => {
    const a = await generateKeyPair('EdDSA', { extractable: true })
    const b = await generateKeyPair('RS256', { extractable: true })
    const jwks = { keys: [{ ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'EdDSA' }, { ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'RS256' }] }
    const source: KeySource = { kind: 'jwks', jwks }
    const sign = (key: CryptoKey, alg: string, kid: string) =>
      new SignJWT({ write: ['player/p9/**'] }).setProtectedHeader({ alg, kid }).setSubject('p9').setIssuedAt(seconds).setExpirationTime(seconds + 60).sign(key)
    expect(canWrite(await verifyToken(await sign(a.privateKey, 'EdDSA', 'a'), source, { clock }), 'player/p9/bag')).toBe(true)
    expect((await verifyToken(await sign(b.privateKey, 'RS256', 'b'), source, { clock })).player).toBe('p9')
    await expectRefused(verifyToken(await sign(a.privateKey, 'EdDSA', 'b'), source, { clock }), 'bad-token')
    const stranger = await generateKeyPair('ES256')
    await expectRefused(verifyToken(await sign(stranger.privateKey, 'ES256', 'c'), source, { clock }), 'bad-token')
    await expectRefused(verifyToken(await rawToken({ sub: 'p9', iat: seconds, exp: seconds + 60 }), source, { clock }), 'bad-token')
  })
})

describe('tokens on the connection request', () => {
  it('reads the Bearer header first, then the token query parameter', () => {
    expect(tokenFromRequest('/world/1?token=q', {})).toBe('q')
    expect(tokenFromRequest('/world/1?token=q', { authorization: 'Bearer h' })).toBe('h')
    expect(tokenFromRequest('/world/1?token=q', { Authorization: ['bearer  h2 '] })).toBe('h2')
    expect(tokenFromRequest('/world/1?token=q', { authorization: 'Basic abc' })).toBe('q')
    expect(tokenFromRequest('/world/1?token=', {})).toBeUndefined()
    expect(tokenFromRequest('/world/1', {})).toBeUndefined()
    expect(tokenFromRequest(undefined, {})).toBeUndefined()
    expect(tokenFromRequest('//[bad', {})).toBeUndefined()
    expect(bearerToken({ authorization: undefined })).toBeUndefined()
  })

  it('authenticates through the default hook from the query token or the header', async () => {
    const authenticate = defaultAuthenticate(secretSource, { clock })
    const token = await devToken()
    await expect(authenticate({ token: tokenFromRequest(`/world/1?token=${token}`, {}), headers: {} })).resolves.toMatchObject({ player: 'p1' })
    await expect(authenticate({ token: undefined, headers: { authorization: `Bearer ${token}` } })).resolves.toMatchObject({ player: 'p1' })
    await expectRefused(authenticate({ token: undefined, headers: {} }), 'missing-token')
    await expectRefused(authenticate({ token: 'nope', headers: {} }), 'bad-token')
  })
})

describe('signDevToken', () => {
  it('refuses what the verifier would refuse', async () => {
    await expect(devToken({ secret: 'short' })).rejects.toBeInstanceOf(WeakSecretError)
    await expect(devToken({ ttlSeconds: 0 })).rejects.toThrow(/positive whole number/)
    await expect(devToken({ ttlSeconds: 1.5 })).rejects.toThrow(/positive whole number/)
    await expect(devToken({ write: ['world/*'] })).rejects.toThrow(/may write only/)
    await expect(devToken({ read: ['a//b'] })).rejects.toThrow(/empty segment/)
  })
})
