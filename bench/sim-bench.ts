import { createRandom } from '../core/index.js'
import { BUILTIN_SCENARIOS, runScenario, SimNetwork, SimScheduler, uniformLatencyMatrix } from '../sim/index.js'
import type { BenchRow } from './harness.js'

/**
 * Simulator speed: events per wall second with no document work (timers and frame deliveries on
 * the faulty network), and a whole built-in scenario with real peers, for scale.
 */
export const runSimBench = async (): Promise<BenchRow[]> => {
  const measureEvents = (): number => {
    const scheduler = new SimScheduler()
    const network = new SimNetwork(scheduler, createRandom(1), uniformLatencyMatrix(16, 5), { jitterMs: 2, loss: 0.01, duplicate: 0, reorder: false })
    const transports = Array.from({ length: 16 }, (_, i) => network.endpoint(`n${i}`, i))
    const frame = new Uint8Array(32)
    const random = createRandom(2)
    for (const t of transports) t.listen({ onFrame: () => {}, onConnect: () => {}, onDisconnect: () => {} })
    network.connectAll()
    scheduler.runUntil(0)
    // Each tick event sends one frame to a random peer (one delivery event) and re-arms itself.
    for (const t of transports) {
      const tick = (): void => {
        t.send(`n${random.int(0, 15)}`, frame)
        scheduler.setTimer(1, tick)
      }
      scheduler.setTimer(random.next(), tick)
    }
    const start = performance.now()
    const before = scheduler.eventsProcessed
    scheduler.runUntil(20_000)
    return (scheduler.eventsProcessed - before) / ((performance.now() - start) / 1000)
  }
  measureEvents() // warm up the JIT
  const eventsPerSecond = Math.max(measureEvents(), measureEvents())
  const start = performance.now()
  const report = runScenario(BUILTIN_SCENARIOS['partition-heal']!, { seed: 1 })
  const scenarioSeconds = (performance.now() - start) / 1000
  return [
    { section: 'simulator', name: 'events/s, no document work (16 peers, faulty links)', perSecond: eventsPerSecond, unit: 'events/s', target: 500_000 },
    {
      section: 'simulator',
      name: 'partition-heal with real peers',
      perSecond: report.eventsProcessed / scenarioSeconds,
      unit: 'events/s',
      extra: { virtualMsPerWallMs: Math.round(report.virtualDurationMs / (scenarioSeconds * 1000)), updates: report.updates },
    },
  ]
}
