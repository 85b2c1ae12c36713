import { compareHlc, type HlcTimestamp, type Intent, type WorldValue } from '../../core/index.js'
import type { ActionContext, ActionHandler, Validation } from '../action-handler.js'

/**
 * How an action's effects combine when two peers apply them concurrently. `commutative` effects
 * merge as CRDTs (counters, chat), so any peer applies them at once, even cut off by a partition.
 * `exclusive` effects must have one winner (pickup, trade, unique claim), so only the owner peer of
 * the resources they touch may apply them.
 */
export type ResolverKind = 'commutative' | 'exclusive'

/** One exclusive intent on its way to settlement: the intent, who sent it where, and when. */
export interface Claim {
  /** Unique across the cluster: `<origin peer>/<session>/<seq>`, so a resend is recognised as the same claim. */
  readonly id: string
  /** The peer the player is connected to; it hears the outcome. */
  readonly origin: string
  /** The player's session on the origin peer. */
  readonly session: string
  /** The intent; its `stamp` is the origin peer's HLC time at receipt (never the client's). */
  readonly intent: Intent & { readonly stamp: HlcTimestamp }
  /** Membership view epoch the origin routed the claim under; the owner refuses claims of another view. */
  readonly viewEpoch: number
}

/** A resolver's verdict on one claim of a settlement window: try to apply it, or refuse it outright. */
export type ClaimDecision =
  | { readonly claim: Claim; readonly decision: 'try' }
  | { readonly claim: Claim; readonly decision: 'refuse'; readonly reason: string; readonly message: string }

/**
 * A conflict-resolution rule for one action type: an `ActionHandler` (pure, deterministic `validate`
 * over world state; `apply` writes the outcome) plus its kind and, for exclusive kinds, the
 * resources it needs the owner of and how a window of competing claims is settled.
 */
export interface ActionResolver extends ActionHandler {
  readonly action: string
  readonly kind: ResolverKind
  /**
   * Resource ids (`item:<id>`, `entity:<id>`, ...) the intent touches; their owner peers settle it.
   * Required for exclusive kinds; an empty list is refused as `invalid-intent`.
   */
  resources?(intent: Intent): readonly string[]
  /**
   * Orders (and may refuse) the claims of one settlement window; the owner then applies the `try`
   * claims in that order, each re-validated against the world as the earlier ones left it.
   * Default: `resolveByHlc`.
   */
  resolve?(claims: readonly Claim[]): readonly ClaimDecision[]
  /** The version an intent's `predictedVersion` is compared with; without it versions are not checked. */
  versionOf?(context: ActionContext): number | undefined
  /** The current state sent back with a `stale-version` or `conflict` refusal, so a client can roll back. */
  currentState?(context: ActionContext): WorldValue
  /**
   * For claims whose resources have different owners (a trade across peers): checks the part of the
   * claim one owner is responsible for, under that owner's reservation. Default: `validate`.
   */
  prepare?(context: ActionContext, resource: string): Validation
  /** Writes the part of a cross-owner claim one owner is responsible for, after every owner prepared. */
  commitPart?(context: ActionContext, resource: string): void
}

/** The default settlement order: HLC stamp, ties broken by the origin peer id (inside `compareHlc`), then claim id. */
export const compareClaims = (a: Claim, b: Claim): number => compareHlc(a.intent.stamp, b.intent.stamp) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** Tries every claim in HLC order: the first that still validates wins; later ones find the world changed and lose. */
export const resolveByHlc = (claims: readonly Claim[]): ClaimDecision[] => [...claims].sort(compareClaims).map((claim) => ({ claim, decision: 'try' as const }))
