import type { Clock, Millis, TimerHandle, WorldDoc } from '../../core/index.js'

/** One try of a repair: written, still waiting for the state it repairs to reach this replica, or no longer applicable. */
export type RepairAttempt = 'repaired' | 'pending' | 'moved-on'

/** How a repair ended, for an evidence record. */
export interface RepairOutcome {
  readonly id: string
  readonly result: 'repaired' | 'moved-on' | 'expired'
  readonly atMs: Millis
}

/** Settings of `DeferredRepairs`. */
export interface DeferredRepairsOptions {
  readonly world: WorldDoc
  readonly clock: Clock
  /** Transaction origin of the repair writes. */
  readonly origin: unknown
  /** How long a repair waits for the state it repairs. Default 10 000 ms. */
  readonly windowMs?: Millis
  /** Told how every repair ended. */
  readonly onDone: (outcome: RepairOutcome) => void
}

interface Entry {
  readonly attempt: (world: WorldDoc) => RepairAttempt
  readonly until: Millis
}

/**
 * Repairs of a bad decision's effect that may run before the effect reaches this replica: a peer
 * learns that a decision was rejected (a signed message) on another path than the document update
 * that carries its effect. Each repair is a compare-and-set tried now and after every world update
 * until it writes, finds the world moved past the state it repairs, or its window ends.
 */
export class DeferredRepairs {
  private readonly entries = new Map<string, Entry>()
  private scheduled: TimerHandle | undefined
  private expiry: TimerHandle | undefined
  private readonly stop: () => void
  private readonly windowMs: Millis

  constructor(private readonly options: DeferredRepairsOptions) {
    this.windowMs = options.windowMs ?? 10_000
    const onUpdate = (_update: Uint8Array, origin: unknown): void => {
      if (origin !== options.origin && this.entries.size > 0) this.schedule()
    }
    options.world.doc.on('update', onUpdate)
    this.stop = () => options.world.doc.off('update', onUpdate)
  }

  /** Adds a repair (once per id) and tries it at once. */
  add(id: string, attempt: (world: WorldDoc) => RepairAttempt): void {
    if (this.entries.has(id)) return
    this.entries.set(id, { attempt, until: this.options.clock.now() + this.windowMs })
    this.tryOne(id)
  }

  /** Repairs still waiting. */
  pending(): number {
    return this.entries.size
  }

  /** Stops watching the world; waiting repairs are dropped. */
  close(): void {
    this.stop()
    if (this.scheduled !== undefined) this.options.clock.cancelTimer(this.scheduled)
    if (this.expiry !== undefined) this.options.clock.cancelTimer(this.expiry)
    this.entries.clear()
  }

  private schedule(): void {
    if (this.scheduled !== undefined) return
    // Not inside the document's update event: the repair is a transaction of its own.
    this.scheduled = this.options.clock.setTimer(0, () => {
      this.scheduled = undefined
      for (const id of [...this.entries.keys()]) this.tryOne(id)
    })
  }

  private tryOne(id: string): void {
    const entry = this.entries.get(id)
    if (entry === undefined) return
    const now = this.options.clock.now()
    let result: RepairAttempt = 'pending'
    try {
      this.options.world.transact(this.options.origin, () => {
        result = entry.attempt(this.options.world)
      })
    } catch {
      // A repair that throws (an item removed meanwhile) has nothing left to repair.
      result = 'moved-on'
    }
    if (result === 'pending' && now < entry.until) {
      // Expiry needs a later try even if no update ever comes.
      this.expireLater(entry.until - now)
      return
    }
    this.entries.delete(id)
    this.options.onDone({ id, result: result === 'pending' ? 'expired' : result, atMs: now })
  }

  private expireLater(delayMs: Millis): void {
    if (this.expiry !== undefined) return
    this.expiry = this.options.clock.setTimer(delayMs, () => {
      this.expiry = undefined
      for (const id of [...this.entries.keys()]) this.tryOne(id)
    })
  }
}
