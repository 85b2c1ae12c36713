import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import {
  decodeHlc,
  decodeIntent,
  encodeHlc,
  encodeIntent,
  expectEnd,
  FrameTooLargeError,
  INTENT_LIMITS,
  isWorldValue,
  MalformedFrameError,
  readStrictAny,
  readStrictByte,
  readStrictBytes,
  readStrictString,
  RealmsyncError,
  UnsupportedVersionError,
  type WorldValue,
} from '../../core/index.js'
import { ED25519_SIGNATURE_BYTES } from './decision-keys.js'
import type { Attestation, Decision, SignedAttestation, SignedDecision } from './decision.js'

/** The decisions channel's wire version: the first byte of every message. */
export const DECISION_WIRE_VERSION = 1

/** Limits of the decisions wire format, enforced alike when encoding and decoding. */
export const DECISION_LIMITS = Object.freeze({
  maxMessageBytes: 160 * 1024,
  maxIdBytes: 512,
  maxPeerBytes: 256,
  maxKindBytes: 64,
  maxReasonBytes: 64,
  maxValueBytes: 32 * 1024,
})

/** A message on the `resolvers/decisions` channel. */
export type DecisionMessage =
  /** A decider asks a peer to re-validate its signed decision. */
  | { readonly type: 'request'; readonly decision: SignedDecision }
  /** A re-validator's signed answer to a request. */
  | { readonly type: 'verdict'; readonly attestation: SignedAttestation }
  /** A signed decision and the signed rejection of it, sent to every peer so each can re-check and quarantine the decider. */
  | { readonly type: 'evidence'; readonly decision: SignedDecision; readonly rejection: SignedAttestation }

/** A decision message could not be encoded within the wire limits. */
export class InvalidDecisionError extends RealmsyncError {
  constructor(detail: string) {
    super('invalid-decision', `cannot encode decision message: ${detail}`)
  }
}

const TYPE_REQUEST = 1
const TYPE_VERDICT = 2
const TYPE_EVIDENCE = 3
const VERDICT_ATTEST = 1
const VERDICT_REJECT = 2
const textBytes = (text: string): number => new TextEncoder().encode(text).length

const writeName = (encoder: encoding.Encoder, what: string, value: string, maxBytes: number, allowEmpty = false): void => {
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0) || textBytes(value) > maxBytes) throw new InvalidDecisionError(`${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${maxBytes} bytes`)
  encoding.writeVarString(encoder, value)
}

const readName = (decoder: decoding.Decoder, what: string, maxBytes: number, allowEmpty = false): string => {
  const value = readStrictString(decoder, what, maxBytes)
  if (!allowEmpty && value.length === 0) throw new MalformedFrameError(`${what} is empty`)
  return value
}

const writeValue = (encoder: encoding.Encoder, what: string, value: WorldValue): void => {
  if (!isWorldValue(value)) throw new InvalidDecisionError(`${what} is not a JSON-like value`)
  const inner = encoding.createEncoder()
  encoding.writeAny(inner, value as Parameters<typeof encoding.writeAny>[1])
  const bytes = encoding.toUint8Array(inner)
  if (bytes.length > DECISION_LIMITS.maxValueBytes) throw new InvalidDecisionError(`${what} of ${bytes.length} bytes exceeds ${DECISION_LIMITS.maxValueBytes}`)
  encoding.writeVarUint8Array(encoder, bytes)
}

const readValue = (decoder: decoding.Decoder, what: string): WorldValue => {
  const value = readStrictAny(decoder, what, DECISION_LIMITS.maxValueBytes)
  if (!isWorldValue(value)) throw new MalformedFrameError(`${what} is not a JSON-like value`)
  return value
}

const writeSignature = (encoder: encoding.Encoder, signature: Uint8Array): void => {
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) throw new InvalidDecisionError(`a signature must be ${ED25519_SIGNATURE_BYTES} bytes`)
  encoding.writeVarUint8Array(encoder, signature)
}

const readSignature = (decoder: decoding.Decoder, what: string): Uint8Array => {
  const signature = readStrictBytes(decoder, what, ED25519_SIGNATURE_BYTES)
  if (signature.length !== ED25519_SIGNATURE_BYTES) throw new MalformedFrameError(`${what} must be ${ED25519_SIGNATURE_BYTES} bytes, got ${signature.length}`)
  return signature
}

const writeDecision = (encoder: encoding.Encoder, { decision, signature }: SignedDecision): void => {
  writeName(encoder, 'decision id', decision.id, DECISION_LIMITS.maxIdBytes)
  writeName(encoder, 'decider', decision.decider, DECISION_LIMITS.maxPeerBytes)
  writeName(encoder, 'kind', decision.kind, DECISION_LIMITS.maxKindBytes)
  let intent: Uint8Array
  try {
    intent = encodeIntent(decision.inputs.intent)
  } catch (error) {
    throw new InvalidDecisionError(error instanceof Error ? error.message : String(error))
  }
  encoding.writeVarUint8Array(encoder, intent)
  writeValue(encoder, 'pre-state', decision.inputs.preState)
  writeValue(encoder, 'outcome', decision.outcome)
  encodeHlc(encoder, decision.stamp)
  writeSignature(encoder, signature)
}

const readDecision = (decoder: decoding.Decoder): SignedDecision => {
  const id = readName(decoder, 'decision id', DECISION_LIMITS.maxIdBytes)
  const decider = readName(decoder, 'decider', DECISION_LIMITS.maxPeerBytes)
  const kind = readName(decoder, 'kind', DECISION_LIMITS.maxKindBytes)
  const intent = decodeIntent(readStrictBytes(decoder, 'decision intent', INTENT_LIMITS.maxFrameBytes))
  const preState = readValue(decoder, 'pre-state')
  const outcome = readValue(decoder, 'outcome')
  const stamp = decodeHlc(decoder)
  const signature = readSignature(decoder, 'decision signature')
  const decision: Decision = { id, decider, kind, inputs: { intent, preState }, outcome, stamp }
  return { decision, signature }
}

const writeAttestation = (encoder: encoding.Encoder, { attestation, signature }: SignedAttestation): void => {
  writeName(encoder, 'decision id', attestation.decisionId, DECISION_LIMITS.maxIdBytes)
  writeName(encoder, 'decider', attestation.decider, DECISION_LIMITS.maxPeerBytes)
  if (!/^[0-9a-f]{64}$/.test(attestation.decisionDigest)) throw new InvalidDecisionError('decision digest must be 64 hex digits')
  encoding.writeVarString(encoder, attestation.decisionDigest)
  writeName(encoder, 'attester', attestation.attester, DECISION_LIMITS.maxPeerBytes)
  encoding.writeUint8(encoder, attestation.verdict === 'attest' ? VERDICT_ATTEST : VERDICT_REJECT)
  writeName(encoder, 'reason', attestation.reason, DECISION_LIMITS.maxReasonBytes, true)
  writeSignature(encoder, signature)
}

const readAttestation = (decoder: decoding.Decoder): SignedAttestation => {
  const decisionId = readName(decoder, 'decision id', DECISION_LIMITS.maxIdBytes)
  const decider = readName(decoder, 'decider', DECISION_LIMITS.maxPeerBytes)
  const decisionDigest = readName(decoder, 'decision digest', 64)
  if (!/^[0-9a-f]{64}$/.test(decisionDigest)) throw new MalformedFrameError('decision digest must be 64 hex digits')
  const attester = readName(decoder, 'attester', DECISION_LIMITS.maxPeerBytes)
  const verdictByte = readStrictByte(decoder, 'verdict')
  if (verdictByte !== VERDICT_ATTEST && verdictByte !== VERDICT_REJECT) throw new MalformedFrameError(`unknown verdict ${verdictByte}`)
  const verdict = verdictByte === VERDICT_ATTEST ? 'attest' : 'reject'
  const reason = readName(decoder, 'reason', DECISION_LIMITS.maxReasonBytes, true)
  // An attestation carries no reason and a rejection always does: anything else is not ours.
  if ((verdict === 'attest') !== (reason === '')) throw new MalformedFrameError(`a ${verdict} with reason '${reason}'`)
  const signature = readSignature(decoder, 'attestation signature')
  return { attestation: { decisionId, decider, decisionDigest, attester, verdict, reason }, signature }
}

/** Encodes a decisions-channel message; throws `InvalidDecisionError` if it breaks a wire limit. */
export const encodeDecisionMessage = (message: DecisionMessage): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, DECISION_WIRE_VERSION)
  if (message.type === 'request') {
    encoding.writeUint8(encoder, TYPE_REQUEST)
    writeDecision(encoder, message.decision)
  } else if (message.type === 'verdict') {
    encoding.writeUint8(encoder, TYPE_VERDICT)
    writeAttestation(encoder, message.attestation)
  } else {
    encoding.writeUint8(encoder, TYPE_EVIDENCE)
    writeDecision(encoder, message.decision)
    writeAttestation(encoder, message.rejection)
  }
  const bytes = encoding.toUint8Array(encoder)
  if (bytes.length > DECISION_LIMITS.maxMessageBytes) throw new InvalidDecisionError(`message of ${bytes.length} bytes exceeds ${DECISION_LIMITS.maxMessageBytes}`)
  return bytes
}

/** Decodes a decisions-channel message strictly; throws a `FrameDecodeError` subclass on anything malformed. */
export const decodeDecisionMessage = (bytes: Uint8Array): DecisionMessage => {
  if (bytes.length > DECISION_LIMITS.maxMessageBytes) throw new FrameTooLargeError(bytes.length, DECISION_LIMITS.maxMessageBytes)
  const decoder = decoding.createDecoder(bytes)
  const version = readStrictByte(decoder, 'decision message version')
  if (version !== DECISION_WIRE_VERSION) throw new UnsupportedVersionError(version, DECISION_WIRE_VERSION)
  const type = readStrictByte(decoder, 'decision message type')
  let message: DecisionMessage
  if (type === TYPE_REQUEST) message = { type: 'request', decision: readDecision(decoder) }
  else if (type === TYPE_VERDICT) message = { type: 'verdict', attestation: readAttestation(decoder) }
  else if (type === TYPE_EVIDENCE) message = { type: 'evidence', decision: readDecision(decoder), rejection: readAttestation(decoder) }
  else throw new MalformedFrameError(`unknown decision message type ${type}`)
  expectEnd(decoder, 'decision message')
  return message
}
