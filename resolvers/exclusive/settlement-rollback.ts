import type { Clock, ItemHolder, Millis, WorldDoc } from '../../core/index.js'
import { DeferredRepairs, type DecisionChannel, type QuarantineRecord, type RepairOutcome } from '../decisions/index.js'
import { CROSS_OWNER_DECISION_KIND, crossOwnerRepairs, type VoteVerifier } from './cross-owner-decision.js'
import { BUILTIN_SETTLED_ACTIONS, SETTLEMENT_DECISION_KIND, settlementRepairs, type SettledActions, type SettlementHolder, type SettlementRepair } from './settlement-decision.js'

/** One item a rejected settlement gave the wrong holder, and what this peer did about it: the evidence. */
export interface RollbackRecord {
  readonly decisionId: string
  readonly decider: string
  readonly item: string
  /** The holder and version the bad settlement left. */
  readonly applied: { readonly holder: SettlementHolder; readonly version: number }
  /** The holder the settlement rule gives. */
  readonly rightful: SettlementHolder
  /**
   * `repaired`: this peer moved the item back (version `applied.version + 1`); `moved-on`: the item
   * was already past that state (another peer's identical repair, or a later move); `expired`: the
   * bad state never reached this replica within the window.
   */
  readonly result: RepairOutcome['result']
  readonly atMs: Millis
}

/** Settings of `SettlementRollback`. */
export interface SettlementRollbackOptions {
  readonly world: WorldDoc
  readonly clock: Clock
  readonly channel: DecisionChannel
  readonly actions?: SettledActions
  /** Transaction origin of the repairs. */
  readonly origin: unknown
  /** How long a repair waits for the bad state to reach this replica. Default 10 000 ms. */
  readonly windowMs?: Millis
  readonly onRollback?: (record: RollbackRecord) => void
  /** Checks participants' vote signatures in a cross-owner commit: a vote that does not verify counts as missing when computing the rightful state. */
  readonly verifyVote?: VoteVerifier
}

const itemHolderOf = (holder: SettlementHolder): ItemHolder => (holder.type === 'none' || holder.id === undefined ? { type: 'none' } : ({ type: holder.type, id: holder.id } as ItemHolder))

const sameItemHolder = (a: ItemHolder, b: ItemHolder): boolean => a.type === b.type && (a.type === 'none' || (b.type !== 'none' && a.id === b.id))

/**
 * Undoes a signed settlement that failed re-validation. Every peer that quarantines the owner for
 * it replays the signed decision twice (the grants as the owner applied them, and the rule's) and
 * moves each wrongly held item to the rule's holder with `moveItem`, as a compare-and-set
 * on the exact (holder, version) the bad settlement left. Every such peer computes the same move,
 * to the same version, so the repair has one value however many peers write it, and no version
 * of an item ever names two holders.
 */
export class SettlementRollback {
  private readonly repairs: DeferredRepairs
  private readonly pendingRecords = new Map<string, { readonly decisionId: string; readonly decider: string; readonly repair: SettlementRepair }>()
  private readonly stop: () => void
  private readonly records: RollbackRecord[] = []

  constructor(private readonly options: SettlementRollbackOptions) {
    this.repairs = new DeferredRepairs({
      world: options.world,
      clock: options.clock,
      origin: options.origin,
      ...(options.windowMs !== undefined ? { windowMs: options.windowMs } : {}),
      onDone: (outcome) => this.done(outcome),
    })
    this.stop = options.channel.onQuarantined((record) => this.quarantined(record))
  }

  /** Every repair this peer finished, oldest first. */
  rollbacks(): readonly RollbackRecord[] {
    return this.records
  }

  /** Repairs still waiting for the bad state. */
  pending(): number {
    return this.repairs.pending()
  }

  /** Stops listening; waiting repairs are dropped. */
  close(): void {
    this.stop()
    this.repairs.close()
  }

  private quarantined(record: QuarantineRecord): void {
    const decision = record.decision?.decision
    // Only a settlement the rule disproves has a rightful state to return to; a lying pre-state does not.
    if (decision === undefined || record.reason !== 'revalidation-failed') return
    let repairs: SettlementRepair[] = []
    if (decision.kind === CROSS_OWNER_DECISION_KIND) repairs = crossOwnerRepairs(decision.inputs.intent, decision.inputs.preState, decision.outcome, this.options.verifyVote)
    else if (decision.kind === SETTLEMENT_DECISION_KIND) {
      const granted = (decision.outcome as { granted?: unknown } | null)?.granted
      if (!Array.isArray(granted) || !granted.every((id): id is string => typeof id === 'string')) return
      repairs = settlementRepairs(decision.inputs.preState, granted, this.options.actions ?? BUILTIN_SETTLED_ACTIONS)
    }
    for (const repair of repairs) {
      const id = `${decision.id}\u0000${repair.item}`
      this.pendingRecords.set(id, { decisionId: decision.id, decider: decision.decider, repair })
      this.repairs.add(id, (world) => {
        const { item, applied, rightful } = repair
        const found = world.getItem(item)
        if (found === undefined) return 'moved-on'
        const version = world.itemVersion(item)
        if (version < applied.version) return 'pending'
        if (version > applied.version) return 'moved-on'
        const holder = itemHolderOf(applied.holder)
        if (!sameItemHolder(found.holder, holder)) return 'moved-on'
        world.moveItem(item, itemHolderOf(rightful), holder, applied.version)
        return 'repaired'
      })
    }
  }

  private done(outcome: RepairOutcome): void {
    const entry = this.pendingRecords.get(outcome.id)
    this.pendingRecords.delete(outcome.id)
    if (entry === undefined) return
    const record: RollbackRecord = { decisionId: entry.decisionId, decider: entry.decider, ...entry.repair, result: outcome.result, atMs: outcome.atMs }
    this.records.push(record)
    this.options.onRollback?.(record)
  }
}
