/** Milliseconds, on whatever time base the injected clock uses (virtual in the simulator). */
export type Millis = number

/** An opaque handle for a scheduled timer. */
export type TimerHandle = number

/**
 * Time as every component sees it. Core, replication and resolver logic never read the wall clock
 * or call `setTimeout` themselves: they take a `Clock`, so the simulator can run the same code on
 * virtual time and a seed reproduces a run.
 */
export interface Clock {
  /** Current time in milliseconds. */
  now(): Millis
  /** Runs `fire` once, `delayMs` from now. */
  setTimer(delayMs: Millis, fire: () => void): TimerHandle
  /** Cancels a timer; cancelling a fired or unknown timer is a no-op. */
  cancelTimer(handle: TimerHandle): void
  /**
   * Runs `fire` once the current synchronous work is done, before any timer (real time:
   * `setImmediate`). Optional: without it a zero-delay timer stands in.
   */
  defer?(fire: () => void): void
}

/** A clock on real time. The only place in the library that reads the wall clock or sets real timers. */
export const createSystemClock = (): Clock => {
  const timers = new Map<TimerHandle, ReturnType<typeof setTimeout>>()
  let nextHandle = 1
  return {
    now: () => Date.now(),
    setTimer: (delayMs, fire) => {
      const handle = nextHandle++
      const timer = setTimeout(() => {
        timers.delete(handle)
        fire()
      }, Math.max(0, delayMs))
      // A pending timer must never keep a process alive on its own (tests, CLI runs).
      timer.unref?.()
      timers.set(handle, timer)
      return handle
    },
    cancelTimer: (handle) => {
      const timer = timers.get(handle)
      if (timer !== undefined) {
        clearTimeout(timer)
        timers.delete(handle)
      }
    },
    defer: (fire) => {
      setImmediate(fire).unref?.()
    },
  }
}
