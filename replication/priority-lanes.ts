import { mergeUpdatesInGroups, type Millis, type PriorityClass } from '../core/index.js'

/** A transaction origin that says how urgently its update must leave: `doc.transact(fn, new LaneOrigin('bulk'))`. */
export class LaneOrigin {
  constructor(
    readonly priority: PriorityClass,
    /** Whatever the caller would otherwise have used as the origin. */
    readonly tag?: unknown,
  ) {}
}

/** The priority class of a transaction origin: a `LaneOrigin`'s, or any object's valid `priority` field, else `fallback`. */
export const laneOf = (origin: unknown, fallback: PriorityClass): PriorityClass => {
  if (origin instanceof LaneOrigin) return origin.priority
  if (typeof origin === 'object' && origin !== null && 'priority' in origin) {
    const priority = (origin as { priority: unknown }).priority
    if (priority === 'critical' || priority === 'normal' || priority === 'bulk') return priority
  }
  return fallback
}

/** Settings of the lanes; `resolveLaneSettings` fills defaults. */
export interface LaneSettings {
  /** Class of updates whose origin names none. Default `critical`: untagged writes are never delayed. */
  readonly defaultPriority: PriorityClass
  /** A normal update waits at most this long to be merged with others of its document. Default 5 ms. */
  readonly normalBatchMs: Millis
  /** A bulk update waits at most this long to be coalesced. Default 50 ms. */
  readonly bulkBatchMs: Millis
  /** Bytes queued over all documents before every batch is sent at once (overload). Default 1 MiB. */
  readonly maxQueuedBytes: number
  /**
   * Critical updates made in one turn of the event loop leave together, merged, at the end of the
   * turn (the clock's `defer`), instead of one message each. A game server that writes a tick's
   * changes one transaction at a time then sends one message per tick per peer. Default true;
   * false sends each critical update the moment it is made (one message each).
   */
  readonly coalesceCritical: boolean
}

/** Partial lane settings as users pass them. */
export type LaneOptions = Partial<LaneSettings>

/** Fills in defaults and checks ranges. */
export const resolveLaneSettings = (options: LaneOptions = {}): LaneSettings => {
  const settings: LaneSettings = {
    defaultPriority: options.defaultPriority ?? 'critical',
    normalBatchMs: options.normalBatchMs ?? 5,
    bulkBatchMs: options.bulkBatchMs ?? 50,
    maxQueuedBytes: options.maxQueuedBytes ?? 1024 * 1024,
    coalesceCritical: options.coalesceCritical ?? true,
  }
  for (const key of ['normalBatchMs', 'bulkBatchMs', 'maxQueuedBytes'] as const) {
    if (!(settings[key] >= 0) || !Number.isFinite(settings[key])) throw new RangeError(`lane ${key} must be a non-negative number, got ${settings[key]}`)
  }
  if (!['critical', 'normal', 'bulk'].includes(settings.defaultPriority)) throw new RangeError(`lane defaultPriority must be critical, normal or bulk`)
  return settings
}

/** Counters of the lanes. */
export interface LaneStats {
  criticalUpdates: number
  normalUpdates: number
  bulkUpdates: number
  /** Messages the lanes handed on (a critical update alone, or a merged batch). */
  sends: number
  /** Queued updates that left early, merged into a more urgent update of the same document. */
  promoted: number
  /** Times the queue bound was hit and every batch left at once. */
  overloadFlushes: number
}

interface Batch {
  readonly updates: Uint8Array[]
  bytes: number
  due: Millis
}

/**
 * Priority lanes for local updates (sans-IO): critical leaves at once, normal is merged per
 * document over a few milliseconds, bulk is coalesced longer (both with `Y.mergeUpdates`).
 *
 * A replica's updates to one document form one causal chain (one Yjs client, consecutive clocks):
 * a receiver cannot integrate an update before the ones made earlier. So an urgent update never
 * overtakes queued ones of its document: it takes them along, merged into one message, and leaves
 * at once, so critical never waits behind bulk, and bulk never holds critical back at the
 * receiver. For the same reason overload is met by sending early (coalesced), never by shedding
 * (a shed update would stall every later one at the receivers until anti-entropy).
 */
export class PriorityLanes {
  readonly stats: LaneStats = { criticalUpdates: 0, normalUpdates: 0, bulkUpdates: 0, sends: 0, promoted: 0, overloadFlushes: 0 }
  private readonly batches = new Map<string, Batch>()
  private queuedBytes = 0

  constructor(
    readonly settings: LaneSettings,
    /** Sends one (possibly merged) update of a document. */
    private readonly dispatch: (doc: string, update: Uint8Array) => void,
  ) {}

  /** Takes a local update with its transaction origin. */
  push(doc: string, update: Uint8Array, origin: unknown, now: Millis): void {
    const lane = laneOf(origin, this.settings.defaultPriority)
    this.stats[lane === 'critical' ? 'criticalUpdates' : lane === 'normal' ? 'normalUpdates' : 'bulkUpdates']++
    const wait = lane === 'critical' ? 0 : lane === 'normal' ? this.settings.normalBatchMs : this.settings.bulkBatchMs
    const batch = this.batches.get(doc)
    if (wait === 0 && !this.settings.coalesceCritical) {
      if (batch === undefined) this.send(doc, [update])
      else {
        this.stats.promoted += batch.updates.length
        batch.updates.push(update)
        this.take(doc)
      }
      return
    }
    if (batch === undefined) this.batches.set(doc, { updates: [update], bytes: update.length, due: now + wait })
    else {
      batch.updates.push(update)
      batch.bytes += update.length
      batch.due = Math.min(batch.due, now + wait)
    }
    this.queuedBytes += update.length
    if (this.queuedBytes > this.settings.maxQueuedBytes) {
      this.stats.overloadFlushes++
      for (const name of [...this.batches.keys()]) this.take(name)
    }
  }

  /** When the next batch falls due, if any is waiting. */
  nextDue(): Millis | undefined {
    let next: Millis | undefined
    for (const batch of this.batches.values()) if (next === undefined || batch.due < next) next = batch.due
    return next
  }

  /** Sends every batch due by `now`. */
  flush(now: Millis): void {
    for (const [doc, batch] of [...this.batches]) if (batch.due <= now) this.take(doc)
  }

  /** Bytes waiting in the lanes. */
  get queued(): number {
    return this.queuedBytes
  }

  /** Drops everything queued (the peer is closing; the updates are in the local documents). */
  clear(): void {
    this.batches.clear()
    this.queuedBytes = 0
  }

  private take(doc: string): void {
    const batch = this.batches.get(doc)
    if (batch === undefined) return
    this.batches.delete(doc)
    this.queuedBytes -= batch.bytes
    this.send(doc, batch.updates)
  }

  private send(doc: string, updates: readonly Uint8Array[]): void {
    this.stats.sends++
    this.dispatch(doc, updates.length === 1 ? (updates[0] as Uint8Array) : mergeUpdatesInGroups(updates))
  }
}
