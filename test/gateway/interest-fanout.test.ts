import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EphemeralStore, HybridLogicalClock } from '../../core/index.js'
import { InterestFanout, type InterestSubscriber } from '../../gateway/index.js'
import type { EphemeralBatch } from '../../gateway/index.js'

// The fan-out routes changes through a spatial index; whatever the cell size, each subscriber must
// end up seeing exactly the entities a brute-force distance check over the whole store finds.

class Recorder implements InterestSubscriber {
  readonly seen = new Map<string, Record<string, unknown>>()
  sendControl(batch: EphemeralBatch): void {
    for (const entity of batch.gone) this.seen.delete(entity)
    for (const entry of batch.entries) {
      const fields = this.seen.get(entry.entity) ?? {}
      fields[entry.field] = entry.value
      this.seen.set(entry.entity, fields)
    }
  }
}

const coordinate = fc.integer({ min: -300, max: 300 })
const op = fc.oneof(
  fc.record({ kind: fc.constant('move' as const), entity: fc.integer({ min: 0, max: 7 }), x: coordinate, y: coordinate }),
  fc.record({ kind: fc.constant('hp' as const), entity: fc.integer({ min: 0, max: 7 }), hp: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ kind: fc.constant('area' as const), subscriber: fc.integer({ min: 0, max: 3 }), x: coordinate, y: coordinate, radius: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ kind: fc.constant('leave' as const), subscriber: fc.integer({ min: 0, max: 3 }) }),
  fc.constant({ kind: 'tick' as const }),
)

describe('InterestFanout', () => {
  it('shows each subscriber exactly the entities inside its area, with their latest fields, for any cell size', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 400 }).map((c) => (c > 350 ? c / 1000 : c)), (ops, cellSize) => {
        const store = new EphemeralStore({ hlc: new HybridLogicalClock('p', () => 1000), now: () => 1000, ttlMs: 60_000 })
        const fanout = new InterestFanout(store, { cellSize })
        const subscribers = Array.from({ length: 4 }, () => new Recorder())
        const areas = new Map<number, { x: number; y: number; radius: number }>()
        for (const o of ops) {
          if (o.kind === 'move') store.set(`e${o.entity}`, 'position', { x: o.x, y: o.y })
          else if (o.kind === 'hp') store.set(`e${o.entity}`, 'hp', o.hp)
          else if (o.kind === 'area') {
            fanout.tick()
            areas.set(o.subscriber, { x: o.x, y: o.y, radius: o.radius })
            fanout.subscribe(subscribers[o.subscriber]!, areas.get(o.subscriber)!)
          } else if (o.kind === 'leave') {
            fanout.remove(subscribers[o.subscriber]!)
            areas.delete(o.subscriber)
            subscribers[o.subscriber] = new Recorder()
          } else fanout.tick()
        }
        fanout.tick()
        for (const [index, area] of areas) {
          const expected = new Map<string, Record<string, unknown>>()
          for (const entry of store.deltaSince(0).entries) {
            const position = store.get(entry.entity, 'position')?.value as { x: number; y: number } | undefined
            if (position === undefined || Math.hypot(position.x - area.x, position.y - area.y) > area.radius) continue
            const fields = expected.get(entry.entity) ?? {}
            fields[entry.field] = entry.value
            expected.set(entry.entity, fields)
          }
          expect(subscribers[index]!.seen).toEqual(expected)
        }
      }),
      { numRuns: 300 },
    )
  })
})
