// Resource use of a benchmark server process, measured the same way by every server child.
import type { ServerStats } from './relay-protocol.js'

/** This process's CPU, event-loop time, memory and uptime; `gcFirst` collects twice before reading memory (needs --expose-gc). */
export const serverStats = (connections: number, gcFirst = false): ServerStats => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gcFirst && gc) {
    gc()
    gc()
  }
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  return {
    event: 'stats',
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopActiveMs: performance.eventLoopUtilization().active,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    connections,
    uptimeMs: performance.now(),
  }
}
