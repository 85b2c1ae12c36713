import TinyQueue from 'tinyqueue'
import type { Clock, Millis, TimerHandle } from '../core/index.js'

interface SimEvent {
  readonly at: Millis
  readonly seq: number
  readonly fire: () => void
}

/**
 * The simulator's discrete-event core: a virtual clock and a queue of events ordered by (time,
 * insertion sequence), so two runs with the same inputs fire the same events in the same order.
 * It implements `Clock`, so peers take it exactly where the real server passes the system clock.
 */
export class SimScheduler implements Clock {
  private time: Millis = 0
  private seq = 0
  private readonly queue = new TinyQueue<SimEvent>([], (a, b) => a.at - b.at || a.seq - b.seq)
  private readonly cancelled = new Set<number>()
  /** Events fired so far. */
  eventsProcessed = 0

  now(): Millis {
    return this.time
  }

  setTimer(delayMs: Millis, fire: () => void): TimerHandle {
    const seq = ++this.seq
    this.queue.push({ at: this.time + Math.max(0, delayMs), seq, fire })
    return seq
  }

  cancelTimer(handle: TimerHandle): void {
    if (handle > 0 && handle <= this.seq) this.cancelled.add(handle)
  }

  /** Schedules `fire` at an absolute virtual time (not before now). */
  at(time: Millis, fire: () => void): TimerHandle {
    return this.setTimer(time - this.time, fire)
  }

  /** Events waiting. */
  get pending(): number {
    return this.queue.length
  }

  /** Fires events in order until virtual time would pass `until`; time then stands at `until`. */
  runUntil(until: Millis): void {
    for (;;) {
      const next = this.queue.peek()
      if (next === undefined || next.at > until) break
      this.queue.pop()
      if (this.cancelled.size > 0 && this.cancelled.delete(next.seq)) continue
      this.time = next.at
      this.eventsProcessed++
      next.fire()
    }
    if (until > this.time) this.time = until
  }

  /** Fires at most `maxEvents` events regardless of time; returns how many fired. */
  step(maxEvents: number): number {
    let fired = 0
    while (fired < maxEvents) {
      const next = this.queue.pop()
      if (next === undefined) break
      if (this.cancelled.size > 0 && this.cancelled.delete(next.seq)) continue
      this.time = next.at
      this.eventsProcessed++
      fired++
      next.fire()
    }
    return fired
  }
}
