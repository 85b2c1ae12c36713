import type { EphemeralEntry, EphemeralStore } from '../core/index.js'
import { InterestGrid } from './interest-grid.js'
import { InterestView, POSITION_FIELD, positionOf } from './interest-view.js'
import type { EphemeralBatch, InterestArea } from './session-control.js'

/** Something an ephemeral batch can be sent to (a session's intent connection). */
export interface InterestSubscriber {
  sendControl(batch: EphemeralBatch): void
}

/** Settings of the interest fan-out. */
export interface InterestFanoutOptions {
  /** Cell side of the spatial index, in world units; about the usual interest radius. Default 64. */
  readonly cellSize?: number
}

/**
 * The gateway's ephemeral fan-out: one delta of the peer's ephemeral layer per tick, each change
 * routed through a spatial index (`InterestGrid`) to the subscribers whose areas may cover it and
 * those that see its entity now, then filtered per subscriber through its `InterestView`. A tick
 * costs what changed times the subscribers near each change, not times every subscriber.
 */
export class InterestFanout {
  private readonly views = new Map<InterestSubscriber, InterestView>()
  private readonly owners = new Map<InterestView, InterestSubscriber>()
  private readonly grid: InterestGrid<InterestView>
  /** The views that see each entity now: they must hear of it leaving, wherever it goes. */
  private readonly watchers = new Map<string, Set<InterestView>>()
  private watermark = 0
  /** Batches sent so far. */
  batches = 0

  constructor(
    private readonly store: EphemeralStore,
    options: InterestFanoutOptions = {},
  ) {
    this.grid = new InterestGrid(options.cellSize ?? 64)
    this.index(store.deltaSince(0).entries)
    this.watermark = store.currentVersion
  }

  /** Sets or moves a subscriber's area and sends it what it now sees. */
  subscribe(subscriber: InterestSubscriber, area: InterestArea): void {
    let view = this.views.get(subscriber)
    if (!view) {
      this.views.set(subscriber, (view = new InterestView()))
      this.owners.set(view, subscriber)
    }
    const before = new Set(view.visibleEntities)
    this.grid.setArea(view, area)
    const batch = view.subscribe(area, this.store, this.grid.entitiesNear(area))
    for (const entity of before) if (!view.visibleEntities.has(entity)) this.unwatch(entity, view)
    for (const entity of view.visibleEntities) if (!before.has(entity)) this.watch(entity, view)
    this.batches++
    subscriber.sendControl(batch)
  }

  /** Forgets a subscriber (its connection closed). */
  remove(subscriber: InterestSubscriber): void {
    const view = this.views.get(subscriber)
    if (!view) return
    this.views.delete(subscriber)
    this.owners.delete(view)
    this.grid.removeArea(view)
    for (const entity of view.visibleEntities) this.unwatch(entity, view)
  }

  /** Sends every subscriber the changes inside its area since the last tick. */
  tick(): void {
    const delta = this.store.deltaSince(this.watermark)
    this.watermark = delta.version
    if (delta.entries.length === 0) return
    this.index(delta.entries)
    if (this.views.size === 0) return
    // Each change goes to the views near where it happened and to those seeing its entity now.
    const routed = new Map<InterestView, EphemeralEntry[]>()
    const route = (view: InterestView, entry: EphemeralEntry): void => {
      const list = routed.get(view)
      if (list === undefined) routed.set(view, [entry])
      else if (list[list.length - 1] !== entry) list.push(entry)
    }
    for (const entry of delta.entries) {
      for (const view of this.watchers.get(entry.entity) ?? []) route(view, entry)
      if (entry.field !== POSITION_FIELD) continue
      const position = positionOf(entry.value)
      if (position === undefined) continue
      for (const view of this.grid.subscribersAt(position.x, position.y) ?? []) route(view, entry)
      for (const view of this.grid.wide) route(view, entry)
    }
    for (const [view, entries] of routed) {
      const batch = view.filter(entries, this.store)
      // Nothing for this view means nothing entered or left it: its watched entities stand. Most
      // routed views are such grid neighbours, so this skips the bulk of the bookkeeping.
      if (batch === undefined) continue
      for (const entry of entries) {
        if (entry.field !== POSITION_FIELD) continue
        if (view.visibleEntities.has(entry.entity)) this.watch(entry.entity, view)
        else this.unwatch(entry.entity, view)
      }
      this.batches++
      this.owners.get(view)?.sendControl(batch)
    }
  }

  /** Keeps the entity side of the index on the latest positions. */
  private index(entries: readonly EphemeralEntry[]): void {
    for (const entry of entries) {
      if (entry.field !== POSITION_FIELD) continue
      const position = positionOf(entry.value)
      if (position === undefined) this.grid.removeEntity(entry.entity)
      else this.grid.placeEntity(entry.entity, position.x, position.y)
    }
  }

  private watch(entity: string, view: InterestView): void {
    let set = this.watchers.get(entity)
    if (!set) this.watchers.set(entity, (set = new Set()))
    set.add(view)
  }

  private unwatch(entity: string, view: InterestView): void {
    const set = this.watchers.get(entity)
    if (!set) return
    set.delete(view)
    if (set.size === 0) this.watchers.delete(entity)
  }
}
