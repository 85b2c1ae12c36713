import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import {
  decodeIntent,
  decodeIntentResult,
  encodeIntent,
  encodeIntentResult,
  expectEnd,
  FrameTooLargeError,
  INTENT_LIMITS,
  isWorldValue,
  MalformedFrameError,
  readStrictAny,
  readStrictByte,
  readStrictBytes,
  readStrictString,
  readStrictUint,
  UnsupportedVersionError,
  type IntentResult,
  type WorldValue,
} from '../../core/index.js'
import type { Claim } from './resolver.js'

/** The application channel claims, outcomes and cross-owner votes travel on. */
export const CLAIMS_CHANNEL = 'resolvers/claims'

const VOTE_SIGNATURE_BYTES = 64

/** Format version of claim messages; the first byte of each. */
export const CLAIM_CODEC_VERSION = 1

/** Longest claim message, in bytes (an intent of at most 64 KiB plus a few ids). */
export const MAX_CLAIM_MESSAGE_BYTES = INTENT_LIMITS.maxFrameBytes + 4096

const MAX_ID_BYTES = 1024

/** One message of the claims protocol. */
export type ClaimMessage =
  /** Origin -> owner (or coordinator): settle this claim. */
  | { readonly type: 'claim'; readonly claim: Claim }
  /** Owner -> origin: the claim's outcome, with the current state on a conflict. */
  | { readonly type: 'outcome'; readonly claimId: string; readonly result: IntentResult; readonly state?: WorldValue }
  /** Coordinator -> participant owner: reserve your resources of this claim and vote. */
  | { readonly type: 'prepare'; readonly claim: Claim }
  /** Participant -> coordinator: reserved (ok) or refused with a reason. */
  /** `signature`: the participant's Ed25519 signature of its vote (`crossOwnerVoteStatement`), when votes are signed. */
  | { readonly type: 'vote'; readonly claimId: string; readonly ok: boolean; readonly reason: string; readonly message: string; readonly signature?: Uint8Array }
  /** Coordinator -> participant: commit or abort your part. */
  | { readonly type: 'decide'; readonly claimId: string; readonly commit: boolean }
  /** Participant -> coordinator: the decision is carried out; stop resending it. */
  | { readonly type: 'done'; readonly claimId: string }

const KINDS = ['claim', 'outcome', 'prepare', 'vote', 'decide', 'done'] as const

const writeClaim = (encoder: encoding.Encoder, claim: Claim): void => {
  encoding.writeVarString(encoder, claim.id)
  encoding.writeVarString(encoder, claim.origin)
  encoding.writeVarString(encoder, claim.session)
  encoding.writeVarUint(encoder, claim.viewEpoch)
  encoding.writeVarUint8Array(encoder, encodeIntent(claim.intent))
}

const readId = (decoder: decoding.Decoder, what: string): string => {
  const id = readStrictString(decoder, what, MAX_ID_BYTES)
  if (id.length === 0) throw new MalformedFrameError(`${what} is empty`)
  return id
}

const readClaim = (decoder: decoding.Decoder): Claim => {
  const id = readId(decoder, 'claim id')
  const origin = readId(decoder, 'claim origin')
  const session = readId(decoder, 'claim session')
  const viewEpoch = readStrictUint(decoder, 'claim view epoch')
  const intent = decodeIntent(readStrictBytes(decoder, 'claim intent', INTENT_LIMITS.maxFrameBytes))
  // The origin stamps every claim; an unstamped one could not be ordered against the others.
  const stamp = intent.stamp
  if (stamp === undefined) throw new MalformedFrameError('claim intent carries no stamp')
  if (stamp.peer !== origin) throw new MalformedFrameError(`claim stamp names peer ${stamp.peer}, not its origin ${origin}`)
  return { id, origin, session, viewEpoch, intent: { ...intent, stamp } }
}

/** Encodes a claims-protocol message with lib0 encoding. Throws `InvalidIntentError` on an intent or result that would not decode. */
export const encodeClaimMessage = (message: ClaimMessage): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, CLAIM_CODEC_VERSION)
  encoding.writeUint8(encoder, KINDS.indexOf(message.type))
  switch (message.type) {
    case 'claim':
    case 'prepare':
      writeClaim(encoder, message.claim)
      break
    case 'outcome':
      encoding.writeVarString(encoder, message.claimId)
      encoding.writeVarUint8Array(encoder, encodeIntentResult(message.result))
      encoding.writeUint8(encoder, message.state === undefined ? 0 : 1)
      if (message.state !== undefined) {
        // Length-prefixed, as readStrictAny expects: the value is decoded apart, within its own limit.
        const inner = encoding.createEncoder()
        encoding.writeAny(inner, message.state as Parameters<typeof encoding.writeAny>[1])
        encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner))
      }
      break
    case 'vote':
      encoding.writeVarString(encoder, message.claimId)
      encoding.writeUint8(encoder, message.ok ? 1 : 0)
      encoding.writeVarString(encoder, message.reason)
      encoding.writeVarString(encoder, message.message)
      encoding.writeUint8(encoder, message.signature === undefined ? 0 : 1)
      if (message.signature !== undefined) encoding.writeVarUint8Array(encoder, message.signature)
      break
    case 'decide':
      encoding.writeVarString(encoder, message.claimId)
      encoding.writeUint8(encoder, message.commit ? 1 : 0)
      break
    case 'done':
      encoding.writeVarString(encoder, message.claimId)
      break
  }
  return encoding.toUint8Array(encoder)
}

const readFlag = (decoder: decoding.Decoder, what: string): boolean => {
  const flag = readStrictByte(decoder, what)
  if (flag > 1) throw new MalformedFrameError(`${what} is ${flag}, not 0 or 1`)
  return flag === 1
}

/** Decodes a claims-protocol message strictly: any malformed input throws a `FrameDecodeError` subclass. */
export const decodeClaimMessage = (bytes: Uint8Array): ClaimMessage => {
  if (bytes.length > MAX_CLAIM_MESSAGE_BYTES) throw new FrameTooLargeError(bytes.length, MAX_CLAIM_MESSAGE_BYTES)
  const decoder = decoding.createDecoder(bytes)
  const version = readStrictByte(decoder, 'claim message version')
  if (version !== CLAIM_CODEC_VERSION) throw new UnsupportedVersionError(version, CLAIM_CODEC_VERSION)
  const kind = KINDS[readStrictByte(decoder, 'claim message kind')]
  let message: ClaimMessage
  switch (kind) {
    case 'claim':
    case 'prepare':
      message = { type: kind, claim: readClaim(decoder) }
      break
    case 'outcome': {
      const claimId = readId(decoder, 'outcome claim id')
      const result = decodeIntentResult(readStrictBytes(decoder, 'outcome result', INTENT_LIMITS.maxFrameBytes))
      if (readFlag(decoder, 'outcome state flag')) {
        const state = readStrictAny(decoder, 'outcome state', INTENT_LIMITS.maxPayloadBytes)
        if (!isWorldValue(state)) throw new MalformedFrameError('outcome state is not a JSON-like value')
        message = { type: 'outcome', claimId, result, state }
      } else {
        message = { type: 'outcome', claimId, result }
      }
      break
    }
    case 'vote': {
      const vote = {
        type: 'vote' as const,
        claimId: readId(decoder, 'vote claim id'),
        ok: readFlag(decoder, 'vote'),
        reason: readStrictString(decoder, 'vote reason', INTENT_LIMITS.maxReasonBytes),
        message: readStrictString(decoder, 'vote message', INTENT_LIMITS.maxMessageBytes),
      }
      // A vote that ends here is unsigned (a peer from before signed votes); otherwise a flag, then exactly 64 bytes.
      if (!decoding.hasContent(decoder) || !readFlag(decoder, 'vote signature flag')) {
        message = vote
        break
      }
      const signature = readStrictBytes(decoder, 'vote signature', VOTE_SIGNATURE_BYTES)
      if (signature.length !== VOTE_SIGNATURE_BYTES) throw new MalformedFrameError(`vote signature is ${signature.length} bytes, not ${VOTE_SIGNATURE_BYTES}`)
      message = { ...vote, signature }
      break
    }
    case 'decide':
      message = { type: 'decide', claimId: readId(decoder, 'decide claim id'), commit: readFlag(decoder, 'decision') }
      break
    case 'done':
      message = { type: 'done', claimId: readId(decoder, 'done claim id') }
      break
    default:
      throw new MalformedFrameError('unknown claim message kind')
  }
  expectEnd(decoder, 'claim message')
  return message
}
