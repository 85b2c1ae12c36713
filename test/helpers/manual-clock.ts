import type { Clock, TimerHandle } from '../../core/index.js'

/** A clock for unit tests: time moves only when the test says so, timers fire in time order. */
export class ManualClock implements Clock {
  private time = 0
  private nextHandle = 1
  private readonly timers = new Map<TimerHandle, { at: number; seq: number; fire: () => void }>()

  now(): number {
    return this.time
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const handle = this.nextHandle++
    this.timers.set(handle, { at: this.time + Math.max(0, delayMs), seq: handle, fire })
    return handle
  }

  cancelTimer(handle: TimerHandle): void {
    this.timers.delete(handle)
  }

  pendingTimers(): number {
    return this.timers.size
  }

  /** Moves time forward by `ms`, firing due timers in order (and microtasks between them). */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms
    for (;;) {
      await flushMicrotasks()
      let next: [TimerHandle, { at: number; seq: number; fire: () => void }] | undefined
      for (const entry of this.timers) {
        if (entry[1].at > target) continue
        if (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq)) next = entry
      }
      if (!next) break
      this.timers.delete(next[0])
      this.time = next[1].at
      next[1].fire()
    }
    this.time = target
    await flushMicrotasks()
  }
}

/** Lets every queued microtask run, including chains of them (memory-transport deliveries). */
export const flushMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
