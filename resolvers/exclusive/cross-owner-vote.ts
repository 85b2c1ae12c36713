import type { Intent, WorldValue } from '../../core/index.js'
import { intentDigest } from '../decisions/index.js'

/** The statement name a participant owner signs its vote of a cross-owner claim under (`statementSigningBytes`). */
export const CROSS_OWNER_VOTE_STATEMENT = 'cross-owner-vote'

/** One participant owner's vote on its part of a cross-owner claim, as it signs it. */
export interface CrossOwnerVote {
  /** The claim's id (unique across the cluster). */
  readonly claimId: string
  /** The claim's intent: the vote is bound to these exact terms (by digest). */
  readonly intent: Intent
  /** The coordinator the vote answers: a vote cannot be replayed to another. */
  readonly coordinator: string
  /** The participant owner that voted. */
  readonly voter: string
  /** The resources of its part, sorted. */
  readonly part: readonly string[]
  readonly ok: boolean
  /** The refusal reason of a no vote (`''` for yes). */
  readonly reason: string
}

/**
 * The signed value of a vote. A coordinator that alters any of it (turns a no into a yes, moves a
 * vote to another claim, intent, coordinator or part) breaks the participant's signature.
 */
export const crossOwnerVoteStatement = (vote: CrossOwnerVote): WorldValue => ({
  claim: vote.claimId,
  intent: intentDigest(vote.intent),
  coordinator: vote.coordinator,
  voter: vote.voter,
  part: [...vote.part].sort(),
  ok: vote.ok,
  reason: vote.reason,
})

/** How a settlement core signs its votes and checks the votes it collects (the gate binds it to a `DecisionCore`). */
export interface VoteSigner {
  /** This peer's Ed25519 signature of its vote. */
  sign(vote: CrossOwnerVote): Uint8Array
  /** Whether `signature` is `vote.voter`'s signature of exactly this vote. */
  verify(vote: CrossOwnerVote, signature: Uint8Array): boolean
}

/** Hex of a signature, as votes carry it in a decision's pre-state (plain data). */
export const signatureHex = (signature: Uint8Array): string => Buffer.from(signature).toString('hex')

/** Bytes of a hex signature; undefined for anything but 64 bytes of hex. */
export const signatureBytes = (hex: unknown): Uint8Array | undefined =>
  typeof hex === 'string' && /^[0-9a-f]{128}$/.test(hex) ? new Uint8Array(Buffer.from(hex, 'hex')) : undefined
