import type { IntentResult, Millis, SettlementJournal, SettlementRecord, WorldValue } from '../../core/index.js'
import type { Validation } from '../action-handler.js'
import type { ClaimMessage } from './claim-codec.js'
import type { Membership } from './ownership.js'
import { signatureHex, type VoteSigner } from './cross-owner-vote.js'
import { compareClaims, resolveByHlc, type ActionResolver, type Claim, type ClaimDecision } from './resolver.js'
import { settlementWindow, type SettlementWindow } from './settlement-window.js'

/** Settings of a settlement core. */
export interface SettlementOptions {
  /** This peer's id. */
  readonly self: string
  /** The installed membership view and ownership function. */
  readonly membership: Membership
  /** The resolver of an action, or undefined. */
  readonly resolverOf: (action: string) => ActionResolver | undefined
  /** Whether a peer can be reached right now (liveness only decides availability, never ownership). */
  readonly isReachable: (peer: string) => boolean
  /** What settling does to the world; the binding implements it over a WorldDoc and an IntentEngine. */
  readonly effects: SettlementEffects
  /**
   * How long an owner collects claims before settling them, so a claim from a farther peer still
   * competes: ms (default 20), or `auto`, sized from the round trips `roundTripTo` reports
   * (settlement-window.ts).
   */
  readonly windowMs?: SettlementWindow
  /** The measured round trip to a peer in ms, if any (the router's estimate); used by an `auto` window. */
  readonly roundTripTo?: (peer: string) => Millis | undefined
  /** Furthest back a claim's stamp may reach before the owner clamps it (lag compensation is bounded). Default 250 ms. */
  readonly maxLagMs?: Millis
  /** How often an origin resends an unanswered claim, and a coordinator an unacknowledged decision. Default 150 ms. */
  readonly retryMs?: Millis
  /** How long an origin waits for an outcome before refusing with `authority-unavailable`. Default 10 000 ms. */
  readonly claimTimeoutMs?: Millis
  /** How long a coordinator waits for votes before aborting a cross-owner claim. Default 2000 ms. */
  readonly prepareTimeoutMs?: Millis
  /** Outcomes remembered for resent claims. Default 10 000. */
  readonly rememberedOutcomes?: number
  /**
   * After a new membership view is installed, how long a new owner refuses claims on resources it
   * took over, so the previous owner's last grants reach it by replication first. Default 2000 ms.
   */
  readonly handoverMs?: Millis
  /**
   * Why a peer must not be trusted with authority (it is quarantined for a settlement that failed
   * re-validation), or undefined. Its resources are refused as `authority-unavailable` (nobody else
   * may grant them either, so they never get a second holder) and its outcomes and prepares are not accepted.
   */
  readonly barred?: (peer: string) => string | undefined
  /**
   * Where settled outcomes and cross-owner reservations are kept across a restart (storage/'s
   * `SqliteSettlementJournal`); loaded when the core is created, then `recover` resumes them.
   * Without it they live in memory only.
   */
  readonly journal?: SettlementJournal
  /** This core's records in the journal. Default: `self`. */
  readonly journalScope?: string
  /**
   * Signs this peer's votes as a participant of cross-owner claims and checks the votes it collects
   * as a coordinator (a vote whose signature does not verify is not counted: no commit rests on it).
   * The gate binds it to its `DecisionCore` with signed settlements. Without it votes are unsigned.
   */
  readonly votes?: VoteSigner
}

/** The world side of settlement, carried out by the binding. */
export interface SettlementEffects {
  /** Applies one winner candidate now (validate against the world, then write); its answer arrives later as an `applied` event. */
  apply(claim: Claim): void
  /** Checks one owner's part of a cross-owner claim against the world (`ActionResolver.prepare`). */
  prepare(claim: Claim, resources: readonly string[]): Validation
  /** Writes one owner's part of a cross-owner claim. */
  commit(claim: Claim, resources: readonly string[]): void
  /** The current state to send back with a refusal, if the resolver says. */
  currentState(claim: Claim): WorldValue | undefined
  /** Coordinator: a cross-owner claim was decided, told before its own part is written (signed settlements report it). */
  decided?(claim: Claim, decision: CrossOwnerDecision): void
}

/** A coordinator's commit decision of a cross-owner claim, with the reservation outcomes it rests on. */
export interface CrossOwnerDecision {
  readonly coordinator: string
  readonly commit: boolean
  /** Owner -> the resources of its part, the coordinator's own included. */
  readonly parts: Readonly<Record<string, readonly string[]>>
  /**
   * Owner -> its reservation outcome (`ok`, or the refusal reason) and, when votes are signed, the
   * participant's signature of it (hex; the coordinator's own vote is its signed decision). An owner
   * that did not answer, or whose signature did not verify, is absent.
   */
  readonly votes: Readonly<Record<string, { readonly ok: boolean; readonly reason: string; readonly signature?: string }>>
}

/** What happens to the settlement core. */
export type SettlementEvent =
  /** A local player's exclusive intent, stamped by this peer. */
  | { readonly type: 'submit'; readonly claim: Claim }
  /** A claims-protocol message from a peer. */
  | { readonly type: 'message'; readonly from: string; readonly message: ClaimMessage }
  /** A timer set by a `setTimer` command fired. */
  | { readonly type: 'timer'; readonly timer: string }
  /** The answer to an `apply`. */
  | { readonly type: 'applied'; readonly claimId: string; readonly result: IntentResult }

/** What the settlement core asks its driver to do. */
export type SettlementCommand =
  | { readonly type: 'send'; readonly to: string; readonly message: ClaimMessage }
  | { readonly type: 'setTimer'; readonly timer: string; readonly at: Millis }
  /** The outcome of a local player's claim: answer the player. */
  | { readonly type: 'answer'; readonly claim: Claim; readonly result: IntentResult; readonly state?: WorldValue }

/** Counters of a settlement core. */
export interface SettlementStats {
  claimsSubmitted: number
  claimsForwarded: number
  claimsResent: number
  claimsSettled: number
  windowsSettled: number
  crossOwnerCommits: number
  crossOwnerAborts: number
  refusedUnavailable: number
  refusedNotOwner: number
  /** Claims refused, and outcomes or prepares not accepted, because the owner is quarantined (`barred`). */
  refusedQuarantined: number
  /** Votes a coordinator did not count because their signature did not verify. */
  votesUnverified: number
  lateOutcomes: number
  stampsClamped: number
}

interface Pending {
  readonly claim: Claim
  readonly coordinator: string
  readonly deadline: Millis
}

interface CrossOwner {
  readonly claim: Claim
  readonly mine: readonly string[]
  /** Participant -> its resources. */
  readonly parts: ReadonlyMap<string, readonly string[]>
  readonly votes: Set<string>
  /** Participant -> its signature of the vote counted (signed votes only). */
  readonly signatures: Map<string, Uint8Array>
  readonly done: Set<string>
  decided: boolean | undefined
}

interface Prepared {
  readonly claim: Claim
  readonly coordinator: string
  readonly resources: readonly string[]
}

type Outcome = { readonly result: IntentResult; readonly state?: WorldValue }

const rejectOf = (claim: Claim, reason: string, message: string): IntentResult => ({ type: 'reject', seq: claim.intent.seq, reason, message })

/**
 * The claims protocol as a sans-IO state machine (events in, commands out; no sockets, no clock).
 * Three roles, any of which one peer may play for a claim:
 * - origin: routes a local claim to its owner, resends it until an outcome arrives, answers the player;
 *   if the owner cannot be reached it refuses with `authority-unavailable`, never grants.
 * - owner: collects claims for a bounded window, orders them by HLC (ties by peer id), applies them
 *   in order through `effects.apply` (so the first valid one wins), answers each origin, and
 *   remembers outcomes so a resent claim gets the same answer.
 * - coordinator of a cross-owner claim (a trade whose items have different owners): two-phase commit
 *   with reservations: every owner checks and locks its part, then all commit or all abort.
 */
export class SettlementCore {
  /** Counters. */
  readonly stats: SettlementStats = {
    claimsSubmitted: 0,
    claimsForwarded: 0,
    claimsResent: 0,
    claimsSettled: 0,
    windowsSettled: 0,
    crossOwnerCommits: 0,
    crossOwnerAborts: 0,
    refusedUnavailable: 0,
    refusedNotOwner: 0,
    refusedQuarantined: 0,
    votesUnverified: 0,
    lateOutcomes: 0,
    stampsClamped: 0,
  }
  private readonly windowFor: (roundTrips: ReadonlyArray<Millis | undefined>) => Millis
  private readonly maxLagMs: Millis
  private readonly retryMs: Millis
  private readonly claimTimeoutMs: Millis
  private readonly prepareTimeoutMs: Millis
  private readonly rememberedOutcomes: number
  private readonly handoverMs: Millis
  /** Origin: claims sent to an owner and not yet answered. */
  private readonly pending = new Map<string, Pending>()
  /** Owner: claims waiting for the window to close. */
  private window: Claim[] = []
  private windowOpen = false
  /** Owner: claims handed to `effects.apply` whose answer has not come back. */
  private readonly applying = new Map<string, Claim>()
  /** Owner: settled outcomes, oldest first, for resent claims. */
  private readonly outcomes = new Map<string, Outcome>()
  /** Owner: resource -> id of the cross-owner claim that reserved it. */
  private readonly locks = new Map<string, string>()
  /** Coordinator: cross-owner claims in flight. */
  private readonly crossOwner = new Map<string, CrossOwner>()
  /** Participant: parts reserved and waiting for the coordinator's decision. */
  private readonly prepared = new Map<string, Prepared>()
  private commands: SettlementCommand[] = []
  private now: Millis = 0
  private readonly scope: string

  constructor(private readonly options: SettlementOptions) {
    this.windowFor = settlementWindow(options.windowMs)
    this.maxLagMs = options.maxLagMs ?? 250
    this.retryMs = options.retryMs ?? 150
    this.claimTimeoutMs = options.claimTimeoutMs ?? 10_000
    this.prepareTimeoutMs = options.prepareTimeoutMs ?? 2000
    this.rememberedOutcomes = options.rememberedOutcomes ?? 10_000
    this.handoverMs = options.handoverMs ?? 2000
    this.scope = options.journalScope ?? options.self
    for (const record of options.journal?.load(this.scope) ?? []) this.restore(record)
  }

  /**
   * Resumes what a restart interrupted (call once, after creating the core with a journal): a
   * cross-owner claim this peer coordinated and had not decided is aborted (it never sent a commit,
   * so aborting is always safe), and decided ones resend their decision until every owner confirms.
   * Reservations this peer holds as a participant stay until the coordinator's decision arrives.
   */
  recover(now: Millis): SettlementCommand[] {
    this.now = now
    this.commands = []
    for (const state of [...this.crossOwner.values()]) {
      if (state.decided === undefined) {
        this.stats.refusedUnavailable++
        this.decide(state, false, { result: rejectOf(state.claim, 'authority-unavailable', `coordinator ${this.options.self} restarted before every owner of this ${state.claim.intent.action} voted`) })
      } else {
        this.setTimer(`decide:${state.claim.id}`, now)
      }
    }
    return this.commands
  }

  /** Claims this peer sent to an owner and has no outcome for yet: what a client shows as pending. */
  pendingClaims(): Claim[] {
    return [...this.pending.values()].map((p) => p.claim)
  }

  /** Resources reserved by cross-owner claims on this peer, with the claim holding each. */
  reservations(): ReadonlyMap<string, string> {
    return this.locks
  }

  /** Handles one event at time `now` and returns what the driver must do. */
  handle(event: SettlementEvent, now: Millis): SettlementCommand[] {
    this.now = now
    this.commands = []
    switch (event.type) {
      case 'submit':
        this.submit(event.claim)
        break
      case 'message':
        this.receive(event.from, event.message)
        break
      case 'timer':
        this.fire(event.timer)
        break
      case 'applied':
        this.applied(event.claimId, event.result)
        break
    }
    return this.commands
  }

  // Origin

  private submit(claim: Claim): void {
    this.stats.claimsSubmitted++
    if (this.pending.has(claim.id)) return
    const route = this.route(claim)
    if ('reason' in route) {
      this.answerLocal(claim, rejectOf(claim, route.reason, route.message))
      return
    }
    if (route.coordinator === this.options.self) {
      this.enqueue(claim)
      return
    }
    const barred = this.barredRefusal(claim, route.coordinator)
    if (barred !== undefined) {
      this.answerLocal(claim, barred)
      return
    }
    if (!this.options.isReachable(route.coordinator)) {
      this.stats.refusedUnavailable++
      this.answerLocal(claim, rejectOf(claim, 'authority-unavailable', `the owner ${route.coordinator} of this ${claim.intent.action} cannot be reached; try again later`))
      return
    }
    this.pending.set(claim.id, { claim, coordinator: route.coordinator, deadline: this.now + this.claimTimeoutMs })
    this.stats.claimsForwarded++
    this.send(route.coordinator, { type: 'claim', claim })
    this.setTimer(`retry:${claim.id}`, this.now + this.retryMs)
  }

  private route(claim: Claim): { coordinator: string; resources: string[] } | { reason: string; message: string } {
    const resolver = this.options.resolverOf(claim.intent.action)
    if (resolver === undefined || resolver.kind !== 'exclusive' || resolver.resources === undefined) {
      return { reason: 'unknown-action', message: `no exclusive resolver for action '${claim.intent.action}'` }
    }
    let resources: string[]
    try {
      resources = [...new Set(resolver.resources(claim.intent))].sort()
    } catch {
      resources = []
    }
    if (resources.length === 0) return { reason: 'invalid-intent', message: `${claim.intent.action} names no resource` }
    // The coordinator is the owner of the smallest resource, so every peer picks the same one.
    return { coordinator: this.options.membership.owner(resources[0] as string), resources }
  }

  private retry(claimId: string): void {
    const pending = this.pending.get(claimId)
    if (pending === undefined) return
    const barred = this.barredRefusal(pending.claim, pending.coordinator)
    if (barred !== undefined) {
      this.pending.delete(claimId)
      this.answerLocal(pending.claim, barred)
      return
    }
    if (this.now >= pending.deadline) {
      this.pending.delete(claimId)
      this.stats.refusedUnavailable++
      this.answerLocal(
        pending.claim,
        rejectOf(pending.claim, 'authority-unavailable', `no outcome from owner ${pending.coordinator} within ${this.claimTimeoutMs} ms; if it was settled, the world document will show it`),
      )
      return
    }
    // Resending is safe: the owner recognises the claim id and answers with the outcome it settled.
    if (this.options.isReachable(pending.coordinator)) {
      this.stats.claimsResent++
      this.send(pending.coordinator, { type: 'claim', claim: pending.claim })
    }
    this.setTimer(`retry:${claimId}`, Math.min(pending.deadline, this.now + this.retryMs))
  }

  private outcomeArrived(from: string, claimId: string, outcome: Outcome): void {
    const pending = this.pending.get(claimId)
    if (pending === undefined || pending.coordinator !== from) {
      this.stats.lateOutcomes++
      return
    }
    this.pending.delete(claimId)
    // An owner convicted of a bad settlement: its word is not passed on to the player.
    const barred = this.barredRefusal(pending.claim, from, '; its outcome was not accepted (the world document shows what it wrote)')
    if (barred !== undefined) {
      this.answerLocal(pending.claim, barred)
      return
    }
    this.commands.push({ type: 'answer', claim: pending.claim, result: outcome.result, ...(outcome.state !== undefined ? { state: outcome.state } : {}) })
  }

  // Owner

  private receive(from: string, message: ClaimMessage): void {
    switch (message.type) {
      case 'claim':
        // A peer may only claim for its own players: the origin hears the outcome and answers them.
        if (message.claim.origin !== from) return
        this.claimArrived(message.claim)
        break
      case 'outcome':
        this.outcomeArrived(from, message.claimId, { result: message.result, ...(message.state !== undefined ? { state: message.state } : {}) })
        break
      case 'prepare':
        this.prepareArrived(from, message.claim)
        break
      case 'vote':
        this.voteArrived(from, message.claimId, message.ok, message.reason, message.message, message.signature)
        break
      case 'decide':
        this.decideArrived(from, message.claimId, message.commit)
        break
      case 'done':
        this.doneArrived(from, message.claimId)
        break
    }
  }

  private claimArrived(claim: Claim): void {
    const known = this.outcomes.get(claim.id)
    if (known !== undefined) {
      this.send(claim.origin, { type: 'outcome', claimId: claim.id, ...known })
      return
    }
    if (this.applying.has(claim.id) || this.crossOwner.has(claim.id) || this.window.some((c) => c.id === claim.id)) return
    const route = this.route(claim)
    if ('reason' in route) {
      this.settle(claim, { result: rejectOf(claim, route.reason, route.message) })
      return
    }
    if (claim.viewEpoch !== this.options.membership.view.epoch || route.coordinator !== this.options.self) {
      // Never settle what this peer does not own under the view the claim was routed by.
      this.stats.refusedNotOwner++
      this.settle(claim, {
        result: rejectOf(claim, 'authority-unavailable', `peer ${this.options.self} (view ${this.options.membership.view.epoch}) does not own this claim (routed under view ${claim.viewEpoch})`),
      })
      return
    }
    this.enqueue(claim)
  }

  private enqueue(claim: Claim): void {
    // Lag compensation is bounded: a stamp further back than maxLag (a slow link or a lying peer)
    // competes as if it were maxLag old, so nobody can win by claiming to have acted long ago.
    const floor = Math.max(0, Math.floor(this.now - this.maxLagMs))
    let queued = claim
    if (claim.intent.stamp.wallMs < floor) {
      this.stats.stampsClamped++
      queued = { ...claim, intent: { ...claim.intent, stamp: { ...claim.intent.stamp, wallMs: floor } } }
    }
    this.window.push(queued)
    if (!this.windowOpen) {
      this.windowOpen = true
      this.setTimer('window', this.now + this.currentWindow())
    }
  }

  /** The window for the claims arriving now: over the other members this peer can reach. */
  private currentWindow(): Millis {
    const others = this.options.membership.view.members.filter((peer) => peer !== this.options.self && this.options.isReachable(peer))
    return this.windowFor(others.map((peer) => this.options.roundTripTo?.(peer)))
  }

  private closeWindow(): void {
    const claims = this.window
    this.window = []
    this.windowOpen = false
    if (claims.length === 0) return
    this.stats.windowsSettled++
    for (const decision of this.order(claims)) {
      const { claim } = decision
      if (decision.decision === 'refuse') {
        this.settle(claim, { result: rejectOf(claim, decision.reason, decision.message) })
        continue
      }
      const route = this.route(claim)
      if ('reason' in route) continue
      const reserved = route.resources.find((resource) => this.locks.has(resource))
      if (reserved !== undefined) {
        this.settle(claim, this.refusal(claim, 'conflict', `${reserved} is reserved by a trade in progress`))
        continue
      }
      const handingOver = this.inHandover(route.resources)
      if (handingOver !== undefined) {
        this.stats.refusedUnavailable++
        this.settle(claim, this.refusal(claim, 'authority-unavailable', `ownership of ${handingOver} is being handed over to this peer; try again shortly`))
        continue
      }
      const owners = new Map<string, string[]>()
      for (const resource of route.resources) {
        const owner = this.options.membership.owner(resource)
        owners.set(owner, [...(owners.get(owner) ?? []), resource])
      }
      if (owners.size === 1) {
        this.applying.set(claim.id, claim)
        this.options.effects.apply(claim)
      } else {
        this.beginCrossOwner(claim, owners)
      }
    }
  }

  /** Claims of resolvers with the default rule are settled in one HLC order; custom resolvers order their own claims after them. */
  private order(claims: readonly Claim[]): ClaimDecision[] {
    const byDefault: Claim[] = []
    const custom = new Map<string, Claim[]>()
    for (const claim of claims) {
      const resolver = this.options.resolverOf(claim.intent.action)
      if (resolver?.resolve === undefined) byDefault.push(claim)
      else custom.set(claim.intent.action, [...(custom.get(claim.intent.action) ?? []), claim])
    }
    const decisions: ClaimDecision[] = resolveByHlc(byDefault)
    for (const action of [...custom.keys()].sort()) {
      const group = (custom.get(action) as Claim[]).sort(compareClaims)
      const resolver = this.options.resolverOf(action) as ActionResolver & { resolve: NonNullable<ActionResolver['resolve']> }
      decisions.push(...resolver.resolve(group))
    }
    return decisions
  }

  private applied(claimId: string, result: IntentResult): void {
    const claim = this.applying.get(claimId)
    if (claim === undefined) return
    this.applying.delete(claimId)
    const state = result.type === 'reject' ? this.options.effects.currentState(claim) : undefined
    this.settle(claim, { result, ...(state !== undefined ? { state } : {}) })
  }

  private refusal(claim: Claim, reason: string, message: string): Outcome {
    const state = this.options.effects.currentState(claim)
    return { result: rejectOf(claim, reason, message), ...(state !== undefined ? { state } : {}) }
  }

  /** Records a final outcome and tells the origin. */
  private settle(claim: Claim, outcome: Outcome): void {
    this.stats.claimsSettled++
    this.outcomes.set(claim.id, outcome)
    this.persist(`outcome:${claim.id}`, outcome)
    if (this.outcomes.size > this.rememberedOutcomes) {
      const oldest = this.outcomes.keys().next().value as string
      this.outcomes.delete(oldest)
      this.forget(`outcome:${oldest}`)
    }
    if (claim.origin === this.options.self) this.answerLocal(claim, outcome.result, outcome.state)
    else this.send(claim.origin, { type: 'outcome', claimId: claim.id, ...outcome })
  }

  // Coordinator of a cross-owner claim

  private beginCrossOwner(claim: Claim, owners: ReadonlyMap<string, readonly string[]>): void {
    const mine = owners.get(this.options.self) ?? []
    const parts = new Map([...owners].filter(([owner]) => owner !== this.options.self))
    const barredOwner = [...parts.keys()].find((owner) => this.options.barred?.(owner) !== undefined)
    if (barredOwner !== undefined) {
      this.settle(claim, { result: this.barredRefusal(claim, barredOwner) ?? rejectOf(claim, 'authority-unavailable', `owner ${barredOwner} is quarantined`) })
      return
    }
    const unreachable = [...parts.keys()].find((owner) => !this.options.isReachable(owner))
    if (unreachable !== undefined) {
      this.stats.refusedUnavailable++
      this.settle(claim, this.refusal(claim, 'authority-unavailable', `owner ${unreachable} of part of this ${claim.intent.action} cannot be reached`))
      return
    }
    const verdict = this.options.effects.prepare(claim, mine)
    if (!verdict.ok) {
      this.settle(claim, this.refusal(claim, verdict.reason, verdict.message))
      return
    }
    for (const resource of mine) this.locks.set(resource, claim.id)
    const state: CrossOwner = { claim, mine, parts, votes: new Set(), signatures: new Map(), done: new Set(), decided: undefined }
    this.crossOwner.set(claim.id, state)
    this.persistCrossOwner(state)
    for (const owner of parts.keys()) this.send(owner, { type: 'prepare', claim })
    this.setTimer(`prepare:${claim.id}`, this.now + this.prepareTimeoutMs)
  }

  private voteArrived(from: string, claimId: string, ok: boolean, reason: string, message: string, signature: Uint8Array | undefined): void {
    const state = this.crossOwner.get(claimId)
    if (state === undefined || !state.parts.has(from)) {
      // A vote for a claim already decided (a resent prepare, a late answer): repeat the decision,
      // which for an unknown claim is abort, so a participant never holds a reservation for ever.
      const known = this.outcomes.get(claimId)
      this.send(from, { type: 'decide', claimId, commit: known?.result.type === 'ack' })
      return
    }
    if (state.decided !== undefined) {
      this.send(from, { type: 'decide', claimId, commit: state.decided })
      return
    }
    const signer = this.options.votes
    const verified =
      signer === undefined ||
      (signature !== undefined &&
        signer.verify({ claimId, intent: state.claim.intent, coordinator: this.options.self, voter: from, part: state.parts.get(from) as readonly string[], ok, reason }, signature))
    if (!verified) this.stats.votesUnverified++
    if (!ok) {
      // Aborting is always safe; a refusal whose signature does not verify is left out of the signed decision.
      if (verified && signature !== undefined) state.signatures.set(from, signature)
      this.decide(state, false, { result: rejectOf(state.claim, reason || 'conflict', message || `owner ${from} refused its part`) }, verified ? { owner: from, reason } : undefined)
      return
    }
    // A yes vote that is not the participant's own word never counts: the prepare times out and aborts.
    if (!verified) return
    if (signature !== undefined) state.signatures.set(from, signature)
    state.votes.add(from)
    if (state.votes.size === state.parts.size) this.decide(state, true, { result: { type: 'ack', seq: state.claim.intent.seq, result: true } })
  }

  private decide(state: CrossOwner, commit: boolean, outcome: Outcome, refusal?: { readonly owner: string; readonly reason: string }): void {
    state.decided = commit
    if (this.options.effects.decided !== undefined) {
      const parts: Record<string, readonly string[]> = { [this.options.self]: state.mine }
      const votes: Record<string, { ok: boolean; reason: string; signature?: string }> = { [this.options.self]: { ok: true, reason: '' } }
      const signed = (owner: string): { signature?: string } => {
        const signature = state.signatures.get(owner)
        return signature === undefined ? {} : { signature: signatureHex(signature) }
      }
      for (const [owner, resources] of state.parts) parts[owner] = resources
      for (const owner of state.votes) votes[owner] = { ok: true, reason: '', ...signed(owner) }
      if (refusal !== undefined) votes[refusal.owner] = { ok: false, reason: refusal.reason, ...signed(refusal.owner) }
      this.options.effects.decided(state.claim, { coordinator: this.options.self, commit, parts, votes })
    }
    if (commit) {
      this.stats.crossOwnerCommits++
      this.options.effects.commit(state.claim, state.mine)
    } else {
      this.stats.crossOwnerAborts++
    }
    for (const resource of state.mine) this.locks.delete(resource)
    // Durable before any participant hears it: a restarted coordinator resends this decision, never another.
    this.persistCrossOwner(state)
    for (const owner of state.parts.keys()) this.send(owner, { type: 'decide', claimId: state.claim.id, commit })
    this.setTimer(`decide:${state.claim.id}`, this.now + this.retryMs)
    const refusalState = commit ? undefined : this.options.effects.currentState(state.claim)
    this.settle(state.claim, { ...outcome, ...(refusalState !== undefined ? { state: refusalState } : {}) })
  }

  private doneArrived(from: string, claimId: string): void {
    const state = this.crossOwner.get(claimId)
    if (state === undefined) return
    state.done.add(from)
    if (state.done.size === state.parts.size) {
      this.crossOwner.delete(claimId)
      this.forget(`coordinating:${claimId}`)
    }
  }

  private resendDecision(claimId: string): void {
    const state = this.crossOwner.get(claimId)
    if (state?.decided === undefined) return
    for (const owner of state.parts.keys()) {
      if (!state.done.has(owner) && this.options.isReachable(owner)) this.send(owner, { type: 'decide', claimId, commit: state.decided })
    }
    this.setTimer(`decide:${claimId}`, this.now + this.retryMs)
  }

  // Participant of a cross-owner claim

  private prepareArrived(from: string, claim: Claim): void {
    const route = this.route(claim)
    const mine = 'reason' in route ? [] : route.resources.filter((resource) => this.options.membership.owner(resource) === this.options.self)
    const vote = (ok: boolean, reason: string, message: string): void => {
      const signature = this.options.votes?.sign({ claimId: claim.id, intent: claim.intent, coordinator: from, voter: this.options.self, part: mine, ok, reason })
      this.send(from, { type: 'vote', claimId: claim.id, ok, reason, message, ...(signature !== undefined ? { signature } : {}) })
    }
    if (this.prepared.has(claim.id)) return vote(true, '', '')
    if ('reason' in route) return vote(false, route.reason, route.message)
    const barred = this.barredRefusal(claim, from)
    if (barred !== undefined && barred.type === 'reject') return vote(false, barred.reason, barred.message)
    if (route.coordinator !== from || claim.viewEpoch !== this.options.membership.view.epoch || mine.length === 0) {
      return vote(false, 'authority-unavailable', `peer ${this.options.self} does not own a part of this claim under view ${this.options.membership.view.epoch}`)
    }
    const reserved = mine.find((resource) => this.locks.has(resource))
    if (reserved !== undefined) return vote(false, 'conflict', `${reserved} is reserved by another trade`)
    const handingOver = this.inHandover(mine)
    if (handingOver !== undefined) return vote(false, 'authority-unavailable', `ownership of ${handingOver} is being handed over`)
    const verdict = this.options.effects.prepare(claim, mine)
    if (!verdict.ok) return vote(false, verdict.reason, verdict.message)
    for (const resource of mine) this.locks.set(resource, claim.id)
    this.prepared.set(claim.id, { claim, coordinator: from, resources: mine })
    // Durable before the yes vote leaves: a restarted participant still holds what it promised.
    this.persist(`prepared:${claim.id}`, { claim, coordinator: from, resources: mine })
    vote(true, '', '')
  }

  private decideArrived(from: string, claimId: string, commit: boolean): void {
    const prepared = this.prepared.get(claimId)
    if (prepared !== undefined && prepared.coordinator === from) {
      this.prepared.delete(claimId)
      this.forget(`prepared:${claimId}`)
      if (commit) this.options.effects.commit(prepared.claim, prepared.resources)
      for (const resource of prepared.resources) this.locks.delete(resource)
    }
    this.send(from, { type: 'done', claimId })
  }

  /** The refusal of a claim whose owner (or coordinator) `peer` is quarantined, counted; undefined when it is not. */
  private barredRefusal(claim: Claim, peer: string, note = ''): IntentResult | undefined {
    const why = this.options.barred?.(peer)
    if (why === undefined) return undefined
    this.stats.refusedQuarantined++
    return rejectOf(claim, 'authority-unavailable', `owner ${peer} of this ${claim.intent.action} is quarantined (${why}); its resources are refused until it leaves the membership view${note}`)
  }

  /** A resource this peer owns only since a recent view change, whose previous owner's grants may still be on the way. */
  private inHandover(resources: readonly string[]): string | undefined {
    return resources.find((resource) => {
      if (this.options.membership.owner(resource) !== this.options.self) return false
      const previous = this.options.membership.previousOwner(resource)
      return previous !== undefined && previous.owner !== this.options.self && this.now < previous.since + this.handoverMs
    })
  }

  // Persistence

  private persist(key: string, value: unknown): void {
    // Claims and outcomes are plain data (world values, strings and numbers) by construction.
    this.options.journal?.write(this.scope, key, value as WorldValue)
  }

  private forget(key: string): void {
    this.options.journal?.remove(this.scope, key)
  }

  private persistCrossOwner(state: CrossOwner): void {
    this.persist(`coordinating:${state.claim.id}`, { claim: state.claim, mine: state.mine, parts: [...state.parts], done: [...state.done], decided: state.decided ?? null })
  }

  private restore({ key, value }: SettlementRecord): void {
    const split = key.indexOf(':')
    const kind = key.slice(0, split)
    const claimId = key.slice(split + 1)
    const record = value as Record<string, unknown>
    if (kind === 'outcome') {
      this.outcomes.set(claimId, record as unknown as Outcome)
    } else if (kind === 'prepared') {
      const prepared = record as unknown as Prepared
      this.prepared.set(claimId, prepared)
      for (const resource of prepared.resources) this.locks.set(resource, claimId)
    } else if (kind === 'coordinating') {
      const saved = record as unknown as { claim: Claim; mine: string[]; parts: Array<[string, string[]]>; done: string[]; decided: boolean | null }
      const state: CrossOwner = { claim: saved.claim, mine: saved.mine, parts: new Map(saved.parts), votes: new Set(), signatures: new Map(), done: new Set(saved.done), decided: saved.decided ?? undefined }
      this.crossOwner.set(claimId, state)
      if (state.decided === undefined) for (const resource of state.mine) this.locks.set(resource, claimId)
    }
  }

  // Plumbing

  private fire(timer: string): void {
    if (timer === 'window') return this.closeWindow()
    const split = timer.indexOf(':')
    const kind = timer.slice(0, split)
    const claimId = timer.slice(split + 1)
    if (kind === 'retry') this.retry(claimId)
    else if (kind === 'decide') this.resendDecision(claimId)
    else if (kind === 'prepare') {
      const state = this.crossOwner.get(claimId)
      if (state !== undefined && state.decided === undefined) {
        this.stats.refusedUnavailable++
        this.decide(state, false, { result: rejectOf(state.claim, 'authority-unavailable', `not every owner of this ${state.claim.intent.action} answered within ${this.prepareTimeoutMs} ms`) })
      }
    }
  }

  private answerLocal(claim: Claim, result: IntentResult, state?: WorldValue): void {
    this.commands.push({ type: 'answer', claim, result, ...(state !== undefined ? { state } : {}) })
  }

  private send(to: string, message: ClaimMessage): void {
    this.commands.push({ type: 'send', to, message })
  }

  private setTimer(timer: string, at: Millis): void {
    this.commands.push({ type: 'setTimer', timer, at })
  }
}
