// The parent side of the relay benchmarks, shared by relay-bench.ts and gateway-scale-bench.ts:
// starting server and load-generator processes, connecting clients, running one load phase across
// every load generator while metering the servers, and merging what they report.
import { mkdtempSync, rmSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonLineChild } from './json-line-child.js'
import { LatencyHistogram } from './latency-histogram.js'
import type {
  ConnectReport,
  RelayLoadAnswer,
  RelayLoadCommand,
  RelayLoadConfig,
  RelayLoadReport,
  RelayServerAnswer,
  RelayServerCommand,
  RelayServerConfig,
  ServerStats,
} from './relay-protocol.js'

const SERVER_SCRIPT = join(import.meta.dirname, 'relay-server.ts')
const LOAD_SCRIPT = join(import.meta.dirname, 'relay-load.ts')
// Extra Node flags for server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile one.
const SERVER_NODE_ARGS = (process.env.RELAY_BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '')

/** A server process. */
export type ServerChild = JsonLineChild<RelayServerCommand, RelayServerAnswer>
/** A load-generator process. */
export type LoadChild = JsonLineChild<RelayLoadCommand, RelayLoadAnswer>

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A started server process, its client port and its data directory (removed on stop). */
export interface StartedServer {
  readonly child: ServerChild
  readonly port: number
  readonly peerUrl?: string
  stop(): Promise<void>
}

/** Starts a server process (under --expose-gc, so memory is read after a collection). */
export const startServerProcess = async (label: string, config: Omit<RelayServerConfig, 'dataDir'>): Promise<StartedServer> => {
  const dataDir = config.system === 'realmsync' ? mkdtempSync(join(tmpdir(), 'realmsync-relay-bench-')) : undefined
  const child: ServerChild = new JsonLineChild(label, SERVER_SCRIPT, { ...config, ...(dataDir ? { dataDir } : {}) }, ['--expose-gc', ...SERVER_NODE_ARGS])
  const ready = await child.ready
  if (ready.event !== 'ready') throw new Error(`${label}: ${JSON.stringify(ready)}`)
  return {
    child,
    port: ready.port,
    ...(ready.peerUrl ? { peerUrl: ready.peerUrl } : {}),
    stop: async () => {
      await child.quit(10_000)
      if (dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** A server's stats. */
export const serverStats = async (child: ServerChild, gc = false): Promise<ServerStats> => {
  const stats = await child.ask({ cmd: 'stats', gc })
  if (stats.event !== 'stats') throw new Error(`unexpected answer ${JSON.stringify(stats)}`)
  return stats
}

/** Starts load generators and waits until each is ready. */
export const startLoadProcesses = async (configs: readonly RelayLoadConfig[]): Promise<LoadChild[]> => {
  const children = configs.map((config) => new JsonLineChild<RelayLoadCommand, RelayLoadAnswer>(`load generator ${config.index}`, LOAD_SCRIPT, config))
  await Promise.all(children.map((child) => child.ready))
  return children
}

/** What connecting every client did. */
export interface ConnectResult {
  readonly connected: number
  readonly failed: number
  readonly failures: readonly string[]
  readonly p50Ms: number
  readonly p99Ms: number
  /** Wall time until the last load generator had opened all its connections. */
  readonly elapsedMs: number
}

/** Connects every load generator's clients at once and merges the reports. */
export const connectAll = async (loads: readonly LoadChild[]): Promise<ConnectResult> => {
  const reports = (await Promise.all(loads.map((load) => load.ask({ cmd: 'connect' })))) as ConnectReport[]
  const histogram = new LatencyHistogram()
  for (const report of reports) histogram.merge(report.connectHistogram)
  return {
    connected: reports.reduce((sum, report) => sum + report.connected, 0),
    failed: reports.reduce((sum, report) => sum + report.failed, 0),
    failures: reports.flatMap((report) => report.failures).slice(0, 5),
    p50Ms: histogram.percentile(50),
    p99Ms: histogram.percentile(99),
    elapsedMs: Math.max(...reports.map((report) => report.elapsedMs)),
  }
}

/** Busy and total CPU time of the whole machine so far, ms. */
export const machineTimes = (): { busy: number; total: number } => {
  let busy = 0
  let total = 0
  for (const cpu of os.cpus()) {
    const all = cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq + cpu.times.idle
    total += all
    busy += all - cpu.times.idle
  }
  return { busy, total }
}

/** % of all cores busy between two readings. */
export const busyPercent = (start: { busy: number; total: number }, end: { busy: number; total: number }): number =>
  ((end.busy - start.busy) / Math.max(1, end.total - start.total)) * 100

/** One phase's settings (the rate is the total over every load generator). */
export interface PhaseSettings {
  readonly rate: number
  readonly warmupMs: number
  readonly measureMs: number
  readonly tickMs: number
}

/** What one phase did, merged over load generators and servers. */
export interface PhaseResult {
  readonly rate: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** p99 per server the readers are connected to (readerUrls order): with two peers, local then one hop away. */
  readonly p99ByServerMs: readonly number[]
  readonly p50ByServerMs: readonly number[]
  /** Measured deliveries / expected (window writes x readers), over the load generators' own writes. */
  readonly delivered: number
  /** Writes per second sent in the window. */
  readonly writesPerSecond: number
  /** Update deliveries per second readers received in the window: the fan-out throughput. */
  readonly deliveriesPerSecond: number
  /** Server CPU per delivery, µs (all servers' CPU over all deliveries): the cost of fan-out, less sensitive to other load than latency. */
  readonly serverCpuUsPerDelivery: number
  /** Per server process, % of one core over the window. */
  readonly serverCpuPercent: readonly number[]
  /** Per server process, event-loop utilisation over the window, %. */
  readonly serverLoopPercent: readonly number[]
  /** Per load generator, % of one core over the window. */
  readonly loadCpuPercent: readonly number[]
  readonly maxTickLateMs: number
  readonly closedReaders: number
  readonly refusals: number
  /** Whole machine, % of all cores busy over the window. */
  readonly machineBusyPercent: number
}

/** Runs one phase on every load generator at once, metering every server over the window. */
export const runPhase = async (loads: readonly LoadChild[], servers: readonly ServerChild[], settings: PhaseSettings): Promise<PhaseResult> => {
  const plan = { startAt: Date.now() + 300, warmupMs: settings.warmupMs, measureMs: settings.measureMs, cooldownMs: 300, drainMs: 1500, rate: settings.rate, tickMs: settings.tickMs }
  const answers = Promise.all(loads.map((load, index) => load.ask({ cmd: 'run', plan: { ...plan, share: { index, of: loads.length } } })))
  answers.catch(() => {})
  const windowStart = plan.startAt + plan.warmupMs
  await sleep(windowStart - Date.now())
  const machineStart = machineTimes()
  const before = await Promise.all(servers.map((server) => serverStats(server)))
  await sleep(windowStart + plan.measureMs - Date.now())
  const after = await Promise.all(servers.map((server) => serverStats(server)))
  const machineEnd = machineTimes()
  const reports = (await answers) as RelayLoadReport[]
  const histogram = new LatencyHistogram()
  for (const report of reports) histogram.merge(report.histogram)
  const byServer: LatencyHistogram[] = []
  for (const report of reports) {
    report.histogramsByServer.forEach((data, index) => {
      byServer[index] ??= new LatencyHistogram()
      byServer[index]?.merge(data)
    })
  }
  const expected = reports.reduce((sum, report) => sum + report.expected, 0)
  const seconds = plan.measureMs / 1000
  const serverCpuPercent = after.map((stats, index) => {
    const start = before[index] as ServerStats
    return ((stats.cpuMs - start.cpuMs) / Math.max(1, stats.uptimeMs - start.uptimeMs)) * 100
  })
  const deliveriesPerSecond = reports.reduce((sum, report) => sum + report.windowDeliveries, 0) / seconds
  return {
    rate: settings.rate,
    p50Ms: histogram.percentile(50),
    p95Ms: histogram.percentile(95),
    p99Ms: histogram.percentile(99),
    maxMs: histogram.percentile(100),
    p99ByServerMs: byServer.map((server) => server.percentile(99)),
    p50ByServerMs: byServer.map((server) => server.percentile(50)),
    delivered: expected === 0 ? 0 : histogram.size / expected,
    writesPerSecond: reports.reduce((sum, report) => sum + report.windowWrites, 0) / seconds,
    deliveriesPerSecond,
    serverCpuUsPerDelivery: deliveriesPerSecond === 0 ? Number.NaN : (serverCpuPercent.reduce((sum, value) => sum + value, 0) / 100 / deliveriesPerSecond) * 1e6,
    serverCpuPercent,
    serverLoopPercent: after.map((stats, index) => {
      const start = before[index] as ServerStats
      return ((stats.loopActiveMs - start.loopActiveMs) / Math.max(1, stats.uptimeMs - start.uptimeMs)) * 100
    }),
    loadCpuPercent: reports.map((report) => report.cpuPercent),
    maxTickLateMs: Math.max(...reports.map((report) => report.maxTickLateMs)),
    closedReaders: reports.reduce((sum, report) => sum + report.closedReaders, 0),
    refusals: reports.reduce((sum, report) => sum + report.refusals, 0),
    machineBusyPercent: busyPercent(machineStart, machineEnd),
  }
}

/** Why a phase did not keep up (something undelivered after the drain, a reader dropped, p99 over a second), or undefined. */
export const shortfall = (result: PhaseResult): string | undefined => {
  const reasons = [
    ...(result.delivered < 0.999 ? [`${((1 - result.delivered) * 100).toFixed(2)}% undelivered after the drain`] : []),
    ...(result.closedReaders > 0 ? [`${result.closedReaders} readers closed by the server`] : []),
    ...(!(result.p99Ms < 1000) ? [`p99 ${Number.isFinite(result.p99Ms) ? result.p99Ms.toFixed(0) : 'n/a'} ms > 1 s`] : []),
  ]
  return reasons.length > 0 ? reasons.join(', ') : undefined
}

/** Whether a phase kept up (see `shortfall`). */
export const keptUp = (result: PhaseResult): boolean => shortfall(result) === undefined

/** Whether a phase lost something: undelivered updates or dropped readers (slow is not lost). */
export const lostUpdates = (result: PhaseResult): boolean => result.delivered < 0.999 || result.closedReaders > 0

/** The machine's load before a run: % of all cores busy over one second. */
export const backgroundLoad = async (): Promise<number> => {
  const start = machineTimes()
  await sleep(1000)
  return busyPercent(start, machineTimes())
}

/** Mean of some numbers. */
export const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)
