import pino, { type Logger } from 'pino'
import { HybridLogicalClock, type Clock, type Intent, type IntentResult, type SettlementJournal, type TimerHandle, type WorldDoc, type WorldValue } from '../../core/index.js'
import { LaneOrigin } from '../../replication/index.js'
import type { ActionContext, ActionHandler } from '../action-handler.js'
import type { DecisionChannel, DecisionCore, DecisionSettlement, SignedActions } from '../decisions/index.js'
import type { IntentEngine } from '../intent-engine.js'
import { CLAIMS_CHANNEL, decodeClaimMessage, encodeClaimMessage } from './claim-codec.js'
import type { Membership } from './ownership.js'
import type { ResolverRegistry } from './registry.js'
import type { ActionResolver, Claim } from './resolver.js'
import { CROSS_OWNER_DECISION_KIND } from './cross-owner-decision.js'
import { CROSS_OWNER_VOTE_STATEMENT, crossOwnerVoteStatement, type VoteSigner } from './cross-owner-vote.js'
import { SettlementCore, type CrossOwnerDecision, type SettlementCommand, type SettlementEvent, type SettlementOptions, type SettlementStats } from './settlement-core.js'
import { SettlementRollback, type RollbackRecord } from './settlement-rollback.js'
import { BUILTIN_SETTLED_ACTIONS, claimEntry, itemsPreState, SETTLEMENT_DECISION_KIND, settledItems, type SettledActions } from './settlement-decision.js'

/**
 * Signed settlements (opt-in): the owner signs what it granted in each settlement window of these
 * actions, with the claims and the items' pre-state, and k peers re-run `settlementRule` on it.
 */
export interface GateDecisionsOptions {
  /** This peer's decisions channel (`bindDecisions`); its core's rules must map `SETTLEMENT_DECISION_KIND` to `settlementRule(actions)`. */
  readonly channel: DecisionChannel
  /** The core behind `channel`: the owners it quarantined have their resources refused here. */
  readonly core: DecisionCore
  /** Actions whose settlements are signed decisions, and what each does to items. Default `BUILTIN_SETTLED_ACTIONS` (pickup, drop, trade). */
  readonly actions?: SettledActions
  /** Told how each reported settlement ended (confirmed by k peers, or rejected and why). */
  readonly onSettlement?: (report: SettlementReport) => void
  /**
   * Critical actions (kills, rare drops) decided as signed decisions (the engine's handlers must
   * include `signed.handlers()`). One that names resources (`CriticalAction.resources`, a rare drop's
   * source) becomes a claim settled by the owner of those resources, which decides it through
   * `signed.submit`; a non-owner forwards it, or refuses `authority-unavailable` when the owner cannot
   * be reached, exactly as for exclusive claims. The others are decided here through `signed.submit`.
   */
  readonly signed?: SignedActions
  /**
   * Whether this peer undoes settlements it quarantines an owner for (`SettlementRollback`): each
   * wrongly held item goes back to the holder the settlement rule gives. Default true.
   */
  readonly rollback?: boolean
  /** Told of every item this peer rolled back (or found moved on): the evidence. */
  readonly onRollback?: (record: RollbackRecord) => void
}

/** One owner settlement reported for re-validation, and how it ended. */
export interface SettlementReport {
  /** `exclusive-settlement` (a window group) or `cross-owner-commit` (a coordinator's two-phase decision). */
  readonly kind: string
  /** Ids of the claims settled together (they touch overlapping items). */
  readonly claims: readonly string[]
  /** Ids of the claims this owner granted, in the order it applied them. */
  readonly granted: readonly string[]
  readonly settlement: DecisionSettlement
}

/** Counters of signed settlements. */
export interface GateDecisionStats {
  /** Settlements this owner signed and sent for re-validation. */
  reported: number
  /** Confirmed by k attestations. */
  confirmed: number
  /** Rejected by a re-validator, timed out, or not sent (too few validators reachable), by reason. */
  rejected: Record<string, number>
}

/** The part of a `Peer` the gate uses: its id, application channels and who is connected. */
export interface ClaimLink {
  readonly id: string
  onChannel(channel: string, listener: (from: string, payload: Uint8Array) => void): () => void
  sendChannel(to: string, channel: string, payload: Uint8Array): boolean
  connectedPeers(): readonly string[]
  /** The measured round trip to a peer in ms, if known (`Peer` reports its router's estimate); sizes an `auto` settlement window. */
  roundTripTo?(peer: string): number | undefined
}

/** Settings of a resolver gate. */
export interface ResolverGateOptions {
  /** The peer claims travel through (on `CLAIMS_CHANNEL`). */
  readonly link: ClaimLink
  /** The world the engine writes; settlement reads it for cross-owner parts and conflict state. */
  readonly world: WorldDoc
  /** This peer's engine, created with `registry.handlers()`: it applies commutative intents and settled winners. */
  readonly engine: IntentEngine
  readonly registry: ResolverRegistry
  readonly membership: Membership
  /** Injected time: HLC stamps and settlement timers. */
  readonly clock: Clock
  /** Settlement timing (window, lag bound, retries, timeouts). */
  readonly settlement?: Pick<SettlementOptions, 'windowMs' | 'maxLagMs' | 'retryMs' | 'claimTimeoutMs' | 'prepareTimeoutMs' | 'rememberedOutcomes' | 'handoverMs'>
  /** Answers remembered per gate so a resent exclusive intent gets its first answer. Default 4096. */
  readonly rememberedAnswers?: number
  readonly logger?: Logger
  /** Signed, re-validated settlements and refusal of quarantined owners. Default off (no signing, no extra latency). */
  readonly decisions?: GateDecisionsOptions
  /**
   * Keeps settled outcomes and cross-owner reservations across a restart (`SqliteSettlementJournal`
   * from storage/); the gate reloads them and resumes interrupted cross-owner claims on creation.
   * Default: in memory only.
   */
  readonly settlementJournal?: SettlementJournal
}

/** An answer to a player: the intent's result, plus the current state when it lost a conflict. */
export interface GateAnswer {
  readonly result: IntentResult
  /** Present on `conflict` and `stale-version` refusals of exclusive intents, so a client can roll back its prediction. */
  readonly state?: WorldValue
}

interface AnswerEntry {
  readonly promise: Promise<GateAnswer>
  answer: GateAnswer | undefined
  readonly listeners: Array<(answer: GateAnswer) => void>
  readonly resolve: (answer: GateAnswer) => void
}

/**
 * Where a peer's players' intents enter resolution. Commutative actions go straight to the engine
 * (available in a partition); exclusive ones become claims, stamped with this peer's HLC and settled
 * by their owner peer through the claims protocol (`SettlementCore`), which applies winners through
 * the owner's own engine: one validation path, one journal, exactly-once answers.
 */
export class ResolverGate {
  private readonly core: SettlementCore
  private readonly hlc: HybridLogicalClock
  private readonly timers = new Map<string, TimerHandle>()
  private readonly waiting = new Map<string, { readonly seq: number; readonly answer: (answer: GateAnswer) => void }>()
  private readonly answers = new Map<string, AnswerEntry>()
  private readonly rememberedAnswers: number
  private readonly logger: Logger
  private readonly stopListening: () => void
  private readonly origin: LaneOrigin
  /** The registry's handlers as of construction: register every resolver before creating the gate. */
  private readonly handlers: Readonly<Record<string, ActionHandler>>
  private readonly queue: SettlementEvent[] = []
  private dispatching = false
  private closed = false
  private readonly settledActions: SettledActions | undefined
  /** Owner: claims of signed actions the core asked to apply in the event being handled, applied and reported after it. */
  private batch: Claim[] = []
  /** Counters of signed settlements (all zero without the `decisions` option). */
  readonly decisionStats: GateDecisionStats = { reported: 0, confirmed: 0, rejected: {} }
  private readonly rollback: SettlementRollback | undefined
  /** Owner-decided critical actions (those with resources) as exclusive resolvers, by action. */
  private readonly ownedCritical = new Map<string, ActionResolver>()

  constructor(private readonly options: ResolverGateOptions) {
    const { link, registry, membership, clock } = options
    this.hlc = new HybridLogicalClock(link.id, () => clock.now())
    this.rememberedAnswers = options.rememberedAnswers ?? 4096
    this.logger = options.logger ?? pino({ level: 'silent' })
    this.origin = new LaneOrigin('critical', this)
    this.handlers = registry.handlers()
    const decisions = options.decisions
    const signed = decisions?.signed
    if (signed !== undefined) for (const action of signed.ownedActions()) this.ownedCritical.set(action, ownedCriticalResolver(action, signed))
    this.settledActions = decisions === undefined ? undefined : (decisions.actions ?? BUILTIN_SETTLED_ACTIONS)
    const settled = this.settledActions
    this.rollback =
      decisions === undefined || decisions.rollback === false
        ? undefined
        : new SettlementRollback({
            world: options.world,
            clock,
            channel: decisions.channel,
            origin: this.origin,
            ...(decisions.actions !== undefined ? { actions: decisions.actions } : {}),
            ...(decisions.onRollback !== undefined ? { onRollback: decisions.onRollback } : {}),
            verifyVote: (voter, statement, signature) => decisions.core.verifyStatement(voter, CROSS_OWNER_VOTE_STATEMENT, statement, signature),
          })
    this.core = new SettlementCore({
      ...options.settlement,
      self: link.id,
      membership,
      ...(options.settlementJournal !== undefined ? { journal: options.settlementJournal } : {}),
      resolverOf: (action) => registry.get(action) ?? this.ownedCritical.get(action),
      // With signed cross-owner commits, every participant signs its vote and the coordinator counts only votes that verify.
      ...(decisions !== undefined && decisions.core.hasRule(CROSS_OWNER_DECISION_KIND) ? { votes: decisionVoteSigner(decisions.core) } : {}),
      isReachable: (peer) => peer === link.id || link.connectedPeers().includes(peer),
      ...(link.roundTripTo !== undefined ? { roundTripTo: (peer: string) => link.roundTripTo?.(peer) } : {}),
      ...(decisions !== undefined
        ? {
            barred: (peer: string) => {
              const record = decisions.core.quarantineOf(peer)
              return record === undefined ? undefined : `${record.reason}: ${record.detail}`
            },
          }
        : {}),
      effects: {
        apply: (claim) => {
          if (this.ownedCritical.has(claim.intent.action)) this.decideClaim(claim)
          else if (settled !== undefined && Object.hasOwn(settled, claim.intent.action)) this.batch.push(claim)
          else this.applyClaim(claim)
        },
        prepare: (claim, resources) => {
          const resolver = registry.get(claim.intent.action)
          const context = this.contextOf(claim)
          for (const resource of resources) {
            const verdict = resolver?.prepare?.(context, resource) ?? resolver?.validate?.(context) ?? { ok: true }
            if (!verdict.ok) return verdict
          }
          return { ok: true }
        },
        commit: (claim, resources) => {
          const resolver = registry.get(claim.intent.action)
          const context = this.contextOf(claim)
          this.options.world.transact(this.origin, () => {
            for (const resource of resources) resolver?.commitPart?.(context, resource)
          })
        },
        currentState: (claim) => registry.get(claim.intent.action)?.currentState?.(this.contextOf(claim)),
        ...(decisions !== undefined && settled !== undefined && decisions.core.hasRule(CROSS_OWNER_DECISION_KIND)
          ? { decided: (claim: Claim, decision: CrossOwnerDecision) => this.reportCrossOwner(claim, decision, settled) }
          : {}),
      },
    })
    this.stopListening = link.onChannel(CLAIMS_CHANNEL, (from, payload) => {
      // Strict decoding: a malformed payload throws a typed error and the peer counts it as malformed.
      const message = decodeClaimMessage(payload)
      if (message.type === 'claim' || message.type === 'prepare') this.hlc.receive(message.claim.intent.stamp)
      this.dispatch({ type: 'message', from, message })
    })
    if (options.settlementJournal !== undefined) this.run(this.core.recover(clock.now()))
  }

  /** Counters of the claims protocol. */
  get stats(): SettlementStats {
    return this.core.stats
  }

  /** This peer's players' claims still waiting for their owner's outcome. */
  pendingClaims(): Claim[] {
    return this.core.pendingClaims()
  }

  /** Resources this peer holds reserved for cross-owner claims in progress. */
  reservations(): ReadonlyMap<string, string> {
    return this.core.reservations()
  }

  /**
   * Handles a player's intent. Commutative: applied here at once. Exclusive: checked against this
   * replica (a claim that already lost here is refused at once), then settled by the owner; the
   * answer comes when the outcome arrives. A resent (session, seq) gets the first answer.
   * `onAnswer`, if given, hears the answer synchronously the moment it is known (the simulator
   * measures resolution latency in virtual time with it); the promise resolves with the same answer.
   */
  submit(session: string, intent: Intent, onAnswer?: (answer: GateAnswer) => void): Promise<GateAnswer> {
    const signed = this.options.decisions?.signed
    if (signed?.handles(intent.action) === true && !this.ownedCritical.has(intent.action)) {
      return signed.submit(this.options.engine, session, intent).then((result) => {
        onAnswer?.({ result })
        return { result }
      })
    }
    const resolver = this.options.registry.get(intent.action) ?? this.ownedCritical.get(intent.action)
    if (resolver?.kind !== 'exclusive') {
      const { answer, now } = this.options.engine.submitNow(session, intent)
      if (now !== undefined) {
        onAnswer?.({ result: now })
        return Promise.resolve({ result: now })
      }
      return answer.then((result) => {
        onAnswer?.({ result })
        return { result }
      })
    }
    const key = JSON.stringify([session, intent.seq])
    let entry = this.answers.get(key)
    if (entry === undefined) {
      let resolve: (answer: GateAnswer) => void = () => undefined
      const promise = new Promise<GateAnswer>((r) => (resolve = r))
      const created: AnswerEntry = { promise, answer: undefined, listeners: [], resolve }
      entry = created
      this.answers.set(key, created)
      if (this.answers.size > this.rememberedAnswers) this.answers.delete(this.answers.keys().next().value as string)
      if (onAnswer) created.listeners.push(onAnswer)
      this.claim(session, intent, (answer) => {
        created.answer = answer
        for (const listener of created.listeners) listener(answer)
        created.listeners.length = 0
        created.resolve(answer)
      })
      return created.promise
    }
    if (onAnswer) {
      if (entry.answer !== undefined) onAnswer(entry.answer)
      else entry.listeners.push(onAnswer)
    }
    return entry.promise
  }

  /** Items this peer rolled back after quarantining their owner for a bad settlement (signed settlements). */
  rollbacks(): readonly RollbackRecord[] {
    return this.rollback?.rollbacks() ?? []
  }

  /** Stops listening and cancels timers; claims still waiting are refused with `authority-unavailable`. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stopListening()
    this.rollback?.close()
    for (const handle of this.timers.values()) this.options.clock.cancelTimer(handle)
    this.timers.clear()
    for (const [claimId, { seq, answer }] of this.waiting) answer({ result: { type: 'reject', seq, reason: 'authority-unavailable', message: `gate closed before claim ${claimId} was settled` } })
    this.waiting.clear()
  }

  private claim(session: string, intent: Intent, answer: (answer: GateAnswer) => void): void {
    const { link, membership } = this.options
    const stamp = this.hlc.tick()
    const claim: Claim = { id: JSON.stringify([link.id, session, intent.seq]), origin: link.id, session, intent: { ...intent, stamp }, viewEpoch: membership.view.epoch }
    const handler = this.handlers[intent.action] ?? this.ownedCritical.get(intent.action)
    const context = this.contextOf(claim)
    let verdict
    try {
      verdict = handler?.validate?.(context) ?? { ok: true as const }
    } catch (error) {
      this.logger.error({ err: error, action: intent.action }, 'resolver validate threw')
      verdict = { ok: false as const, reason: 'internal-error', message: `the ${intent.action} resolver failed` }
    }
    if (!verdict.ok) {
      // Refusing early is always safe (nothing is granted); the owner re-checks whatever passes.
      const state = verdict.reason === 'conflict' || verdict.reason === 'stale-version' ? this.options.registry.get(intent.action)?.currentState?.(context) : undefined
      answer({ result: { type: 'reject', seq: intent.seq, reason: verdict.reason, message: verdict.message }, ...(state !== undefined ? { state } : {}) })
      return
    }
    this.waiting.set(claim.id, { seq: intent.seq, answer })
    this.dispatch({ type: 'submit', claim })
  }

  private contextOf(claim: Claim): ActionContext {
    return { world: this.options.world, intent: claim.intent, session: claim.session, nowMs: this.options.clock.now() }
  }

  private applyClaim(claim: Claim, onResult?: (result: IntentResult) => void): void {
    // The owner's engine validates again against the world as earlier winners left it, applies, journals,
    // and answers exactly once per (origin session, seq) even if the claim is settled twice.
    const { answer, now } = this.options.engine.submitNow(`claim:${JSON.stringify([claim.origin, claim.session])}`, claim.intent)
    if (now !== undefined) {
      onResult?.(now)
      this.dispatch({ type: 'applied', claimId: claim.id, result: now })
      return
    }
    // With a journal the outcome is final only once it is durable: the answer waits for the append.
    void answer.then((result) => {
      onResult?.(result)
      this.dispatch({ type: 'applied', claimId: claim.id, result })
    })
  }

  /**
   * Owner: decides an owner-decided critical action's claim (a rare drop) through `SignedActions`:
   * signed, re-validated by k peers, then applied by the engine under the origin's session, so a
   * resent claim gets its first answer. `SignedActions` decides one claim per resource at a time.
   */
  private decideClaim(claim: Claim): void {
    const signed = this.options.decisions?.signed as SignedActions
    void signed.submit(this.options.engine, `claim:${JSON.stringify([claim.origin, claim.session])}`, claim.intent).then((result) => this.dispatch({ type: 'applied', claimId: claim.id, result }))
  }

  /**
   * Applies the signed actions' claims of one settlement window in the core's order, group by group
   * (claims touching overlapping items), reading each group's items just before, and reports every
   * group as a decision: the claims with their stamps, the items' pre-state, and what was granted.
   */
  private settleBatch(settled: SettledActions): void {
    const claims = this.batch
    this.batch = []
    for (const group of overlapping(claims, settled)) {
      const preItems = itemsPreState(this.options.world, group.flatMap((claim) => settledItems(claim, settled)))
      const results: IntentResult[] = []
      let missing = group.length
      group.forEach((claim, index) =>
        this.applyClaim(claim, (result) => {
          results[index] = result
          if (--missing === 0) this.report(group, preItems, results)
        }),
      )
    }
  }

  /**
   * Coordinator: signs the commit decision of a cross-owner trade, with every owner's reservation
   * outcome and its own reserved items as read before its part is written, for k peers to re-run
   * `crossOwnerCommitRule` on.
   */
  private reportCrossOwner(claim: Claim, decision: CrossOwnerDecision, settled: SettledActions): void {
    if (!Object.hasOwn(settled, claim.intent.action) || settled[claim.intent.action] !== 'trade') return
    const mine = (decision.parts[decision.coordinator] ?? []).map((resource) => resource.slice('item:'.length))
    const preState: WorldValue = { claim: claim.id, coordinator: decision.coordinator, parts: { ...decision.parts }, votes: { ...decision.votes }, items: itemsPreState(this.options.world, mine) }
    this.sendReport(CROSS_OWNER_DECISION_KIND, [claim], preState, { commit: decision.commit }, decision.commit ? [claim.id] : [])
  }

  private report(group: readonly Claim[], items: WorldValue, results: readonly IntentResult[]): void {
    const claims = group.map((claim, index) => claimEntry(claim, results[index] as IntentResult))
    const granted = group.filter((_, index) => results[index]?.type === 'ack').map((claim) => claim.id)
    this.sendReport(SETTLEMENT_DECISION_KIND, group, { items, claims }, { granted }, granted)
  }

  private sendReport(kind: string, group: readonly Claim[], preState: WorldValue, outcome: WorldValue, granted: readonly string[]): void {
    const decisions = this.options.decisions as GateDecisionsOptions
    this.decisionStats.reported++
    void decisions.channel.report(kind, (group[0] as Claim).intent, preState, outcome).then((settlement) => {
      if (settlement.status === 'confirmed') this.decisionStats.confirmed++
      else {
        this.decisionStats.rejected[settlement.reason] = (this.decisionStats.rejected[settlement.reason] ?? 0) + 1
        this.logger.warn({ reason: settlement.reason, by: settlement.by, claims: group.map((claim) => claim.id) }, 'settlement not confirmed by re-validation')
      }
      decisions.onSettlement?.({ kind, claims: group.map((claim) => claim.id), granted, settlement })
    })
  }

  private dispatch(event: SettlementEvent): void {
    if (this.closed) return
    // Effects run inside the core's handling (an apply answers at once): queue, so the core never re-enters.
    this.queue.push(event)
    if (this.dispatching) return
    this.dispatching = true
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        if (this.closed) continue
        const commands = this.core.handle(next, this.options.clock.now())
        if (this.batch.length > 0 && this.settledActions !== undefined) this.settleBatch(this.settledActions)
        this.run(commands)
      }
    } finally {
      this.dispatching = false
      this.queue.length = 0
    }
  }

  private run(commands: readonly SettlementCommand[]): void {
    for (const command of commands) {
      switch (command.type) {
        case 'send':
          this.options.link.sendChannel(command.to, CLAIMS_CHANNEL, encodeClaimMessage(command.message))
          break
        case 'setTimer': {
          const previous = this.timers.get(command.timer)
          if (previous !== undefined) this.options.clock.cancelTimer(previous)
          const handle = this.options.clock.setTimer(command.at - this.options.clock.now(), () => {
            if (this.timers.get(command.timer) === handle) this.timers.delete(command.timer)
            this.dispatch({ type: 'timer', timer: command.timer })
          })
          this.timers.set(command.timer, handle)
          break
        }
        case 'answer': {
          const waiting = this.waiting.get(command.claim.id)
          this.waiting.delete(command.claim.id)
          waiting?.answer({ result: command.result, ...(command.state !== undefined ? { state: command.state } : {}) })
          break
        }
      }
    }
  }
}

/** Votes signed and checked with the peer's decision key (`DecisionCore.signStatement`). */
const decisionVoteSigner = (core: DecisionCore): VoteSigner => ({
  sign: (vote) => core.signStatement(CROSS_OWNER_VOTE_STATEMENT, crossOwnerVoteStatement(vote)),
  verify: (vote, signature) => core.verifyStatement(vote.voter, CROSS_OWNER_VOTE_STATEMENT, crossOwnerVoteStatement(vote), signature),
})

/**
 * An owner-decided critical action seen as an exclusive resolver: the claims protocol routes it by
 * its resources; the owner never calls `apply` (it decides through `SignedActions` and its engine).
 */
const ownedCriticalResolver = (action: string, signed: SignedActions): ActionResolver => ({
  action,
  kind: 'exclusive',
  resources: (intent) => signed.resourcesOf(intent) ?? [],
  validate: (context) => signed.check(context),
  apply: () => {
    throw new Error(`${action} is decided through SignedActions, never applied as a plain resolver`)
  },
})

/** Claims split into groups whose items overlap (connected through shared items), each group in the given order. */
const overlapping = (claims: readonly Claim[], settled: SettledActions): Claim[][] => {
  const groupOf = new Map<string, number>()
  const parent: number[] = []
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i] as number] as number
    return i
  }
  claims.forEach((claim, index) => {
    parent.push(index)
    for (const item of settledItems(claim, settled)) {
      const other = groupOf.get(item)
      if (other === undefined) groupOf.set(item, index)
      else parent[find(index)] = find(other)
    }
  })
  const groups = new Map<number, Claim[]>()
  claims.forEach((claim, index) => {
    const root = find(index)
    const group = groups.get(root)
    if (group === undefined) groups.set(root, [claim])
    else group.push(claim)
  })
  return [...groups.values()]
}
