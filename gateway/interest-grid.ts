import type { InterestArea } from './session-control.js'

/** Cell key of integer cell coordinates (each within +-2^20 cells; the rest fold onto the edge cells). */
const LIMIT = 2 ** 20
const clampCell = (c: number): number => Math.max(-LIMIT, Math.min(LIMIT - 1, c))
const keyOf = (cx: number, cy: number): number => (clampCell(cx) + LIMIT) * 2 * LIMIT + (clampCell(cy) + LIMIT)
/** Most cells one area is entered in; a wider area is checked against every change instead (a client picks its radius). */
const MAX_CELLS_PER_AREA = 1024

/**
 * A uniform grid over the plane for the interest fan-out: which subscribers' areas may cover a
 * point, and which entities lie near an area. Without it a tick compares every change with every
 * subscriber (10,000 moves a second times 10,000 clients is 10^8 distance checks a second); with
 * it a change meets only the subscribers whose areas touch its cell. Candidates are exact-checked
 * by the caller, so the grid may over-approximate (bounding boxes, clamped far cells).
 */
export class InterestGrid<S> {
  private readonly areas = new Map<number, Set<S>>()
  private readonly cellsOf = new Map<S, number[]>()
  /** Subscribers whose areas span more than `MAX_CELLS_PER_AREA` cells: candidates for every change. */
  readonly wide = new Set<S>()
  private readonly entities = new Map<number, Set<string>>()
  private readonly entityCell = new Map<string, number>()

  constructor(
    /** Cell side in world units; about an area's radius keeps both lookups small. */
    readonly cellSize: number,
  ) {}

  private cell(v: number): number {
    return Math.floor(v / this.cellSize)
  }

  /** The cells an area's bounding box touches, or undefined when they are more than `MAX_CELLS_PER_AREA`. */
  private cellsCovering(area: InterestArea): number[] | undefined {
    const x0 = clampCell(this.cell(area.x - area.radius))
    const x1 = clampCell(this.cell(area.x + area.radius))
    const y0 = clampCell(this.cell(area.y - area.radius))
    const y1 = clampCell(this.cell(area.y + area.radius))
    if ((x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS_PER_AREA) return undefined
    const keys: number[] = []
    for (let cx = x0; cx <= x1; cx++) for (let cy = y0; cy <= y1; cy++) keys.push(keyOf(cx, cy))
    return keys
  }

  /** Places (or moves) a subscriber's area. */
  setArea(subscriber: S, area: InterestArea): void {
    this.removeArea(subscriber)
    const keys = this.cellsCovering(area)
    if (keys === undefined) {
      this.wide.add(subscriber)
      return
    }
    for (const key of keys) {
      let set = this.areas.get(key)
      if (!set) this.areas.set(key, (set = new Set()))
      set.add(subscriber)
    }
    this.cellsOf.set(subscriber, keys)
  }

  /** Forgets a subscriber. */
  removeArea(subscriber: S): void {
    this.wide.delete(subscriber)
    const keys = this.cellsOf.get(subscriber)
    if (!keys) return
    for (const key of keys) {
      const set = this.areas.get(key)
      if (!set) continue
      set.delete(subscriber)
      if (set.size === 0) this.areas.delete(key)
    }
    this.cellsOf.delete(subscriber)
  }

  /** Subscribers whose areas may cover the point (besides the `wide` ones). */
  subscribersAt(x: number, y: number): ReadonlySet<S> | undefined {
    return this.areas.get(keyOf(this.cell(x), this.cell(y)))
  }

  /** Records where an entity is now. */
  placeEntity(entity: string, x: number, y: number): void {
    const key = keyOf(this.cell(x), this.cell(y))
    const previous = this.entityCell.get(entity)
    if (previous === key) return
    if (previous !== undefined) this.forgetEntityIn(entity, previous)
    let set = this.entities.get(key)
    if (!set) this.entities.set(key, (set = new Set()))
    set.add(entity)
    this.entityCell.set(entity, key)
  }

  /** Forgets an entity (it has no position any more). */
  removeEntity(entity: string): void {
    const previous = this.entityCell.get(entity)
    if (previous === undefined) return
    this.forgetEntityIn(entity, previous)
    this.entityCell.delete(entity)
  }

  /** Entities whose cells an area touches: a superset of those inside it (every entity for a wide area). */
  entitiesNear(area: InterestArea): string[] {
    const keys = this.cellsCovering(area)
    if (keys === undefined) return [...this.entityCell.keys()]
    const out: string[] = []
    for (const key of keys) for (const entity of this.entities.get(key) ?? []) out.push(entity)
    return out
  }

  private forgetEntityIn(entity: string, key: number): void {
    const set = this.entities.get(key)
    if (!set) return
    set.delete(entity)
    if (set.size === 0) this.entities.delete(key)
  }
}
