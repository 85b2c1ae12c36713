import type { EphemeralEntry, EphemeralStore, EphemeralValue } from '../core/index.js'
import type { EphemeralBatch, EphemeralView, InterestArea } from './session-control.js'

/** The ephemeral field that places an entity in the world: `{ x, y }`. */
export const POSITION_FIELD = 'position'

/** The `{ x, y }` of a position register's value, if it is one. */
export const positionOf = (value: EphemeralValue | undefined): { x: number; y: number } | undefined => {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) return undefined
  const { x, y } = value as Readonly<Record<string, EphemeralValue>>
  return typeof x === 'number' && Number.isFinite(x) && typeof y === 'number' && Number.isFinite(y) ? { x, y } : undefined
}

/** Whether a value survives JSON unchanged: control messages are text, so bytes cannot ride along. */
const isJsonSafe = (value: EphemeralValue): boolean => {
  if (value instanceof Uint8Array) return false
  if (Array.isArray(value)) return value.every(isJsonSafe)
  if (value !== null && typeof value === 'object') return Object.values(value as Record<string, EphemeralValue>).every(isJsonSafe)
  return true
}

/**
 * One client's interest-filtered window on the ephemeral layer: an entity is visible while its
 * `position` lies within the area's radius, and then every one of its fields reaches the client.
 * The whole world's ephemeral traffic never goes to every client: fan-out costs what is near.
 * Values holding bytes are left out (the batch is JSON). Batches hold the store's own (immutable)
 * entries rather than copies, so a batching gateway encodes each register once for every client
 * that sees it.
 */
export class InterestView {
  private area: InterestArea | undefined
  private readonly visible = new Set<string>()

  /** Whether a subscription is set. */
  get active(): boolean {
    return this.area !== undefined
  }

  /** Entities visible now. */
  get visibleEntities(): ReadonlySet<string> {
    return this.visible
  }

  private inside(position: { x: number; y: number }): boolean {
    const area = this.area as InterestArea
    return Math.hypot(position.x - area.x, position.y - area.y) <= area.radius
  }

  /**
   * Sets (or moves) the area and returns the batch that brings the client up to date: every
   * register of entities now inside that were not before, and the entities that left. `near`, when
   * given, is a superset of the entities inside (from a spatial index); else the whole store is read.
   */
  subscribe(area: InterestArea, store: EphemeralStore, near?: readonly string[]): EphemeralBatch {
    this.area = area
    const entries: EphemeralView[] = []
    const gone: string[] = []
    const positions =
      near === undefined
        ? store.deltaSince(0).entries.filter((entry) => entry.field === POSITION_FIELD)
        : near.flatMap((entity) => {
            const entry = store.get(entity, POSITION_FIELD)
            return entry === undefined ? [] : [entry]
          })
    const nowInside = new Set<string>()
    for (const entry of positions) {
      const position = positionOf(entry.value)
      if (position !== undefined && this.inside(position)) nowInside.add(entry.entity)
    }
    for (const entity of this.visible) if (!nowInside.has(entity)) gone.push(entity)
    for (const entity of nowInside) {
      if (this.visible.has(entity)) continue
      for (const entry of Object.values(store.entity(entity))) if (isJsonSafe(entry.value)) entries.push(entry)
    }
    this.visible.clear()
    for (const entity of nowInside) this.visible.add(entity)
    return { type: 'ephemeral', entries, gone }
  }

  /**
   * Filters changed registers (oldest first) through the area: a position moving an entity in brings
   * its other fields along; moving it out reports it gone. Returns undefined when nothing concerns
   * this client.
   */
  filter(changed: readonly EphemeralEntry[], store: EphemeralStore): EphemeralBatch | undefined {
    if (this.area === undefined) return undefined
    const entries: EphemeralView[] = []
    const gone: string[] = []
    for (const entry of changed) {
      if (entry.field === POSITION_FIELD) {
        const position = positionOf(entry.value)
        const inside = position !== undefined && this.inside(position)
        if (inside && !this.visible.has(entry.entity)) {
          this.visible.add(entry.entity)
          const goneAt = gone.indexOf(entry.entity)
          if (goneAt >= 0) gone.splice(goneAt, 1)
          for (const other of Object.values(store.entity(entry.entity))) if (other.field !== POSITION_FIELD && isJsonSafe(other.value)) entries.push(other)
        } else if (!inside && this.visible.delete(entry.entity)) {
          gone.push(entry.entity)
          continue
        }
        if (inside) entries.push(entry)
      } else if (this.visible.has(entry.entity) && isJsonSafe(entry.value)) {
        entries.push(entry)
      }
    }
    return entries.length > 0 || gone.length > 0 ? { type: 'ephemeral', entries, gone } : undefined
  }
}
