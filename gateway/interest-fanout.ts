import type { EphemeralStore } from '../core/index.js'
import { InterestView } from './interest-view.js'
import type { EphemeralBatch, InterestArea } from './session-control.js'

/** Something an ephemeral batch can be sent to (a session's intent connection). */
export interface InterestSubscriber {
  sendControl(batch: EphemeralBatch): void
}

/**
 * The gateway's ephemeral fan-out: one delta of the peer's ephemeral layer per tick, filtered per
 * subscriber through its `InterestView`, so a tick costs what changed times the subscribers, never
 * the whole world per client.
 */
export class InterestFanout {
  private readonly views = new Map<InterestSubscriber, InterestView>()
  private watermark: number
  /** Batches sent so far. */
  batches = 0

  constructor(private readonly store: EphemeralStore) {
    this.watermark = store.currentVersion
  }

  /** Sets or moves a subscriber's area and sends it what it now sees. */
  subscribe(subscriber: InterestSubscriber, area: InterestArea): void {
    let view = this.views.get(subscriber)
    if (!view) this.views.set(subscriber, (view = new InterestView()))
    this.batches++
    subscriber.sendControl(view.subscribe(area, this.store))
  }

  /** Forgets a subscriber (its connection closed). */
  remove(subscriber: InterestSubscriber): void {
    this.views.delete(subscriber)
  }

  /** Sends every subscriber the changes inside its area since the last tick. */
  tick(): void {
    if (this.views.size === 0) {
      // Nobody to tell: skip the walk over what changed.
      this.watermark = this.store.currentVersion
      return
    }
    const delta = this.store.deltaSince(this.watermark)
    this.watermark = delta.version
    for (const [subscriber, view] of this.views) {
      const batch = view.filter(delta.entries, this.store)
      if (batch === undefined) continue
      this.batches++
      subscriber.sendControl(batch)
    }
  }
}
