import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { PeerKeyFileError } from './errors.js'

/** The key file inside a data directory. */
export const PEER_KEY_FILE = 'peer-key'

/** A peer's long-lived identity: its private key and the peer id derived from it. */
export interface PeerIdentity {
  readonly privateKey: PrivateKey
  /** The libp2p peer id string (`12D3KooW...`); the endpoint id on every realmsync transport. */
  readonly id: string
  /** Where the key lives. */
  readonly keyPath: string
  /** True if this call generated the key (first start on this data directory). */
  readonly created: boolean
  /** True if the key file is readable or writable by group or others (it should be 0600). */
  readonly looseFileMode: boolean
}

/** Builds an identity from a key held in memory (tests, embedders with their own key storage). */
export const identityFromKey = (privateKey: PrivateKey): PeerIdentity => ({
  privateKey,
  id: peerIdFromPrivateKey(privateKey).toString(),
  keyPath: '',
  created: false,
  looseFileMode: false,
})

/** A fresh Ed25519 identity kept in memory only. */
export const ephemeralIdentity = async (): Promise<PeerIdentity> => identityFromKey(await generateKeyPair('Ed25519'))

const readKey = (path: string): PeerIdentity => {
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(readFileSync(path))
  } catch (error) {
    throw new PeerKeyFileError(path, error instanceof Error ? error.message : String(error))
  }
  return { ...identityFromKey(privateKey), keyPath: path, looseFileMode: (statSync(path).mode & 0o077) !== 0 }
}

/**
 * Loads the Ed25519 peer key from `<dataDir>/peer-key`, or creates it (mode 0600) on first start.
 * Creation writes a temporary file, fsyncs it and hard-links it into place, so a crash never leaves
 * a half-written key and two processes racing on one directory end up with the same key.
 */
export const loadOrCreateIdentity = async (dataDir: string): Promise<PeerIdentity> => {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, PEER_KEY_FILE)
  if (!isMissing(path)) return readKey(path)
  const privateKey = await generateKeyPair('Ed25519')
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`
  const fd = openSync(temporary, 'wx', 0o600)
  try {
    writeSync(fd, privateKeyToProtobuf(privateKey))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    linkSync(temporary, path)
  } catch (error) {
    // Another process created it first: use theirs, so both agree on one id.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    unlinkSync(temporary)
    return readKey(path)
  }
  unlinkSync(temporary)
  return { ...identityFromKey(privateKey), keyPath: path, created: true }
}

const isMissing = (path: string): boolean => {
  try {
    statSync(path)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }
}
