// The interest-filtered workload of the gateway scale benchmark (issue 4): N realmsync clients on
// one peer (or spread over two replicating peers), each subscribed to the area around its home,
// sending `move` intents at a total rate; each move's effect (the mover's ephemeral position) goes
// only to the clients whose area covers it. Measured: intent-to-visible delay (the move's send to
// its arrival at each such client, p50/p99), the mover's ack delay, server memory per connection
// (RSS and heap after a collection), server CPU and event-loop time. Clients are spread over
// load-generator processes (each under the 20,000 open-files limit, each from its own loopback
// address). Run through bench/gateway-scale-bench.ts.
//
// The `floor` system swaps the peer for bench/interest-scale-floor-server.ts: a bare ws server with
// the same clients, moves, grid and fan-out tick and none of realmsync, to show what fan-out alone
// costs on this machine. Several rates run in turn over the same connections.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonLineChild } from './json-line-child.js'
import { machineNow } from './cluster-protocol.js'
import { LatencyHistogram } from './latency-histogram.js'
import { busyPercent, machineTimes, sleep } from './relay-harness.js'
import {
  INTEREST_SECRET,
  type InterestLoadAnswer,
  type InterestLoadCommand,
  type InterestLoadConfig,
  type InterestLoadReport,
  type InterestServerAnswer,
  type InterestServerCommand,
} from './interest-scale-protocol.js'

type ServerChild = JsonLineChild<InterestServerCommand, InterestServerAnswer>
type LoadChild = JsonLineChild<InterestLoadCommand, InterestLoadAnswer>
type ServerStats = Extract<InterestServerAnswer, { event: 'stats' }>

/** Servers of the interest workload: realmsync peers, or the bare ws floor (one process, no realmsync). */
export type InterestSystem = 'realmsync' | 'floor'

/** Settings of the interest workload. */
export interface InterestWorkloadOptions {
  /** Moves per second over all clients. Default 10,000. */
  readonly intentsPerSecond: number
  /** Rates measured in turn over the same connections; default `[intentsPerSecond]`. */
  readonly intentRates?: readonly number[]
  /** Clients whose area covers a move, on average (sets the world's size). Default 8. */
  readonly viewers: number
  /** Interest radius (world units). Default 20. */
  readonly radius: number
  /** The gateways' fan-out tick, ms. Default 16. */
  readonly intervalMs: number
  readonly seconds: number
  readonly perProcess: number
  /** Extra node arguments of the server processes (e.g. `--cpu-prof --cpu-prof-dir=...`). */
  readonly serverNodeArgs: readonly string[]
  readonly log: (line: string) => void
}

/** What one interest scenario measured. */
export interface InterestResult {
  readonly scenario: string
  readonly system: InterestSystem
  readonly peers: number
  readonly clients: number
  readonly loadProcesses: number
  readonly connected: number
  readonly connectSeconds: number
  readonly failures: readonly string[]
  readonly intentsPerSecond: number
  readonly worldSize: number
  readonly radius: number
  readonly intervalMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly ackP50Ms: number
  readonly ackP99Ms: number
  /** Moves sent in the window per second, and how many of them were answered. */
  readonly sentPerSecond: number
  readonly answered: number
  readonly deliveriesPerSecond: number
  readonly viewersPerMove: number
  readonly rssPerConnectionKiB: readonly number[]
  readonly heapPerConnectionKiB: readonly number[]
  readonly serverCpuPercent: readonly number[]
  readonly serverLoopPercent: readonly number[]
  /**
   * Server CPU per intent the engine accepted in the window, microseconds (per server: its own
   * intents). Robust on a shared machine, where latency is not: it is the cost of one move with
   * its fan-out, whatever else runs.
   */
  readonly serverCpuUsPerIntent: readonly number[]
  /** Server write and read system calls per accepted intent (Linux; 0 elsewhere): socket writes are most of a delivery's cost. */
  readonly serverWritesPerIntent: readonly number[]
  readonly serverReadsPerIntent: readonly number[]
  /** The user-mode part of `serverCpuUsPerIntent` (the rest is kernel time, mostly socket writes). */
  readonly serverUserUsPerIntent: readonly number[]
  readonly loadCpuPercent: readonly number[]
  /** Load generators' CPU in the measured window per delivery they received, microseconds (summed over processes): the clients' side of a delivery. */
  readonly loadCpuUsPerDelivery: number
  readonly machineBusyPercent: number
  readonly loadAverage: number
  readonly closed: number
  readonly rejects: number
}

const SERVER_SCRIPT = join(import.meta.dirname, 'interest-scale-server.ts')
const LOAD_SCRIPT = join(import.meta.dirname, 'interest-scale-load.ts')
const FLOOR_SCRIPT = join(import.meta.dirname, 'interest-scale-floor-server.ts')

const statsOf = async (child: ServerChild, gc = false): Promise<ServerStats> => {
  const stats = await child.ask({ cmd: 'stats', gc })
  if (stats.event !== 'stats') throw new Error(`${child.label}: ${JSON.stringify(stats)}`)
  return stats
}

/** Runs the interest workload with `clients` over `peers` peers (the floor is one process), once per rate. */
export const runInterestScenario = async (peers: 1 | 2, clients: number, options: InterestWorkloadOptions, system: InterestSystem = 'realmsync'): Promise<InterestResult[]> => {
  if (system === 'floor' && peers !== 1) throw new RangeError('the floor is one process: one peer only')
  const scenario = `${clients.toLocaleString('en-US')} clients, ${peers} peer${peers > 1 ? 's' : ''}, interest`
  const worldSize = Math.sqrt((clients * Math.PI * options.radius ** 2) / options.viewers)
  const servers: Array<{ child: ServerChild; port: number; dataDir: string }> = []
  const loads: LoadChild[] = []
  const loadAverage = (await import('node:os')).loadavg()[0] ?? 0
  try {
    for (let index = 0; index < peers; index++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'realmsync-interest-bench-'))
      const bootstrap = index === 0 ? [] : [((await servers[0]?.child.ready) as { peerUrl?: string }).peerUrl as string]
      // INTEREST_CELL_FACTOR: grid cell side in radii (default 2). At 10k clients and 2k intents/s, 1 cost
      // 358 us of peer CPU per intent against 375 us with 2 (one run each, idle machine): within the noise.
      const child: ServerChild = new JsonLineChild(`interest ${system} server ${index + 1}`, system === 'floor' ? FLOOR_SCRIPT : SERVER_SCRIPT, { host: '127.0.0.1', dataDir, intervalMs: options.intervalMs, cellSize: Number(process.env.INTEREST_CELL_FACTOR ?? 2) * options.radius, ...(index > 0 ? { peerBootstrap: bootstrap } : {}) }, [
        '--expose-gc',
        ...options.serverNodeArgs,
      ])
      const ready = await child.ready
      if (ready.event !== 'ready') throw new Error(`interest server ${index + 1}: ${JSON.stringify(ready)}`)
      servers.push({ child, port: ready.port, dataDir })
    }
    if (peers === 2) {
      const deadline = Date.now() + 15_000
      for (;;) {
        const answer = await (servers[1] as { child: ServerChild }).child.ask({ cmd: 'peers' })
        if (answer.event === 'peers' && answer.peers >= 1) break
        if (Date.now() > deadline) throw new Error('the two peers did not connect within 15 s')
        await sleep(100)
      }
    }
    const idle = await Promise.all(servers.map((server) => statsOf(server.child, true)))
    const loadProcesses = Math.max(1, Math.ceil(clients / options.perProcess))
    const perProcess = Math.ceil(clients / loadProcesses)
    const urls = servers.map((server) => `ws://127.0.0.1:${server.port}`)
    for (let index = 0; index < loadProcesses; index++) {
      const config: InterestLoadConfig = {
        index,
        first: index * perProcess,
        clients: Math.min(perProcess, clients - index * perProcess),
        urls,
        localAddress: `127.0.0.${2 + index}`,
        secret: INTEREST_SECRET,
        worldSize,
        radius: options.radius,
        connectConcurrency: 50,
      }
      loads.push(new JsonLineChild(`interest load ${index}`, LOAD_SCRIPT, config))
    }
    await Promise.all(loads.map((load) => load.ready))
    options.log(`gateway-scale: ${scenario} (${system}): connecting from ${loadProcesses} processes (world ${worldSize.toFixed(0)}x${worldSize.toFixed(0)}, radius ${options.radius})...`)
    const started = Date.now()
    const connects = await Promise.all(loads.map((load) => load.ask({ cmd: 'connect' })))
    let connected = 0
    const failures: string[] = []
    for (const answer of connects) {
      if (answer.event !== 'connected') throw new Error(JSON.stringify(answer))
      connected += answer.connected
      failures.push(...answer.failures)
    }
    const connectSeconds = (Date.now() - started) / 1000
    options.log(`gateway-scale: ${scenario} (${system}): ${connected}/${clients} connected and subscribed in ${connectSeconds.toFixed(1)} s${failures.length ? `; ${failures.slice(0, 2).join('; ')}` : ''}`)
    await sleep(1000)
    const loaded = await Promise.all(servers.map((server) => statsOf(server.child, true)))
    const results: InterestResult[] = []
    for (const rate of options.intentRates ?? [options.intentsPerSecond]) {
      const plan = { startAt: machineNow() + 500, warmupMs: 3000, measureMs: options.seconds * 1000, drainMs: 5000, intentsPerSecond: rate / loads.length }
      const reportsPromise = Promise.all(loads.map((load) => load.ask({ cmd: 'run', plan })))
      reportsPromise.catch(() => {})
      await sleep(plan.startAt + plan.warmupMs - machineNow())
      const machineStart = machineTimes()
      const before = await Promise.all(servers.map((server) => statsOf(server.child)))
      await sleep(plan.startAt + plan.warmupMs + plan.measureMs - machineNow())
      const after = await Promise.all(servers.map((server) => statsOf(server.child)))
      const machineEnd = machineTimes()
      const reports = (await reportsPromise) as InterestLoadReport[]
      const histogram = new LatencyHistogram()
      const acks = new LatencyHistogram()
      for (const report of reports) {
        histogram.merge(report.histogram)
        acks.merge(report.ackHistogram)
      }
      const seconds = plan.measureMs / 1000
      const sent = reports.reduce((sum, report) => sum + report.windowIntents, 0)
      const answered = reports.reduce((sum, report) => sum + report.windowAcks, 0)
      const deliveries = reports.reduce((sum, report) => sum + report.windowDeliveries, 0)
      const perIntent = (pick: (stats: ServerStats) => number) =>
        after.map((stats, index) => (pick(stats) - pick(before[index] as ServerStats)) / Math.max(1, stats.intents - (before[index] as ServerStats).intents))
      const perServer = (pick: (stats: ServerStats) => number) =>
        after.map((stats, index) => ((pick(stats) - pick(before[index] as ServerStats)) / Math.max(1, stats.uptimeMs - (before[index] as ServerStats).uptimeMs)) * 100)
      results.push({
        scenario,
        system,
        peers,
        clients,
        loadProcesses,
        connected,
        connectSeconds,
        failures,
        intentsPerSecond: rate,
        worldSize,
        radius: options.radius,
        intervalMs: options.intervalMs,
        p50Ms: histogram.percentile(50),
        p95Ms: histogram.percentile(95),
        p99Ms: histogram.percentile(99),
        maxMs: histogram.percentile(100),
        ackP50Ms: acks.percentile(50),
        ackP99Ms: acks.percentile(99),
        sentPerSecond: sent / seconds,
        answered: sent === 0 ? 0 : answered / sent,
        deliveriesPerSecond: deliveries / seconds,
        viewersPerMove: sent === 0 ? 0 : deliveries / sent,
        rssPerConnectionKiB: loaded.map((stats, index) => (stats.rssBytes - (idle[index] as ServerStats).rssBytes) / 1024 / Math.max(1, stats.connections)),
        heapPerConnectionKiB: loaded.map((stats, index) => (stats.heapUsedBytes - (idle[index] as ServerStats).heapUsedBytes) / 1024 / Math.max(1, stats.connections)),
        serverCpuPercent: perServer((stats) => stats.cpuMs),
        serverLoopPercent: perServer((stats) => stats.loopActiveMs),
        serverWritesPerIntent: perIntent((stats) => stats.writeCalls),
        serverReadsPerIntent: perIntent((stats) => stats.readCalls),
        serverUserUsPerIntent: perIntent((stats) => stats.userCpuMs * 1000),
        serverCpuUsPerIntent: after.map((stats, index) => ((stats.cpuMs - (before[index] as ServerStats).cpuMs) * 1000) / Math.max(1, stats.intents - (before[index] as ServerStats).intents)),
        loadCpuPercent: reports.map((report) => report.cpuPercent),
        loadCpuUsPerDelivery: (reports.reduce((sum, report) => sum + report.windowCpuMs, 0) * 1000) / Math.max(1, deliveries),
        machineBusyPercent: busyPercent(machineStart, machineEnd),
        loadAverage,
        closed: reports.reduce((sum, report) => sum + report.closed, 0),
        rejects: reports.reduce((sum, report) => sum + report.rejects, 0),
      })
    }
    return results
  } finally {
    await Promise.all(loads.map((load) => load.quit(15_000)))
    await Promise.all(servers.map((server) => server.child.quit(15_000)))
    for (const server of servers) rmSync(server.dataDir, { recursive: true, force: true })
  }
}
