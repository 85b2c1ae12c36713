import { createHash } from 'node:crypto'
import { canonicalJson, type HlcTimestamp, type Intent, type WorldValue } from '../../core/index.js'

/** What a critical decision was made on: the intent, and the slice of world state the rule read. */
export interface DecisionInputs {
  readonly intent: Intent
  /** The pre-state the deciding peer's rule read, as plain data, so any peer can re-run the rule on it. */
  readonly preState: WorldValue
}

/** A critical decision (a kill, a rare drop, a trade, a resolution) as its deciding peer made it. */
export interface Decision {
  /** Unique per decider: `<decider>:<wallMs>:<counter>` of the decider's HLC stamp. */
  readonly id: string
  readonly decider: string
  /** Which registered rule decides it (`kill`, `rare-drop`, `trade`, `pickup-resolution`, ...). */
  readonly kind: string
  readonly inputs: DecisionInputs
  readonly outcome: WorldValue
  readonly stamp: HlcTimestamp
}

/** A decision with the decider's Ed25519 signature over `decisionSigningBytes`. */
export interface SignedDecision {
  readonly decision: Decision
  readonly signature: Uint8Array
}

/** A re-validating peer's answer: it re-ran the rule and agrees (`attest`) or does not (`reject`, with a reason). */
export interface Attestation {
  readonly decisionId: string
  readonly decider: string
  /** SHA-256 (hex) of the decision's signing bytes, so the answer binds to the exact content. */
  readonly decisionDigest: string
  readonly attester: string
  readonly verdict: 'attest' | 'reject'
  /** Kebab-case reason of a rejection; empty for an attestation. */
  readonly reason: string
}

/** An attestation with the attester's Ed25519 signature over `attestationSigningBytes`. */
export interface SignedAttestation {
  readonly attestation: Attestation
  readonly signature: Uint8Array
}

// Domain tags keep a signature over one kind of message from verifying as another.
const DECISION_DOMAIN = 'realmsync/decision/v1\n'
const ATTESTATION_DOMAIN = 'realmsync/attestation/v1\n'
const encoder = new TextEncoder()

/** The intent as plain data, optional fields left out when absent, so both ends canonicalise it alike. */
const intentData = (intent: Intent): Record<string, unknown> => ({
  action: intent.action,
  seq: intent.seq,
  player: intent.player,
  payload: intent.payload,
  ...(intent.predictedVersion !== undefined ? { predictedVersion: intent.predictedVersion } : {}),
  ...(intent.stamp !== undefined ? { stamp: { wallMs: intent.stamp.wallMs, counter: intent.stamp.counter, peer: intent.stamp.peer } } : {}),
})

/** The canonical bytes a decider signs: a domain tag and sorted-key JSON of every field but the signature. */
export const decisionSigningBytes = (decision: Decision): Uint8Array =>
  encoder.encode(
    DECISION_DOMAIN +
      canonicalJson({
        id: decision.id,
        decider: decision.decider,
        kind: decision.kind,
        inputs: { intent: intentData(decision.inputs.intent), preState: decision.inputs.preState },
        outcome: decision.outcome,
        stamp: { wallMs: decision.stamp.wallMs, counter: decision.stamp.counter, peer: decision.stamp.peer },
      }),
  )

const STATEMENT_DOMAIN = 'realmsync/statement/'
const STATEMENT_NAME = /^[a-z][a-z0-9-]{0,63}$/

/**
 * The canonical bytes a peer signs for a statement that is neither a decision nor an attestation
 * (a participant's vote in a cross-owner trade): `realmsync/statement/<name>` and sorted-key JSON,
 * so no statement verifies as a decision or an attestation, or as a statement of another name.
 */
export const statementSigningBytes = (name: string, value: WorldValue): Uint8Array => {
  if (!STATEMENT_NAME.test(name)) throw new RangeError(`statement name '${name}' must be kebab-case`)
  return encoder.encode(`${STATEMENT_DOMAIN}${name}\n${canonicalJson(value)}`)
}

/** SHA-256 (hex) of an intent as decisions sign it: binds a statement to one exact intent. */
export const intentDigest = (intent: Intent): string => createHash('sha256').update(canonicalJson(intentData(intent) as WorldValue)).digest('hex')

/** SHA-256 (hex) of a decision's signing bytes: what attestations and replay checks compare. */
export const decisionDigest = (decision: Decision): string => createHash('sha256').update(decisionSigningBytes(decision)).digest('hex')

/** The canonical bytes an attester signs. */
export const attestationSigningBytes = (attestation: Attestation): Uint8Array =>
  encoder.encode(
    ATTESTATION_DOMAIN +
      canonicalJson({
        decisionId: attestation.decisionId,
        decider: attestation.decider,
        decisionDigest: attestation.decisionDigest,
        attester: attestation.attester,
        verdict: attestation.verdict,
        reason: attestation.reason,
      }),
  )

/** The id a decider gives a decision stamped `stamp`: unique because HLC stamps of one peer never repeat. */
export const decisionIdOf = (stamp: HlcTimestamp): string => `${stamp.peer}:${stamp.wallMs}:${stamp.counter}`

/** Whether two outcomes are the same value (canonical JSON, so key order does not matter). */
export const sameOutcome = (a: WorldValue, b: WorldValue): boolean => canonicalJson(a) === canonicalJson(b)
