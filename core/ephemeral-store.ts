import type { Clock, Millis } from './clock.js'
import { ClockDriftError, RealmsyncError } from './errors.js'
import { compareHlc, isEncodableHlc, type HybridLogicalClock } from './hlc.js'
import type { EphemeralEntry, EphemeralValue } from './ephemeral-types.js'
import { isEphemeralValue, isWireName, MAX_NAME_BYTES } from './wire-codec.js'

/** Settings of an ephemeral store. */
export interface EphemeralStoreOptions {
  /** The owning peer's clock: stamps local writes and absorbs remote stamps. */
  readonly hlc: HybridLogicalClock
  /** Current time for expiry: a `Clock` or a function reading one (virtual in the simulator). */
  readonly now: (() => Millis) | Clock
  /** A register expires this long after its stamp's wall time. Default 5000 ms. */
  readonly ttlMs?: Millis
  /** Hard cap on registers held; past it the oldest-stamped are evicted first. Default 100 000. */
  readonly maxEntries?: number
}

/** Counters of an ephemeral store, for metrics. */
export interface EphemeralStats {
  /** Remote registers that changed state. */
  merged: number
  /** Remote registers that lost the last-writer-wins comparison (or were equal). */
  stale: number
  /** Registers swept, or remote registers ignored, because they were past their time to live. */
  expired: number
  /** Registers evicted (or remote registers refused) because the store was at `maxEntries`. */
  evicted: number
  /** Remote registers refused: stamp too far in the future, or not a valid register at all. */
  rejected: number
}

/** What changed since a watermark: the registers and the version to ask from next time. */
export interface EphemeralDelta {
  readonly entries: EphemeralEntry[]
  readonly version: number
}

/** A local write was refused because the register could not cross the wire unchanged. */
export class InvalidEphemeralEntryError extends RealmsyncError {
  constructor(
    readonly entity: string,
    readonly field: string,
    detail: string,
  ) {
    super('invalid-ephemeral-entry', `cannot write ephemeral register ${entity}.${field}: ${detail}`)
  }
}

// One register. Each slot sits in two structures at once: a list ordered by version (newest last),
// so a delta walks only what changed since its watermark, and a min-heap ordered by stamp, so
// expiry and the cap remove oldest-stamped registers without scanning the rest.
interface Slot {
  entry: EphemeralEntry
  version: number
  older: Slot | undefined
  newer: Slot | undefined
  heapIndex: number
}

/**
 * Last-writer-wins registers for high-rate transient state (DESIGN.md decision 3): merged by HLC
 * stamp then peer id, so merge is commutative, associative and idempotent. Memory is bounded by
 * expiry and a hard cap; nothing here is ever written to a Y.Doc.
 */
export class EphemeralStore {
  /** Counters, mutated in place. */
  readonly stats: EphemeralStats = { merged: 0, stale: 0, expired: 0, evicted: 0, rejected: 0 }
  private readonly entities = new Map<string, Map<string, Slot>>()
  private readonly heap: Slot[] = []
  private newest: Slot | undefined
  private version = 0
  private readonly hlc: HybridLogicalClock
  private readonly now: () => Millis
  private readonly ttlMs: Millis
  private readonly maxEntries: number

  constructor(options: EphemeralStoreOptions) {
    const now = options.now
    this.hlc = options.hlc
    this.now = typeof now === 'function' ? now : () => now.now()
    this.ttlMs = options.ttlMs ?? 5000
    this.maxEntries = options.maxEntries ?? 100_000
    if (!(this.ttlMs > 0)) throw new RangeError(`ephemeral ttlMs must be positive, got ${this.ttlMs}`)
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError(`ephemeral maxEntries must be a positive integer, got ${this.maxEntries}`)
  }

  /** Registers held (including expired ones not yet swept). */
  get size(): number {
    return this.heap.length
  }

  /** The current version: bumped on every write that changes a register. */
  get currentVersion(): number {
    return this.version
  }

  /**
   * Writes a local register, stamped now, and returns it. Throws `InvalidEphemeralEntryError` for a
   * name or value that would not reach other peers unchanged.
   */
  set(entity: string, field: string, value: EphemeralValue): EphemeralEntry {
    if (!isWireName(entity) || !isWireName(field)) {
      throw new InvalidEphemeralEntryError(entity, field, `names must be well-formed text of at most ${MAX_NAME_BYTES} bytes`)
    }
    if (!isEphemeralValue(value)) {
      throw new InvalidEphemeralEntryError(entity, field, 'the value must be a number, well-formed string, boolean, null, bytes, or an array or plain object of those')
    }
    // The store's clock has absorbed every stamp it holds, so a fresh tick beats them all.
    const entry: EphemeralEntry = { entity, field, value, stamp: this.hlc.tick() }
    this.write(entry, this.slotOf(entity, field))
    return entry
  }

  /**
   * Merges remote registers and returns those that changed state, in order: the ones worth
   * forwarding. An entry already held, or beaten, changes nothing, so flooding terminates.
   */
  merge(entries: readonly EphemeralEntry[]): EphemeralEntry[] {
    const accepted: EphemeralEntry[] = []
    const now = this.now()
    for (const entry of entries) {
      if (!isEphemeralEntry(entry)) {
        this.stats.rejected++
        continue
      }
      if (this.isExpired(entry, now)) {
        this.stats.expired++
        continue
      }
      // Checked here as well as in the clock, whatever its drift policy: a clamped clock would
      // still store the far-future stamp, and it would win every write until real time caught up.
      if (entry.stamp.wallMs - now > this.hlc.maxDriftMs) {
        this.stats.rejected++
        continue
      }
      const slot = this.slotOf(entry.entity, entry.field)
      if (slot && compareHlc(entry.stamp, slot.entry.stamp) <= 0) {
        this.stats.stale++
        continue
      }
      // A new register older than everything in a full store would be evicted at once. Refusing it
      // (and not forwarding it) keeps full stores from passing it round in a loop.
      if (!slot && this.heap.length >= this.maxEntries && compareHlc(entry.stamp, (this.heap[0] as Slot).entry.stamp) < 0) {
        this.stats.evicted++
        continue
      }
      try {
        this.hlc.receive(entry.stamp)
      } catch (error) {
        if (!(error instanceof ClockDriftError)) throw error
        this.stats.rejected++
        continue
      }
      this.write(entry, slot)
      this.stats.merged++
      accepted.push(entry)
    }
    // Report only what is still held: a register superseded or evicted later in the same batch
    // is not news to anyone.
    return accepted.filter((entry) => this.slotOf(entry.entity, entry.field)?.entry === entry)
  }

  /** The live register of one entity's field, if any. */
  get(entity: string, field: string): EphemeralEntry | undefined {
    const slot = this.slotOf(entity, field)
    if (!slot || this.isExpired(slot.entry, this.now())) return undefined
    return slot.entry
  }

  /** Every live register of one entity, by field name. */
  entity(entity: string): Record<string, EphemeralEntry> {
    // No prototype: a field named `__proto__` must be a field, not a prototype swap.
    const out = Object.create(null) as Record<string, EphemeralEntry>
    const fields = this.entities.get(entity)
    if (!fields) return out
    const now = this.now()
    for (const [field, slot] of fields) {
      if (!this.isExpired(slot.entry, now)) out[field] = slot.entry
    }
    return out
  }

  /**
   * Live registers changed after `version`, oldest change first, and the version to ask from next.
   * Costs what changed since `version`, not what is held: keep a watermark per connection.
   */
  deltaSince(version: number): EphemeralDelta {
    const changed: EphemeralEntry[] = []
    const now = this.now()
    for (let slot = this.newest; slot && slot.version > version; slot = slot.older) {
      if (!this.isExpired(slot.entry, now)) changed.push(slot.entry)
    }
    return { entries: changed.reverse(), version: this.version }
  }

  /** Removes expired registers; the owner calls it from a timer. Returns how many were removed. */
  sweep(): number {
    const now = this.now()
    let removed = 0
    // The heap's top is the oldest stamp, hence the earliest expiry: stop at the first live one.
    for (let top = this.heap[0]; top && this.isExpired(top.entry, now); top = this.heap[0]) {
      this.remove(top)
      removed++
    }
    this.stats.expired += removed
    return removed
  }

  private isExpired(entry: EphemeralEntry, now: Millis): boolean {
    return entry.stamp.wallMs + this.ttlMs <= now
  }

  private slotOf(entity: string, field: string): Slot | undefined {
    return this.entities.get(entity)?.get(field)
  }

  private write(entry: EphemeralEntry, slot: Slot | undefined): void {
    const version = ++this.version
    if (slot) {
      // Only a newer stamp replaces a register, so the slot can only move down the heap.
      slot.entry = entry
      slot.version = version
      this.unlink(slot)
      this.append(slot)
      this.siftDown(slot.heapIndex)
      return
    }
    const created: Slot = { entry, version, older: undefined, newer: undefined, heapIndex: this.heap.length }
    let fields = this.entities.get(entry.entity)
    if (!fields) {
      fields = new Map()
      this.entities.set(entry.entity, fields)
    }
    fields.set(entry.field, created)
    this.append(created)
    this.heap.push(created)
    this.siftUp(created.heapIndex)
    while (this.heap.length > this.maxEntries) {
      this.remove(this.heap[0] as Slot)
      this.stats.evicted++
    }
  }

  private remove(slot: Slot): void {
    const fields = this.entities.get(slot.entry.entity)
    fields?.delete(slot.entry.field)
    if (fields?.size === 0) this.entities.delete(slot.entry.entity)
    this.unlink(slot)
    const last = this.heap.pop() as Slot
    if (last !== slot) {
      this.heap[slot.heapIndex] = last
      last.heapIndex = slot.heapIndex
      this.siftDown(this.siftUp(last.heapIndex))
    }
  }

  private append(slot: Slot): void {
    slot.older = this.newest
    slot.newer = undefined
    if (this.newest) this.newest.newer = slot
    this.newest = slot
  }

  private unlink(slot: Slot): void {
    if (slot.older) slot.older.newer = slot.newer
    if (slot.newer) slot.newer.older = slot.older
    else this.newest = slot.older
    slot.older = undefined
    slot.newer = undefined
  }

  // Ties between equal stamps (only a misbehaving peer reuses one) fall back to the version, so the
  // eviction order is still deterministic.
  private before(a: Slot, b: Slot): boolean {
    const order = compareHlc(a.entry.stamp, b.entry.stamp)
    return order < 0 || (order === 0 && a.version < b.version)
  }

  private siftUp(index: number): number {
    const heap = this.heap
    const slot = heap[index] as Slot
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = heap[parentIndex] as Slot
      if (!this.before(slot, parent)) break
      heap[index] = parent
      parent.heapIndex = index
      index = parentIndex
    }
    heap[index] = slot
    slot.heapIndex = index
    return index
  }

  private siftDown(index: number): void {
    const heap = this.heap
    const slot = heap[index] as Slot
    for (;;) {
      const left = 2 * index + 1
      if (left >= heap.length) break
      const right = left + 1
      const child = right < heap.length && this.before(heap[right] as Slot, heap[left] as Slot) ? right : left
      const childSlot = heap[child] as Slot
      if (!this.before(childSlot, slot)) break
      heap[index] = childSlot
      childSlot.heapIndex = index
      index = child
    }
    heap[index] = slot
    slot.heapIndex = index
  }
}

/** Whether a remote entry is a register this store can hold and forward unchanged. */
const isEphemeralEntry = (entry: EphemeralEntry): boolean =>
  typeof entry === 'object' &&
  entry !== null &&
  isWireName(entry.entity) &&
  isWireName(entry.field) &&
  typeof entry.stamp === 'object' &&
  entry.stamp !== null &&
  isEncodableHlc(entry.stamp) &&
  isEphemeralValue(entry.value)
