// The relay benchmark of issue 4: one document, N reader clients and a few writer clients, the same
// load against realmsync's gateway, the y-websocket reference server (@y/websocket-server) and
// Hocuspocus, one after the other in one run. Each server runs alone in its own process; the load
// generators (raw y-protocols clients, relay-client.ts) run in others. Measured per system:
// - fan-out latency at a moderate write rate, from a writer's send to each reader's receipt
//   (p50/p95/p99), with the server's CPU;
// - saturation: the write rate is stepped up until the system stops keeping up (something left
//   undelivered after the drain, a reader dropped, or p99 over a second); the best fan-out
//   throughput (deliveries/s) of a phase that kept up is what it sustains;
// - memory per connection: the server's RSS and heap after a collection, with and without the clients.
//
//   npx tsx bench/relay-bench.ts [readers=100] [latencyRate=100] [rampRates=100,200,400,800,1600,3200] [seconds=3] [systems=all|<name,...>] [loadProcesses=1]
import { fileURLToPath } from 'node:url'
import { computeRatios, toMarkdownTable, type BenchRow } from './harness.js'
import {
  backgroundLoad,
  connectAll,
  keptUp,
  runPhase,
  serverStats,
  startLoadProcesses,
  startServerProcess,
  type ConnectResult,
  type PhaseResult,
} from './relay-harness.js'
import { FLAVOUR, RELAY_SECRET, type RelaySystem } from './relay-protocol.js'

/** Settings of one relay benchmark run. */
export interface RelayBenchOptions {
  /** Reader connections on the document. Default 100. */
  readonly readers?: number
  /** Writer connections; the write rate is split over them. Default 4. */
  readonly writers?: number
  /** Writes/s of the latency phase. Default 100. */
  readonly latencyRate?: number
  /** Writes/s of the saturation ramp, tried from the lowest up until one does not keep up. */
  readonly rampRates?: readonly number[]
  /** Measured seconds per phase. Default 3. */
  readonly seconds?: number
  readonly systems?: readonly RelaySystem[]
  /** Load-generator processes the readers are split over. Default 1. */
  readonly loadProcesses?: number
  readonly log?: (line: string) => void
}

/** What one system did. */
export interface RelaySystemResult {
  readonly system: RelaySystem
  readonly readers: number
  readonly connect: ConnectResult
  readonly latency: PhaseResult
  readonly ramp: readonly PhaseResult[]
  /** Best deliveries/s of a ramp phase that kept up (0 when none did). */
  readonly sustainedDeliveriesPerSecond: number
  /** Writes/s of that phase. */
  readonly sustainedWritesPerSecond: number
  /** Server RSS and heap growth per client connection (after a collection). */
  readonly rssPerConnectionKiB: number
  readonly heapPerConnectionKiB: number
  readonly idleRssMiB: number
  readonly backgroundBusyPercent: number
}

const SYSTEMS: readonly RelaySystem[] = ['realmsync', 'y-websocket-server', 'hocuspocus']
const LABELS: Record<RelaySystem, string> = { realmsync: 'realmsync gateway', 'y-websocket-server': '@y/websocket-server', hocuspocus: 'Hocuspocus' }

const runSystem = async (system: RelaySystem, options: Required<Omit<RelayBenchOptions, 'systems'>>): Promise<RelaySystemResult> => {
  const backgroundBusyPercent = await backgroundLoad()
  const maxRate = Math.max(options.latencyRate, ...options.rampRates)
  const server = await startServerProcess(`${system} server`, {
    system,
    host: '127.0.0.1',
    // Enough per-connection rate for the few writers to carry the ramp; readers send only their handshake.
    messagesPerSecond: Math.max(200, Math.ceil((2 * maxRate) / options.writers)),
  })
  try {
    const idle = await serverStats(server.child, true)
    const perProcess = Math.ceil(options.readers / options.loadProcesses)
    const loads = await startLoadProcesses(
      Array.from({ length: options.loadProcesses }, (_, index) => ({
        flavour: FLAVOUR[system],
        index,
        readerUrls: [`ws://127.0.0.1:${server.port}`],
        writerUrl: `ws://127.0.0.1:${server.port}`,
        readers: Math.min(perProcess, options.readers - index * perProcess),
        writers: Math.max(1, Math.round(options.writers / options.loadProcesses)),
        ...(system === 'realmsync' ? { secret: RELAY_SECRET } : {}),
        connectConcurrency: 50,
      })),
    )
    try {
      const connect = await connectAll(loads)
      options.log(`relay-bench: ${LABELS[system]}: ${connect.connected} readers connected in ${(connect.elapsedMs / 1000).toFixed(1)} s (${connect.failed} failed)`)
      if (connect.failed > 0) options.log(`relay-bench: ${LABELS[system]}: failures: ${connect.failures.join('; ')}`)
      const loaded = await serverStats(server.child, true)
      const connections = connect.connected + options.writers
      // A first phase, not reported: the server's code paths are compiled and optimised under load
      // here, so the first measured phase does not pay for it (it showed as a p99 of several hundred ms).
      await runPhase(loads, [server.child], { rate: options.latencyRate, warmupMs: 500, measureMs: 1500, tickMs: 5 })
      const latency = await runPhase(loads, [server.child], { rate: options.latencyRate, warmupMs: 1000, measureMs: options.seconds * 1000, tickMs: 5 })
      options.log(`relay-bench: ${LABELS[system]} at ${options.latencyRate}/s: p50 ${latency.p50Ms.toFixed(2)} ms, p99 ${latency.p99Ms.toFixed(2)} ms, delivered ${(latency.delivered * 100).toFixed(2)}%, server CPU ${latency.serverCpuPercent[0]?.toFixed(0)}%`)
      const ramp: PhaseResult[] = []
      for (const rate of [...options.rampRates].sort((a, b) => a - b)) {
        const result = await runPhase(loads, [server.child], { rate, warmupMs: 1000, measureMs: options.seconds * 1000, tickMs: 5 })
        ramp.push(result)
        options.log(
          `relay-bench: ${LABELS[system]} at ${rate}/s: ${Math.round(result.deliveriesPerSecond)} deliveries/s, p99 ${result.p99Ms.toFixed(1)} ms, delivered ${(result.delivered * 100).toFixed(2)}%, closed ${result.closedReaders}, server CPU ${result.serverCpuPercent[0]?.toFixed(0)}%, load CPU ${result.loadCpuPercent.map((value) => value.toFixed(0)).join('/')}%`,
        )
        if (!keptUp(result)) break
      }
      const best = ramp.filter(keptUp).sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond)[0]
      return {
        system,
        readers: connect.connected,
        connect,
        latency,
        ramp,
        sustainedDeliveriesPerSecond: best?.deliveriesPerSecond ?? 0,
        sustainedWritesPerSecond: best?.writesPerSecond ?? 0,
        rssPerConnectionKiB: (loaded.rssBytes - idle.rssBytes) / 1024 / Math.max(1, connections),
        heapPerConnectionKiB: (loaded.heapUsedBytes - idle.heapUsedBytes) / 1024 / Math.max(1, connections),
        idleRssMiB: idle.rssBytes / 2 ** 20,
        backgroundBusyPercent,
      }
    } finally {
      await Promise.all(loads.map((load) => load.quit()))
    }
  } finally {
    await server.stop()
  }
}

/** Runs every system in turn. */
export const runRelaySystems = async (options: RelayBenchOptions = {}): Promise<RelaySystemResult[]> => {
  const resolved = {
    readers: options.readers ?? 100,
    writers: options.writers ?? 4,
    latencyRate: options.latencyRate ?? 100,
    rampRates: options.rampRates ?? [100, 200, 400, 800, 1600, 3200],
    seconds: options.seconds ?? 3,
    loadProcesses: options.loadProcesses ?? 1,
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
  }
  const results: RelaySystemResult[] = []
  for (const system of options.systems ?? SYSTEMS) results.push(await runSystem(system, resolved))
  return results
}

const fixed = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')

/**
 * Table rows: p50/p99 latency, sustained throughput, server CPU and memory per connection, each
 * with the best of the two anchors as baseline (`lower is better` rows: a ratio under 1 is ours better).
 */
export const relayRows = (results: readonly RelaySystemResult[]): BenchRow[] => {
  const readers = Math.max(...results.map((result) => result.readers))
  const section = `relay: ${readers} readers on 1 document`
  const anchors = results.filter((result) => result.system !== 'realmsync')
  const bestBy = (score: (result: RelaySystemResult) => number, lowerIsBetter: boolean): RelaySystemResult | undefined =>
    [...anchors].sort((a, b) => (lowerIsBetter ? score(a) - score(b) : score(b) - score(a)))[0]
  const metrics: Array<{ name: string; unit: string; value: (result: RelaySystemResult) => number; lower: boolean; extra: (result: RelaySystemResult) => Record<string, string | number> }> = [
    {
      name: 'p50',
      unit: `ms p50 fan-out at ${results[0]?.latency.rate ?? 0} writes/s (lower is better)`,
      value: (result) => result.latency.p50Ms,
      lower: true,
      extra: (result) => ({ p95Ms: result.latency.p95Ms, delivered: `${fixed(result.latency.delivered * 100)}%`, machineBusyPercent: result.latency.machineBusyPercent }),
    },
    {
      name: 'p99',
      unit: `ms p99 fan-out at ${results[0]?.latency.rate ?? 0} writes/s (lower is better)`,
      value: (result) => result.latency.p99Ms,
      lower: true,
      extra: (result) => ({ maxMs: result.latency.maxMs, serverCpuPercent: result.latency.serverCpuPercent[0] ?? 0, loadCpuPercent: result.latency.loadCpuPercent.map((value) => value.toFixed(0)).join('/') }),
    },
    {
      name: 'sustained',
      unit: 'deliveries/s sustained (higher is better)',
      value: (result) => result.sustainedDeliveriesPerSecond,
      lower: false,
      extra: (result) => {
        const last = result.ramp[result.ramp.length - 1]
        return {
          writesPerSecond: result.sustainedWritesPerSecond,
          ...(last && !keptUp(last)
            ? { brokeAt: `${last.rate} writes/s: p99 ${fixed(last.p99Ms, 0)} ms, delivered ${fixed(last.delivered * 100)}%, closed ${last.closedReaders}, server CPU ${fixed(last.serverCpuPercent[0] ?? 0, 0)}%, load CPU ${last.loadCpuPercent.map((value) => value.toFixed(0)).join('/')}%` }
            : { brokeAt: 'never (ramp ended)' }),
        }
      },
    },
    {
      name: 'CPU per 1k deliveries/s',
      unit: '% of one core per 1,000 deliveries/s at the highest kept-up rate (lower is better)',
      value: (result) => {
        const best = result.ramp.filter(keptUp).sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond)[0]
        return best ? ((best.serverCpuPercent[0] ?? 0) / best.deliveriesPerSecond) * 1000 : Number.NaN
      },
      lower: true,
      extra: () => ({}),
    },
    {
      name: 'memory per connection',
      unit: 'KiB server RSS per connection (lower is better)',
      value: (result) => result.rssPerConnectionKiB,
      lower: true,
      extra: (result) => ({ heapKiB: result.heapPerConnectionKiB, idleRssMiB: result.idleRssMiB, connectP99Ms: result.connect.p99Ms }),
    },
  ]
  const rows: BenchRow[] = []
  for (const metric of metrics) {
    const best = bestBy(metric.value, metric.lower)
    for (const result of results) {
      const isBest = best !== undefined && result.system === best.system
      rows.push({
        section,
        name: `${LABELS[result.system]}: ${metric.name}`,
        perSecond: metric.value(result),
        unit: metric.unit,
        // Ours and the weaker anchor are compared with the better anchor of this metric.
        ...(best && !isBest ? { baseline: `${LABELS[best.system]}: ${metric.name}` } : {}),
        extra: { ...metric.extra(result), backgroundBusyPercent: result.backgroundBusyPercent },
      })
    }
  }
  return rows
}

/** The relay benchmark as table rows (for bench/run.ts). */
export const runRelayBench = async (options: RelayBenchOptions = {}): Promise<BenchRow[]> => relayRows(await runRelaySystems(options))

/**
 * Options from the command-line words `[readers] [latencyRate] [rampRates] [seconds] [systems]
 * [loadProcesses]`; bench/run.ts reads the same words from RELAY_BENCH_ARGS.
 */
export const relayOptionsFromArgs = (args: readonly string[]): RelayBenchOptions => {
  const [readers, latencyRate, rampRates, seconds, systems, loadProcesses] = args
  const named = systems === undefined || systems === 'all' ? SYSTEMS : (systems.split(',') as RelaySystem[])
  const options: RelayBenchOptions = {
    ...(readers ? { readers: Number(readers) } : {}),
    ...(latencyRate ? { latencyRate: Number(latencyRate) } : {}),
    ...(rampRates ? { rampRates: rampRates.split(',').map(Number) } : {}),
    ...(seconds ? { seconds: Number(seconds) } : {}),
    ...(loadProcesses ? { loadProcesses: Number(loadProcesses) } : {}),
    systems: named,
  }
  const numbers = [options.readers ?? 1, options.latencyRate ?? 1, options.seconds ?? 1, options.loadProcesses ?? 1, ...(options.rampRates ?? [])]
  if (!named.every((system) => SYSTEMS.includes(system)) || !numbers.every((value) => Number.isFinite(value) && value > 0)) {
    throw new RangeError(`usage: relay-bench [readers=100] [latencyRate=100] [rampRates=100,200,400,800,1600,3200] [seconds=3] [systems=all|${SYSTEMS.join(',')}] [loadProcesses=1]`)
  }
  return options
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = await runRelaySystems(relayOptionsFromArgs(process.argv.slice(2)))
  const rows = relayRows(results)
  computeRatios(rows)
  process.stdout.write(`${toMarkdownTable(rows)}\n\n${JSON.stringify(results, null, 2)}\n`)
}
