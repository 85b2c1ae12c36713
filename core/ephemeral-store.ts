import type { Millis } from './clock.js'
import { ClockDriftError } from './errors.js'
import { compareHlc, type HybridLogicalClock } from './hlc.js'
import type { EphemeralEntry, EphemeralValue } from './ephemeral-types.js'

/** Settings of an ephemeral store. */
export interface EphemeralStoreOptions {
  /** The owning peer's clock: stamps local writes and absorbs remote stamps. */
  readonly hlc: HybridLogicalClock
  /** Current time on the injected clock, for expiry. */
  readonly now: () => Millis
  /** A register expires this long after its stamp's wall time. Default 5000 ms. */
  readonly ttlMs?: Millis
  /** Hard cap on registers held; past it the least recently changed are evicted. Default 100 000. */
  readonly maxEntries?: number
}

/** Counters of an ephemeral store. */
export interface EphemeralStats {
  /** Remote registers that changed state. */
  merged: number
  /** Remote registers that lost the last-writer-wins comparison (or were equal). */
  stale: number
  /** Registers removed or ignored because they were past their time to live. */
  expired: number
  /** Registers evicted by the `maxEntries` cap. */
  evicted: number
  /** Remote registers refused (stamp too far in the future). */
  rejected: number
}

/** What changed since a watermark: the registers and the version to ask from next time. */
export interface EphemeralDelta {
  readonly entries: EphemeralEntry[]
  readonly version: number
}

interface Slot {
  entry: EphemeralEntry
  version: number
}

const keyOf = (entity: string, field: string): string => `${entity}\u0000${field}`

/**
 * Last-writer-wins registers for high-rate transient state (DESIGN.md decision 3): merged by HLC
 * stamp then peer id, so merge is commutative, associative and idempotent. Memory is bounded by
 * expiry and a hard cap; nothing here is ever written to a Y.Doc.
 */
export class EphemeralStore {
  /** Counters, mutated in place. */
  readonly stats: EphemeralStats = { merged: 0, stale: 0, expired: 0, evicted: 0, rejected: 0 }
  private readonly slots = new Map<string, Slot>()
  // A change log of (version, key), appended on every change; entries whose slot has moved on are
  // skipped when read and compacted away, so `deltaSince` costs what changed, not what is held.
  private logVersions: number[] = []
  private logKeys: string[] = []
  private version = 0
  private readonly ttlMs: Millis
  private readonly maxEntries: number

  constructor(private readonly options: EphemeralStoreOptions) {
    this.ttlMs = options.ttlMs ?? 5000
    this.maxEntries = options.maxEntries ?? 100_000
  }

  /** Registers held (including any not yet swept). */
  get size(): number {
    return this.slots.size
  }

  /** The current version: bumped on every change of state. */
  get currentVersion(): number {
    return this.version
  }

  /** Writes a local register, stamped now, and returns it. */
  set(entity: string, field: string, value: EphemeralValue): EphemeralEntry {
    const entry: EphemeralEntry = { entity, field, value, stamp: this.options.hlc.tick() }
    this.store(keyOf(entity, field), entry)
    return entry
  }

  /** Merges remote registers; returns those that changed state (the ones worth forwarding). */
  merge(entries: readonly EphemeralEntry[]): EphemeralEntry[] {
    const changed: EphemeralEntry[] = []
    const now = this.options.now()
    for (const entry of entries) {
      if (entry.stamp.wallMs + this.ttlMs <= now) {
        this.stats.expired++
        continue
      }
      const key = keyOf(entry.entity, entry.field)
      const current = this.slots.get(key)
      if (current && compareHlc(entry.stamp, current.entry.stamp) <= 0) {
        this.stats.stale++
        continue
      }
      try {
        this.options.hlc.receive(entry.stamp)
      } catch (error) {
        if (!(error instanceof ClockDriftError)) throw error
        this.stats.rejected++
        continue
      }
      this.store(key, entry)
      this.stats.merged++
      changed.push(entry)
    }
    return changed
  }

  /** The live register of one entity's field, if any. */
  get(entity: string, field: string): EphemeralEntry | undefined {
    const slot = this.slots.get(keyOf(entity, field))
    if (!slot || this.isExpired(slot.entry, this.options.now())) return undefined
    return slot.entry
  }

  /** Every live register of one entity, by field name. */
  entity(entity: string): Record<string, EphemeralEntry> {
    const out: Record<string, EphemeralEntry> = {}
    const now = this.options.now()
    const prefix = `${entity}\u0000`
    for (const [key, slot] of this.slots) {
      if (key.startsWith(prefix) && !this.isExpired(slot.entry, now)) out[slot.entry.field] = slot.entry
    }
    return out
  }

  /** Live registers changed after `version`, oldest change first, and the version to ask from next. */
  deltaSince(version: number): EphemeralDelta {
    const entries: EphemeralEntry[] = []
    const now = this.options.now()
    let index = this.firstLogIndexAfter(version)
    for (; index < this.logVersions.length; index++) {
      const slot = this.slots.get(this.logKeys[index] as string)
      if (!slot || slot.version !== this.logVersions[index]) continue
      if (!this.isExpired(slot.entry, now)) entries.push(slot.entry)
    }
    return { entries, version: this.version }
  }

  /** Removes expired registers; the owner calls it from a timer. Returns how many were removed. */
  sweep(): number {
    const now = this.options.now()
    let removed = 0
    for (const [key, slot] of this.slots) {
      if (this.isExpired(slot.entry, now)) {
        this.slots.delete(key)
        removed++
      }
    }
    this.stats.expired += removed
    this.compactLog()
    return removed
  }

  private isExpired(entry: EphemeralEntry, now: Millis): boolean {
    return entry.stamp.wallMs + this.ttlMs <= now
  }

  private store(key: string, entry: EphemeralEntry): void {
    const version = ++this.version
    // Delete first so the Map's insertion order stays the order of last change: eviction then
    // removes the least recently changed register.
    this.slots.delete(key)
    this.slots.set(key, { entry, version })
    this.logVersions.push(version)
    this.logKeys.push(key)
    while (this.slots.size > this.maxEntries) {
      const oldest = this.slots.keys().next().value as string
      this.slots.delete(oldest)
      this.stats.evicted++
    }
    if (this.logVersions.length > 2 * this.slots.size + 1024) this.compactLog()
  }

  private compactLog(): void {
    const versions: number[] = []
    const keys: string[] = []
    for (let i = 0; i < this.logVersions.length; i++) {
      const key = this.logKeys[i] as string
      if (this.slots.get(key)?.version === this.logVersions[i]) {
        versions.push(this.logVersions[i] as number)
        keys.push(key)
      }
    }
    this.logVersions = versions
    this.logKeys = keys
  }

  private firstLogIndexAfter(version: number): number {
    let low = 0
    let high = this.logVersions.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if ((this.logVersions[mid] as number) <= version) low = mid + 1
      else high = mid
    }
    return low
  }
}
