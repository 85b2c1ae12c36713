// System-call counters of an interest-scale server process (the realmsync one and the floor), read
// the same way by both so their writes per intent compare.
import { readFileSync } from 'node:fs'

/** This process's read and write system calls so far, from `/proc/self/io` (zeros where there is none). */
export const systemCalls = (): { readCalls: number; writeCalls: number } => {
  try {
    const io = readFileSync('/proc/self/io', 'utf8')
    return { readCalls: Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? 0), writeCalls: Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? 0) }
  } catch {
    return { readCalls: 0, writeCalls: 0 }
  }
}
