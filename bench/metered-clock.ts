// A real-time clock for the epoch benchmarks that meters its timer callbacks. A peer cuts an epoch
// inside its bound-check timer (replication/peer.ts: scheduleEpochCheck -> checkBounds -> cut), so
// the CPU and wall time of the one timer callback during which the peer's cut count went up is the
// cost of that cut on the coordinator: the encode, the content rebuild, the hash, the switch to a
// fresh replica, the announcements and the carried writes. Measured from outside, through the
// clock the peer is given, without touching replication code.
import { createSystemClock, type Clock } from '../core/index.js'

/** What the cut-counting callbacks measured (ms of CPU, user + system of the whole process, and wall). */
export interface CutCost {
  readonly cpuMs: number
  readonly wallMs: number
}

/** A system clock whose timer callbacks report their cost when `cuts()` went up during them. */
export const createMeteredClock = (cuts: () => number, onCut: (cost: CutCost) => void): Clock => {
  const clock = createSystemClock()
  return {
    ...clock,
    setTimer: (delayMs, fire) =>
      clock.setTimer(delayMs, () => {
        const before = cuts()
        const cpu = process.cpuUsage()
        const started = performance.now()
        fire()
        if (cuts() === before) return
        const spent = process.cpuUsage(cpu)
        onCut({ cpuMs: (spent.user + spent.system) / 1000, wallMs: performance.now() - started })
      }),
  }
}
