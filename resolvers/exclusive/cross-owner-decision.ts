import type { Intent, WorldValue } from '../../core/index.js'
import { accept, refuse, type Validation } from '../action-handler.js'
import { payloadField } from '../anticheat/index.js'
import { decisionRule, statementSigningBytes, verifyBytes, type DecisionKeyRegistry, type DecisionRule, type DecisionRules } from '../decisions/index.js'
import { CROSS_OWNER_VOTE_STATEMENT, crossOwnerVoteStatement, signatureBytes } from './cross-owner-vote.js'
import { itemResource, tradeTerms, type TradeTerms } from './item-resolvers.js'
import { BUILTIN_SETTLED_ACTIONS, SETTLEMENT_DECISION_KIND, settlementRule, type SettledActions, type SettlementHolder, type SettlementRepair } from './settlement-decision.js'

/** The decision kind a coordinator's commit decision of a cross-owner trade is signed and re-validated as (`settlementPreStateCheck` knows it too). */
export const CROSS_OWNER_DECISION_KIND = 'cross-owner-commit'

/** Whether `signature` is `voter`'s signature of a vote statement (`crossOwnerVoteStatement`). */
export type VoteVerifier = (voter: string, statement: WorldValue, signature: Uint8Array) => boolean

/** A vote verifier over the cluster's public keys. */
export const voteVerifierOf =
  (keys: DecisionKeyRegistry): VoteVerifier =>
  (voter, statement, signature) => {
    const key = keys.keyOf(voter)
    return key !== undefined && verifyBytes(key, statementSigningBytes(CROSS_OWNER_VOTE_STATEMENT, statement), signature)
  }

interface ReadDecision {
  readonly terms: TradeTerms
  readonly coordinator: string
  readonly parts: ReadonlyMap<string, readonly string[]>
  /** Votes that count: with a verifier, only participants' votes whose signature verifies (and the coordinator's own). */
  readonly votes: ReadonlyMap<string, boolean>
  /** Participants whose vote is in the pre-state without a valid signature of theirs (with a verifier). */
  readonly forged: readonly string[]
  readonly items: ReadonlyMap<string, { readonly holder: SettlementHolder; readonly version: number }>
}

const stringArray = (value: WorldValue | undefined): string[] | undefined => (Array.isArray(value) && value.every((entry) => typeof entry === 'string') ? [...(value as string[])] : undefined)

const objectEntries = (value: WorldValue | undefined): Array<[string, WorldValue]> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : undefined

/** Reads and checks a cross-owner commit pre-state: the parts must cover the trade's items exactly once. */
const readDecision = (intent: Intent, preState: WorldValue, verify?: VoteVerifier): ReadDecision | string => {
  const terms = tradeTerms(intent)
  if (terms === undefined) return 'the intent is not a well-formed trade'
  const coordinator = payloadField(preState, 'coordinator')
  if (typeof coordinator !== 'string') return 'the pre-state needs the coordinator'
  const parts = new Map<string, readonly string[]>()
  const covered = new Set<string>()
  for (const [owner, value] of objectEntries(payloadField(preState, 'parts')) ?? []) {
    const resources = stringArray(value)
    if (resources === undefined || resources.length === 0) return `the part of ${owner} must list resources`
    for (const resource of resources) {
      if (covered.has(resource)) return `${resource} is in two parts`
      covered.add(resource)
    }
    parts.set(owner, resources)
  }
  const expected = [...terms.give, ...terms.take].map(itemResource)
  if (!parts.has(coordinator) || covered.size !== expected.length || !expected.every((resource) => covered.has(resource))) return 'the parts must cover the trade items exactly, the coordinator one of them'
  const votes = new Map<string, boolean>()
  const forged: string[] = []
  const claimId = payloadField(preState, 'claim')
  for (const [owner, vote] of objectEntries(payloadField(preState, 'votes')) ?? []) {
    const ok = payloadField(vote, 'ok')
    if (typeof ok !== 'boolean' || !parts.has(owner)) return `the vote of ${owner} is malformed`
    if (verify !== undefined && owner !== coordinator) {
      // A participant's vote is its own signed word, bound to this claim, intent, coordinator and part.
      const reason = payloadField(vote, 'reason')
      const signature = signatureBytes(payloadField(vote, 'signature'))
      const part = parts.get(owner) as readonly string[]
      const statement = typeof claimId === 'string' && typeof reason === 'string' ? crossOwnerVoteStatement({ claimId, intent, coordinator, voter: owner, part, ok, reason }) : undefined
      if (statement === undefined || signature === undefined || !verify(owner, statement, signature)) {
        forged.push(owner)
        continue
      }
    }
    votes.set(owner, ok)
  }
  const items = new Map<string, { holder: SettlementHolder; version: number }>()
  for (const [item, state] of objectEntries(payloadField(preState, 'items')) ?? []) {
    const type = payloadField(state, 'type')
    const id = payloadField(state, 'id')
    const version = payloadField(state, 'version')
    if (typeof type !== 'string' || (id !== undefined && typeof id !== 'string') || !Number.isSafeInteger(version)) return `the state of item ${item} is malformed`
    items.set(item, { holder: id === undefined ? { type } : { type, id }, version: version as number })
  }
  return { terms, coordinator, parts, votes, forged, items }
}

/** The rightful decision: commit exactly when every owner's counted vote is yes and the coordinator's own items were the traders'. */
const rightfulCommit = (read: ReadDecision): boolean => [...read.parts.keys()].every((owner) => read.votes.get(owner) === true) && coordinatorPartHolds(read)

const fromOf = (terms: TradeTerms, item: string): string => (terms.give.includes(item) ? terms.player : terms.partner)
const toOf = (terms: TradeTerms, item: string): string => (terms.give.includes(item) ? terms.partner : terms.player)
const itemsOfPart = (resources: readonly string[]): string[] => resources.map((resource) => resource.slice('item:'.length))

/** Whether the coordinator's own items were held as the terms say, by the pre-state it signed. */
const coordinatorPartHolds = (read: ReadDecision): boolean =>
  itemsOfPart(read.parts.get(read.coordinator) as readonly string[]).every((item) => {
    const state = read.items.get(item)
    return state !== undefined && state.holder.type === 'player' && state.holder.id === fromOf(read.terms, item)
  })

/** Settings of `crossOwnerCommitRule`. */
export interface CrossOwnerRuleOptions {
  /**
   * The cluster's public keys: every participant's vote in the pre-state must then carry that
   * participant's signature (`votes.<owner>.signature`, hex), so a coordinator that forges a vote or
   * alters one (a no into a yes, another claim's yes) is refused (`forged-vote`) and so quarantined
   * for `revalidation-failed`. Without keys, votes are the coordinator's word.
   */
  readonly keys?: DecisionKeyRegistry
}

/**
 * The rule a coordinator's cross-owner commit is re-validated by. Intent: the trade; pre-state
 * `{ claim, coordinator, parts: { owner: [resources] }, votes: { owner: { ok, reason, signature? } }, items }`
 * where `items` are the coordinator's own items as its replica showed them, reserved. The outcome is
 * `{ commit }`: true exactly when every owner's reservation succeeded and the coordinator's own
 * items were held as the terms say. A coordinator that commits over a refusal or a missing vote,
 * or over its own items not being the traders', reports another outcome; with `keys`, one that
 * puts a vote in the pre-state its participant did not sign is refused outright.
 */
export const crossOwnerCommitRule = (options: CrossOwnerRuleOptions = {}): DecisionRule => {
  const verify = options.keys === undefined ? undefined : voteVerifierOf(options.keys)
  return decisionRule(
    ({ intent, preState }): Validation => {
      const read = readDecision(intent, preState, verify)
      if (typeof read === 'string') return refuse('invalid-intent', read)
      if (read.forged.length > 0) return refuse('forged-vote', `the vote of ${read.forged.join(', ')} does not carry that owner's signature of this claim, intent, coordinator and part`)
      return accept()
    },
    ({ intent, preState }) => ({ commit: rightfulCommit(readDecision(intent, preState, verify) as ReadDecision) }),
  )
}

/** The rules of signed settlements, by kind: window settlements and cross-owner commits. Give them to every peer's `DecisionCore`. */
export const settlementRules = (actions: SettledActions = BUILTIN_SETTLED_ACTIONS, options: CrossOwnerRuleOptions = {}): DecisionRules => ({
  [SETTLEMENT_DECISION_KIND]: settlementRule(actions),
  [CROSS_OWNER_DECISION_KIND]: crossOwnerCommitRule(options),
})

/**
 * What undoing a cross-owner commit the rule says should have aborted means, for the coordinator's
 * own items (the ones the signed pre-state names): each goes back from the receiving trader to the
 * giving one, one version past the commit. Participants' parts are their owners' word and not
 * repaired here. With `verify`, a vote its participant did not sign counts as missing (a forged
 * yes commits nothing). Empty when the decision is malformed or was not a wrong commit.
 */
export const crossOwnerRepairs = (intent: Intent, preState: WorldValue, outcome: WorldValue, verify?: VoteVerifier): SettlementRepair[] => {
  const read = readDecision(intent, preState, verify)
  if (typeof read === 'string' || payloadField(outcome, 'commit') !== true) return []
  if (rightfulCommit(read)) return []
  return itemsOfPart(read.parts.get(read.coordinator) as readonly string[])
    .filter((item) => read.items.has(item))
    .sort()
    .map((item) => ({
      item,
      applied: { holder: { type: 'player', id: toOf(read.terms, item) }, version: (read.items.get(item)?.version as number) + 1 },
      rightful: (read.items.get(item) as { holder: SettlementHolder }).holder,
    }))
}
