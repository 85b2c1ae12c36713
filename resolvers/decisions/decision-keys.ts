import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { RealmsyncError } from '../../core/index.js'

/** A key could not be read (wrong length, not Ed25519). */
export class InvalidDecisionKeyError extends RealmsyncError {
  constructor(
    readonly peer: string,
    detail: string,
  ) {
    super('invalid-decision-key', `invalid Ed25519 key for peer ${peer}: ${detail}`)
  }
}

/** An Ed25519 key pair of one peer; `publicKey` is the raw 32 bytes other peers register. */
export interface DecisionKeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: Uint8Array
}

/** Length of an Ed25519 signature in bytes. */
export const ED25519_SIGNATURE_BYTES = 64
/** Length of a raw Ed25519 public key in bytes. */
export const ED25519_PUBLIC_KEY_BYTES = 32

// PKCS#8 DER header of an Ed25519 private key (RFC 8410); the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

const rawPublicKey = (key: KeyObject): Uint8Array => {
  const jwk = key.export({ format: 'jwk' })
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'))
}

/** A fresh Ed25519 key pair from the system's secure random source. */
export const generateDecisionKeys = (): DecisionKeyPair => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, publicKey: rawPublicKey(publicKey) }
}

/**
 * An Ed25519 key pair from a 32-byte seed: the same seed gives the same keys, which simulations and
 * tests need to replay a run. Production peers use `generateDecisionKeys` or a stored key.
 */
export const decisionKeysFromSeed = (seed: Uint8Array): DecisionKeyPair => {
  if (seed.length !== 32) throw new InvalidDecisionKeyError('(seed)', `seed must be 32 bytes, got ${seed.length}`)
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)) }
}

/** Signs bytes with an Ed25519 private key. */
export const signBytes = (privateKey: KeyObject, bytes: Uint8Array): Uint8Array => new Uint8Array(sign(null, bytes, privateKey))

/** Verifies an Ed25519 signature; false (never a throw) for a signature of the wrong length. */
export const verifyBytes = (publicKey: KeyObject, bytes: Uint8Array, signature: Uint8Array): boolean => {
  if (signature.length !== ED25519_SIGNATURE_BYTES) return false
  try {
    return verify(null, bytes, publicKey, signature)
  } catch {
    return false
  }
}

/** The public keys of the cluster's peers: who may decide and attest, and how to check their signatures. */
export class DecisionKeyRegistry {
  private readonly keys = new Map<string, KeyObject>()

  /** Registers (or replaces) a peer's raw 32-byte Ed25519 public key. */
  register(peer: string, publicKey: Uint8Array): void {
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) throw new InvalidDecisionKeyError(peer, `public key must be ${ED25519_PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`)
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' })
    this.keys.set(peer, key)
  }

  /** Removes a peer (it left the cluster for good). */
  remove(peer: string): void {
    this.keys.delete(peer)
  }

  /** A peer's public key, if registered. */
  keyOf(peer: string): KeyObject | undefined {
    return this.keys.get(peer)
  }

  /** Whether a peer is registered. */
  has(peer: string): boolean {
    return this.keys.has(peer)
  }

  /** Registered peers, sorted. */
  peers(): string[] {
    return [...this.keys.keys()].sort()
  }
}
