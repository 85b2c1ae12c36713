import pino, { type Logger } from 'pino'
import { canonicalJson, INTENT_REJECT_REASONS, type Clock, type Intent, type IntentResult, type WorldDoc, type WorldValue } from '../../core/index.js'
import { refuse, type ActionContext, type ActionHandler, type ApplyContext, type Validation } from '../action-handler.js'
import type { Decision } from './decision.js'
import type { DecisionChannel, DecisionSettlement } from './decision-channel.js'
import type { QuarantineRecord } from './decision-core.js'
import { DeferredRepairs, type RepairAttempt, type RepairOutcome } from './deferred-repairs.js'

/**
 * When a critical action's player hears the answer. `confirm-first`: after k peers attested the
 * decision (nothing forged is ever applied; the answer takes one round trip to the validators and
 * back). `optimistic`: at once on the local decision; a decision that is then rejected is reverted
 * (`CriticalAction.revert`) by its decider and by every peer that quarantines the decider.
 */
export type CriticalMode = 'confirm-first' | 'optimistic'

/**
 * An action whose outcome is a critical decision (a kill, a rare drop): the deciding peer reads the
 * pre-state, its registered `DecisionRule` (the same `kind` on every peer) decides the outcome, the
 * decision is signed and re-validated by k peers, and only the decided outcome is written.
 */
export interface CriticalAction {
  /** The decision kind; every peer's `DecisionCore` must map it to the same rule. */
  readonly kind: string
  /**
   * Resource ids (`entity:<source>`) whose owner peer alone may decide this action, under the same
   * pluggable ownership function as exclusive claims: `ResolverGate` routes such intents to that owner
   * as claims (forwarded, or refused `authority-unavailable` when it cannot be reached), and
   * `SignedActions` decides one of them per resource at a time. Without it any peer decides (a kill
   * is decided by the attacker's peer). An empty list is refused as `invalid-intent`.
   */
  resources?(intent: Intent): readonly string[]
  /** Checks the rule cannot see (the source was looted already, the attacker is dead). Pure over world state; run again just before the decided outcome is written. */
  validate?(context: ActionContext): Validation
  /** The slice of the world the rule reads, as plain data. Pure over world state. */
  preState(context: ActionContext): WorldValue
  /** Writes a decided outcome (inside the engine's transaction) and returns what the ack carries. */
  apply(context: ApplyContext, outcome: WorldValue): WorldValue
  /**
   * Undoes an applied decision that was rejected. Every peer that reverts runs it, so it must be
   * deterministic and a compare-and-set: write only while the world shows exactly this decision's
   * effect (`repaired`); `pending` while it still shows the pre-state (the effect has not reached
   * this replica yet: tried again after each update); `moved-on` once anything else changed it.
   */
  revert?(world: WorldDoc, decision: Decision): RepairAttempt
}

/** A critical decision whose effect was undone (or could not be), for an audit ledger. */
export interface RevertRecord {
  readonly decisionId: string
  readonly decider: string
  readonly kind: string
  /** Why: the settlement's rejection reason on the decider, the quarantine reason elsewhere. */
  readonly reason: string
  /** `repaired`: written back; `moved-on`: the world changed past the effect; `expired`: the effect never reached this replica in the window. */
  readonly result: RepairOutcome['result']
  readonly atMs: number
}

/** Settings of `SignedActions`. */
export interface SignedActionsOptions {
  /** This peer's decisions channel (`bindDecisions`). */
  readonly channel: DecisionChannel
  readonly world: WorldDoc
  /** Critical actions by action name. */
  readonly actions: Readonly<Record<string, CriticalAction>>
  /** Default `confirm-first`. */
  readonly mode?: CriticalMode
  /** Injected time: the `nowMs` validators see, and revert records. */
  readonly clock: Clock
  /** Transaction origin of reverts. Default: this object. */
  readonly origin?: unknown
  /** How long a peer waits for a rejected decision's effect to reach its replica to revert it. Default 10 000 ms. */
  readonly revertWindowMs?: number
  /** Told of every revert (on the decider and on quarantining peers). */
  readonly onRevert?: (record: RevertRecord) => void
  readonly logger?: Logger
}

/** Counters of signed actions. */
export interface SignedActionStats {
  decided: number
  confirmed: number
  /** Decisions the rule, the cluster or the validators refused, by reason. */
  refused: Record<string, number>
  /** Applied decisions undone after a rejection (here or by quarantining their decider). */
  reverted: number
  /** Rejected decisions whose effect was overwritten, or never arrived, before it could be undone. */
  revertSkipped: number
  /** Confirmed decisions not applied because the world changed while they were re-validated. */
  stale: number
}

const PLAYER_REASONS = new Set<string>(INTENT_REJECT_REASONS)
const keyOf = (session: string, seq: number): string => JSON.stringify([session, seq])
const ANSWERED_KEYS = 4096

/**
 * The engine path of critical actions. `submit` reads the pre-state, has this peer's rule decide,
 * signs the decision and sends it to k re-validators (`DecisionChannel.begin`); the engine then
 * applies exactly the decided outcome through `handlers()`: after confirmation (`confirm-first`) or
 * at once (`optimistic`, reverted if rejected). The engine keeps its exactly-once answers and
 * journal; an intent for a critical action that reaches the engine without a decision is refused.
 */
export class SignedActions {
  /** Counters. */
  readonly stats: SignedActionStats = { decided: 0, confirmed: 0, refused: {}, reverted: 0, revertSkipped: 0, stale: 0 }
  /** Decisions the engine may apply, by (session, seq): the handler applies only these outcomes. */
  private readonly decided = new Map<string, Decision>()
  private readonly inFlight = new Map<string, Promise<IntentResult>>()
  private readonly mode: CriticalMode
  private readonly logger: Logger
  private readonly stopListening: () => void
  private readonly repairs: DeferredRepairs
  /** Decision being reverted, by repair id, for its record. */
  private readonly reverting = new Map<string, { readonly decision: Decision; readonly reason: string }>()
  /** Keys answered by the engine (it remembers the answer); bounded, oldest first. */
  private readonly answered = new Set<string>()
  /** Resource -> the last decision in flight on it: the next one on that resource waits for it. */
  private readonly busy = new Map<string, Promise<unknown>>()

  constructor(private readonly options: SignedActionsOptions) {
    this.mode = options.mode ?? 'confirm-first'
    this.logger = options.logger ?? pino({ level: 'silent' })
    this.stopListening = options.channel.onQuarantined((record) => this.quarantined(record))
    this.repairs = new DeferredRepairs({
      world: options.world,
      clock: options.clock,
      origin: options.origin ?? this,
      ...(options.revertWindowMs !== undefined ? { windowMs: options.revertWindowMs } : {}),
      onDone: (outcome) => this.reverted(outcome),
    })
  }

  /** Whether an action is critical here. */
  handles(action: string): boolean {
    return Object.hasOwn(this.options.actions, action)
  }

  /** Actions decided only by the owner of their resources (those with `CriticalAction.resources`). */
  ownedActions(): string[] {
    return Object.entries(this.options.actions).flatMap(([name, action]) => (action.resources === undefined ? [] : [name]))
  }

  /** The resources whose owner decides `intent` (`CriticalAction.resources`), or undefined when any peer may decide it. */
  resourcesOf(intent: Intent): readonly string[] | undefined {
    const action = Object.hasOwn(this.options.actions, intent.action) ? this.options.actions[intent.action] : undefined
    return action?.resources?.(intent)
  }

  /** The action's own check (`CriticalAction.validate`) against this replica; passes for actions without one. */
  check(context: ActionContext): Validation {
    const action = Object.hasOwn(this.options.actions, context.intent.action) ? this.options.actions[context.intent.action] : undefined
    return action?.validate?.(context) ?? { ok: true }
  }

  /** The engine handlers of the critical actions: merge them into the engine's handler table. */
  handlers(): Record<string, ActionHandler> {
    const handlers: Record<string, ActionHandler> = {}
    for (const [name, action] of Object.entries(this.options.actions)) {
      handlers[name] = {
        validate: (context) => {
          const decision = this.decided.get(keyOf(context.session, context.intent.seq))
          if (decision === undefined || canonicalJson(decision.inputs.intent.payload) !== canonicalJson(context.intent.payload)) {
            return refuse('not-permitted', `${name} is a critical action: it is applied only with a signed decision (submit it through SignedActions)`)
          }
          // The decision was made on a pre-state; written on any other it could clobber what happened since.
          if (canonicalJson(action.preState(context)) !== canonicalJson(decision.inputs.preState)) {
            this.stats.stale++
            return refuse('conflict', `the world changed while the ${name} decision ${decision.id} was re-validated; try again`)
          }
          // The pre-state is what the rule reads; what it does not read (the source was looted meanwhile) is checked again here.
          return action.validate?.(context) ?? { ok: true }
        },
        apply: (context) => action.apply(context, (this.decided.get(keyOf(context.session, context.intent.seq)) as Decision).outcome),
      }
    }
    return handlers
  }

  /**
   * Handles a player's critical intent through `engine` (whose handlers include `handlers()`); other
   * actions go straight to the engine. A resent (session, seq) gets the first answer.
   */
  submit(engine: { submit(session: string, intent: Intent): Promise<IntentResult> }, session: string, intent: Intent): Promise<IntentResult> {
    const action = Object.hasOwn(this.options.actions, intent.action) ? this.options.actions[intent.action] : undefined
    if (action === undefined) return engine.submit(session, intent)
    const key = keyOf(session, intent.seq)
    const running = this.inFlight.get(key)
    if (running !== undefined) return running
    // Answered before: the engine remembers the answer (exactly once).
    if (this.answered.has(key)) return engine.submit(session, intent)
    // One decision per resource at a time: a second loot of one source is decided only after the
    // first was applied (it then finds the source claimed) or refused, never beside it.
    const resources = action.resources?.(intent) ?? []
    const before = [...new Set(resources)].flatMap((resource) => {
      const running = this.busy.get(resource)
      return running === undefined ? [] : [running]
    })
    // Waits for the earlier ones however they ended, so one that failed never blocks the resource.
    const answer = before.length === 0 ? this.run(engine, session, intent, action, key) : Promise.allSettled(before).then(() => this.run(engine, session, intent, action, key))
    for (const resource of resources) this.busy.set(resource, answer)
    void answer.then(() => {
      for (const resource of resources) if (this.busy.get(resource) === answer) this.busy.delete(resource)
    })
    this.inFlight.set(key, answer)
    void answer.then(() => {
      this.inFlight.delete(key)
      if (!this.decided.delete(key)) return
      this.answered.add(key)
      if (this.answered.size > ANSWERED_KEYS) this.answered.delete(this.answered.values().next().value as string)
    })
    return answer
  }

  /** Reverts still waiting for the effect they undo. */
  pendingReverts(): number {
    return this.repairs.pending()
  }

  /** Stops listening for quarantines and drops waiting reverts. */
  close(): void {
    this.stopListening()
    this.repairs.close()
  }

  private async run(engine: { submit(session: string, intent: Intent): Promise<IntentResult> }, session: string, intent: Intent, action: CriticalAction, key: string): Promise<IntentResult> {
    const context: ActionContext = { world: this.options.world, intent, session, nowMs: this.options.clock.now() }
    let preState: WorldValue
    try {
      const verdict = action.validate?.(context) ?? { ok: true }
      if (!verdict.ok) return this.refused(intent, verdict.reason, verdict.message)
      preState = action.preState(context)
    } catch (error) {
      this.logger.error({ err: error, action: intent.action }, 'critical action pre-state failed')
      return this.refused(intent, 'internal-error', `the ${intent.action} action failed`)
    }
    const started = this.options.channel.begin(action.kind, intent, preState)
    if (!started.ok) return this.refused(intent, started.reason, started.message)
    this.stats.decided++
    const decision = started.decision.decision
    if (this.mode === 'optimistic') {
      this.decided.set(key, decision)
      const answer = engine.submit(session, intent)
      void started.settlement.then(async (settlement) => {
        if (settlement.status === 'confirmed') return void this.stats.confirmed++
        this.count(settlement.reason)
        if ((await answer).type === 'ack') this.revert(action, decision, settlement.reason)
      })
      return answer
    }
    const settlement = await started.settlement
    if (settlement.status !== 'confirmed') return this.notConfirmed(intent, settlement)
    this.stats.confirmed++
    this.decided.set(key, decision)
    return engine.submit(session, intent)
  }

  private notConfirmed(intent: Intent, settlement: Extract<DecisionSettlement, { status: 'rejected' }>): IntentResult {
    // The player cannot act on a validator's reason; the quorum that must confirm did not.
    return this.refused(intent, 'authority-unavailable', `the ${intent.action} decision was not confirmed: ${settlement.reason} (by ${settlement.by})`)
  }

  private refused(intent: Intent, reason: string, message: string): IntentResult {
    this.count(reason)
    return { type: 'reject', seq: intent.seq, reason: PLAYER_REASONS.has(reason) ? reason : 'internal-error', message }
  }

  private count(reason: string): void {
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1
  }

  /** A peer quarantined for a critical decision the rule disproves: undo that decision's effect here. */
  private quarantined(record: QuarantineRecord): void {
    const decision = record.decision?.decision
    if (decision === undefined || record.reason !== 'revalidation-failed') return
    const action = Object.values(this.options.actions).find((candidate) => candidate.kind === decision.kind)
    if (action !== undefined) this.revert(action, decision, record.reason)
  }

  private revert(action: CriticalAction, decision: Decision, reason: string): void {
    const revert = action.revert
    if (revert === undefined) return
    const id = decision.id
    if (this.reverting.has(id)) return
    this.reverting.set(id, { decision, reason })
    this.repairs.add(id, (world) => revert(world, decision))
  }

  private reverted(outcome: RepairOutcome): void {
    const entry = this.reverting.get(outcome.id)
    this.reverting.delete(outcome.id)
    if (entry === undefined) return
    if (outcome.result === 'repaired') this.stats.reverted++
    else this.stats.revertSkipped++
    const { decision, reason } = entry
    this.options.onRevert?.({ decisionId: decision.id, decider: decision.decider, kind: decision.kind, reason, result: outcome.result, atMs: outcome.atMs })
  }
}
