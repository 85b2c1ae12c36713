import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PublicKey } from '@libp2p/interface'
import { FrameDecodeError, MalformedFrameError, expectEnd, readStrictBytes, readStrictString, readStrictUint } from '../core/index.js'
import { TransportConfigError } from './errors.js'
import type { PeerIdentity } from './peer-identity.js'

/**
 * Who may join the cluster. A peer is admitted if it proves knowledge of the cluster secret or its
 * peer id is on the allow-list; `openCluster` admits anyone (development only). Every peer must
 * still prove it holds the key behind the id it claims.
 */
export interface AdmissionPolicy {
  /** Shared secret of the cluster; a peer proves it knows it by an HMAC over both nonces and ids. */
  readonly clusterSecret?: string | Uint8Array
  /** Peer ids admitted without the secret. */
  readonly allowList?: Iterable<string>
  /** Admit every peer that proves its own identity. Never in production. */
  readonly openCluster?: boolean
}

/** How a handshake ended. */
export type AdmissionOutcome =
  | { readonly admitted: true; readonly remoteId: string; readonly by: 'secret' | 'allow-list' | 'open' }
  | { readonly admitted: false; readonly reason: string; readonly byRemote: boolean; readonly remoteId: string | undefined }

/** What the owner of a handshake must do after feeding it a message. */
export interface AdmissionStep {
  /** Messages to send to the remote, in order. */
  readonly send: readonly Uint8Array[]
  /** Set once the handshake is over; after that, further messages are application frames. */
  readonly outcome?: AdmissionOutcome
}

/** Largest handshake message accepted: a handshake never needs more, and strangers get no bigger buffer. */
export const MAX_HANDSHAKE_MESSAGE_BYTES = 4096

/** The refusal reason when a channel leads back to this very peer. */
export const SELF_CONNECTION_REASON = 'connected to itself'

const PROTOCOL_LABEL = 'realmsync/admission/1'
const VERSION = 1
const NONCE_BYTES = 32
const MAX_ID_BYTES = 128
const MAX_KEY_BYTES = 1024
const MAX_PROOF_BYTES = 512
const MAX_REASON_BYTES = 256
const TAG_HELLO = 1
const TAG_PROOF = 2
const TAG_VERDICT = 3

interface Hello {
  readonly nonce: Uint8Array
  readonly id: string
  readonly publicKey: PublicKey
}

/** Resolved policy, checked once at construction. */
interface ResolvedPolicy {
  readonly secret: Uint8Array | undefined
  readonly allowList: ReadonlySet<string>
  readonly open: boolean
}

/** Checks a policy admits somebody at all; a cluster nobody can join is a configuration mistake. */
export const resolveAdmissionPolicy = (policy: AdmissionPolicy): ResolvedPolicy => {
  const secret = typeof policy.clusterSecret === 'string' ? new TextEncoder().encode(policy.clusterSecret) : policy.clusterSecret
  const allowList = new Set(policy.allowList ?? [])
  if (secret !== undefined && secret.length < 16) throw new TransportConfigError('the cluster secret must be at least 16 bytes')
  if (!secret && allowList.size === 0 && !policy.openCluster) {
    throw new TransportConfigError('admission needs a cluster secret, an allow-list of peer ids, or openCluster: true')
  }
  return { secret, allowList, open: policy.openCluster === true }
}

// The transcript a prover authenticates: its own id first, so a proof can never be reflected back
// as the other side's, and both fresh nonces, so it can never be replayed on another connection.
const transcript = (proverId: string, verifierId: string, proverNonce: Uint8Array, verifierNonce: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, PROTOCOL_LABEL)
  encoding.writeVarString(encoder, proverId)
  encoding.writeVarString(encoder, verifierId)
  encoding.writeVarUint8Array(encoder, proverNonce)
  encoding.writeVarUint8Array(encoder, verifierNonce)
  return encoding.toUint8Array(encoder)
}

const hmac = (secret: Uint8Array, data: Uint8Array): Uint8Array => new Uint8Array(createHmac('sha256', secret).update(data).digest())

const encodeHello = (nonce: Uint8Array, identity: PeerIdentity): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, TAG_HELLO)
  encoding.writeVarUint(encoder, VERSION)
  encoding.writeVarUint8Array(encoder, nonce)
  encoding.writeVarString(encoder, identity.id)
  encoding.writeVarUint8Array(encoder, publicKeyToProtobuf(identity.privateKey.publicKey))
  return encoding.toUint8Array(encoder)
}

const encodeProof = (mac: Uint8Array, signature: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, TAG_PROOF)
  encoding.writeVarUint8Array(encoder, mac)
  encoding.writeVarUint8Array(encoder, signature)
  return encoding.toUint8Array(encoder)
}

const encodeVerdict = (reason: string | undefined): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, TAG_VERDICT)
  encoding.writeVarUint(encoder, reason === undefined ? 1 : 0)
  // Truncated by characters to stay well inside MAX_REASON_BYTES even for 4-byte UTF-8.
  encoding.writeVarString(encoder, (reason ?? '').slice(0, MAX_REASON_BYTES / 4))
  return encoding.toUint8Array(encoder)
}

const decodeHello = (decoder: decoding.Decoder): Hello => {
  const version = readStrictUint(decoder, 'handshake version')
  if (version !== VERSION) throw new MalformedFrameError(`handshake version ${version}, this build speaks ${VERSION}`)
  const nonce = readStrictBytes(decoder, 'nonce', NONCE_BYTES)
  if (nonce.length !== NONCE_BYTES) throw new MalformedFrameError(`nonce of ${nonce.length} bytes, expected ${NONCE_BYTES}`)
  const id = readStrictString(decoder, 'peer id', MAX_ID_BYTES)
  const keyBytes = readStrictBytes(decoder, 'public key', MAX_KEY_BYTES)
  expectEnd(decoder, 'hello')
  let publicKey: PublicKey
  try {
    publicKey = publicKeyFromProtobuf(keyBytes)
  } catch {
    throw new MalformedFrameError('public key does not decode')
  }
  if (peerIdFromPublicKey(publicKey).toString() !== id) throw new MalformedFrameError(`peer id ${id} does not match the public key sent with it`)
  return { nonce, id, publicKey }
}

/**
 * The cluster admission handshake, as a state machine with no I/O: both sides send HELLO (nonce,
 * peer id, public key), then PROOF (an HMAC of the transcript under the cluster secret, empty
 * without one, and a signature of it with the peer key), then VERDICT (admitted, or a reason).
 * A side is admitted when it accepted the remote's proof and the remote accepted its own. Messages
 * are symmetric, so it works the same on a libp2p stream and a WebSocket, whoever dialed.
 */
export class AdmissionHandshake {
  private readonly policy: ResolvedPolicy
  private readonly nonce: Uint8Array
  private remote: Hello | undefined
  private localVerdict: 'admitted' | 'refused' | undefined
  private admittedBy: 'secret' | 'allow-list' | 'open' = 'open'
  private finished = false
  private tail: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly identity: PeerIdentity,
    policy: AdmissionPolicy,
    /** The id the channel already authenticated (libp2p noise); the HELLO must claim the same one. */
    private readonly expectedRemoteId?: string,
    nonce: Uint8Array = new Uint8Array(randomBytes(NONCE_BYTES)),
  ) {
    this.policy = resolveAdmissionPolicy(policy)
    this.nonce = nonce
  }

  /** The first message this side sends. */
  hello(): Uint8Array {
    return encodeHello(this.nonce, this.identity)
  }

  /** Whether the handshake has ended (admitted or refused). */
  get done(): boolean {
    return this.finished
  }

  /**
   * Feeds one message from the remote. Never throws: bad input ends the handshake with a refusal.
   * Steps are asynchronous (signatures), so calls are queued: each sees the state the previous left.
   */
  receive(message: Uint8Array): Promise<AdmissionStep> {
    const step = this.tail.then(() => this.receiveNow(message))
    this.tail = step
    return step
  }

  private async receiveNow(message: Uint8Array): Promise<AdmissionStep> {
    if (this.finished) return { send: [] }
    try {
      return await this.step(message)
    } catch (error) {
      const reason = error instanceof FrameDecodeError ? `malformed handshake: ${error.message}` : `handshake failed: ${String(error)}`
      return this.refuse(reason)
    }
  }

  private async step(message: Uint8Array): Promise<AdmissionStep> {
    if (message.length > MAX_HANDSHAKE_MESSAGE_BYTES) throw new MalformedFrameError(`handshake message of ${message.length} bytes`)
    const decoder = decoding.createDecoder(message)
    const tag = readStrictUint(decoder, 'handshake message type')
    if (tag === TAG_HELLO && !this.remote) return this.onHello(decodeHello(decoder))
    if (tag === TAG_PROOF && this.remote && !this.localVerdict) {
      const mac = readStrictBytes(decoder, 'proof', MAX_PROOF_BYTES)
      const signature = readStrictBytes(decoder, 'signature', MAX_PROOF_BYTES)
      expectEnd(decoder, 'proof')
      return this.onProof(this.remote, mac, signature)
    }
    if (tag === TAG_VERDICT) {
      const ok = readStrictUint(decoder, 'verdict')
      const reason = readStrictString(decoder, 'reason', MAX_REASON_BYTES)
      expectEnd(decoder, 'verdict')
      const remoteId = this.remote?.id
      // A refusal may come at any point; an acceptance only after we accepted the remote's proof,
      // which the remote sent before its verdict on the same ordered channel.
      if (ok !== 1) {
        this.finished = true
        return { send: [], outcome: { admitted: false, reason: `refused by remote: ${reason || 'no reason given'}`, byRemote: true, remoteId } }
      }
      if (this.localVerdict === 'admitted' && remoteId !== undefined) {
        this.finished = true
        return { send: [], outcome: { admitted: true, remoteId, by: this.admittedBy } }
      }
    }
    throw new MalformedFrameError(`unexpected handshake message type ${tag}`)
  }

  private async onHello(hello: Hello): Promise<AdmissionStep> {
    if (this.expectedRemoteId !== undefined && hello.id !== this.expectedRemoteId) {
      throw new MalformedFrameError(`claims peer id ${hello.id} on a channel authenticated as ${this.expectedRemoteId}`)
    }
    this.remote = hello
    // Dialing our own listen address (a bootstrap list shared by the whole cluster) ends here.
    if (hello.id === this.identity.id) return this.refuse(SELF_CONNECTION_REASON)
    const data = transcript(this.identity.id, hello.id, this.nonce, hello.nonce)
    const mac = this.policy.secret ? hmac(this.policy.secret, data) : new Uint8Array(0)
    const signature = await this.identity.privateKey.sign(data)
    return { send: [encodeProof(mac, signature)] }
  }

  private async onProof(remote: Hello, mac: Uint8Array, signature: Uint8Array): Promise<AdmissionStep> {
    const data = transcript(remote.id, this.identity.id, remote.nonce, this.nonce)
    if (!(await remote.publicKey.verify(data, signature))) return this.refuse('signature does not match the claimed peer id')
    const expected = this.policy.secret ? hmac(this.policy.secret, data) : undefined
    if (expected && mac.length === expected.length && timingSafeEqual(mac, expected)) this.admittedBy = 'secret'
    else if (this.policy.allowList.has(remote.id)) this.admittedBy = 'allow-list'
    else if (this.policy.open) this.admittedBy = 'open'
    else return this.refuse(mac.length === 0 ? 'no cluster proof and not on the allow-list' : 'wrong cluster secret and not on the allow-list')
    this.localVerdict = 'admitted'
    return { send: [encodeVerdict(undefined)] }
  }

  private refuse(reason: string): AdmissionStep {
    this.localVerdict = 'refused'
    this.finished = true
    return { send: [encodeVerdict(reason)], outcome: { admitted: false, reason, byRemote: false, remoteId: this.remote?.id } }
  }
}
