// The relay benchmark of issue 4: one document, N reader clients and a few writer clients, the same
// load against realmsync's gateway, the y-websocket reference server (@y/websocket-server) and
// Hocuspocus in one run. Each server runs alone in its own process; its load generators (raw
// y-protocols clients, relay-client.ts) run in others. All three are up at once and every phase
// runs on each system in turn, so load from outside the benchmark falls on all of them alike.
// Measured per system:
// - fan-out latency at a moderate write rate, from a writer's send to each reader's receipt
//   (p50/p95/p99; `rounds` interleaved phases, the one with the median p99 reported), with the
//   server's CPU;
// - saturation: the write rate is stepped up until the system stops keeping up (something left
//   undelivered after the drain, a reader dropped, or p99 over a second); the best fan-out
//   throughput (deliveries/s) of a phase that kept up is what it sustains;
// - memory per connection: the server's heap and RSS after a collection, with and without the clients.
//
//   npx tsx bench/relay-bench.ts [readers=100] [latencyRate=100] [rampRates=100,200,...,25600] [seconds=3] [systems=all|<name,...>] [loadProcesses=1] [rounds=3] [bisectSteps=3]
//
// `systems` may also name `hocuspocus-unbatched`, `floor` (a bare ws forwarder without Yjs,
// relay-floor-server.ts: what the machine allows any relay) and `floor-corked` (the same, writing
// a turn's frames to a client in one socket write). The saturation ramp doubles, then
// bisects between the last rate that kept up and the first that did not (`bisectSteps`).
import { fileURLToPath } from 'node:url'
import { computeRatios, toMarkdownTable, type BenchRow } from './harness.js'
import {
  backgroundLoad,
  connectAll,
  keptUp,
  lostUpdates,
  runPhase,
  serverStats,
  shortfall,
  sleep,
  startLoadProcesses,
  startServerProcess,
  type ConnectResult,
  type LoadChild,
  type PhaseResult,
  type StartedServer,
} from './relay-harness.js'
import { FLAVOUR, RELAY_SECRET, type RelaySystem, type ServerStats } from './relay-protocol.js'

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
  /** Latency phases per system, interleaved between systems; the median p99 is reported. Default 3. */
  readonly rounds?: number
  /** Load-generator processes the readers are split over. Default 1. */
  readonly loadProcesses?: number
  /**
   * Phases per system after the ramp, each halving (in log scale) the gap between the highest rate
   * that kept up and the lowest above it that did not, so the ramp's doubling steps do not hide a
   * ratio between 1x and 2x. Default 3 (the break known within a factor of 2^(1/8), about 9%).
   */
  readonly bisectSteps?: number
  readonly log?: (line: string) => void
}

/** What one system did. */
export interface RelaySystemResult {
  readonly system: RelaySystem
  readonly readers: number
  readonly connect: ConnectResult
  /** The latency round with the median p99 (the p50 row takes the median p50 of the rounds). */
  readonly latency: PhaseResult
  /** Every latency round. */
  readonly latencyRounds: readonly PhaseResult[]
  readonly ramp: readonly PhaseResult[]
  /** Best deliveries/s of a ramp phase that kept up (0 when none did). */
  readonly sustainedDeliveriesPerSecond: number
  /** Writes/s of that phase. */
  readonly sustainedWritesPerSecond: number
  /** Server CPU per delivery in the busiest phase that lost nothing (however slow), µs, and that phase's write rate. */
  readonly cpuUsPerDelivery: number
  readonly cpuUsPerDeliveryAtRate: number
  /** Server RSS and heap growth per client connection (after a collection). */
  readonly rssPerConnectionKiB: number
  readonly heapPerConnectionKiB: number
  readonly idleRssMiB: number
  readonly backgroundBusyPercent: number
}

const SYSTEMS: readonly RelaySystem[] = ['realmsync', 'y-websocket-server', 'hocuspocus']
/** Every system the command line may name; `hocuspocus-unbatched` and `floor` are diagnostics, not anchors of the default run. */
const ALL_SYSTEMS: readonly RelaySystem[] = [...SYSTEMS, 'hocuspocus-unbatched', 'floor', 'floor-corked']
const LABELS: Record<RelaySystem, string> = {
  realmsync: 'realmsync gateway',
  'y-websocket-server': '@y/websocket-server',
  hocuspocus: 'Hocuspocus',
  'hocuspocus-unbatched': 'Hocuspocus flushDelay:false',
  floor: 'floor: bare ws forwarder, no Yjs',
  'floor-corked': 'floor corked: bare ws forwarder, no Yjs, one socket write per client per turn',
}

/** A system's server and load generators, connected. */
interface SystemUnderTest {
  readonly system: RelaySystem
  readonly server: StartedServer
  readonly loads: LoadChild[]
  readonly connect: ConnectResult
  readonly idle: ServerStats
  readonly loaded: ServerStats
}

type ResolvedOptions = Required<Omit<RelayBenchOptions, 'systems'>>

/** Starts a system's server and load generators and connects every client. */
const setUp = async (system: RelaySystem, options: ResolvedOptions, started: Array<() => Promise<void>>): Promise<SystemUnderTest> => {
  const maxRate = Math.max(options.latencyRate, ...options.rampRates)
  const server = await startServerProcess(`${system} server`, {
    system,
    host: '127.0.0.1',
    // Enough per-connection rate for the few writers to carry the ramp; readers send only their handshake.
    messagesPerSecond: Math.max(200, Math.ceil((2 * maxRate) / options.writers)),
  })
  started.push(() => server.stop())
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
  started.push(async () => {
    await Promise.all(loads.map((load) => load.quit()))
  })
  const connect = await connectAll(loads)
  options.log(`relay-bench: ${LABELS[system]}: ${connect.connected} readers connected in ${(connect.elapsedMs / 1000).toFixed(1)} s (${connect.failed} failed)`)
  if (connect.failed > 0) options.log(`relay-bench: ${LABELS[system]}: failures: ${connect.failures.join('; ')}`)
  const loaded = await serverStats(server.child, true)
  return { system, server, loads, connect, idle, loaded }
}

/**
 * The highest ramp rate that kept up and the lowest one above it that did not, while they are more
 * than 5% apart; undefined when the ramp never broke or broke at once.
 */
export const breakBracket = (ramp: readonly PhaseResult[]): { ok: number; failed: number } | undefined => {
  const ok = Math.max(...ramp.filter(keptUp).map((phase) => phase.rate))
  const failed = Math.min(...ramp.filter((phase) => !keptUp(phase) && phase.rate > ok).map((phase) => phase.rate))
  return Number.isFinite(ok) && Number.isFinite(failed) && failed / ok > 1.05 ? { ok, failed } : undefined
}

/** How long a server gets to work off a failed phase's backlog before the bisection gives up on it. */
const SETTLE_MS = 15_000

/**
 * Waits until a server's CPU is under 10% of a core over half a second (its backlog is out), for at
 * most SETTLE_MS of wall time; false if it never got there (a server that collapsed under a rate
 * can take minutes, and every phase after it would measure the backlog, not the rate).
 */
const settle = async (server: StartedServer): Promise<boolean> => {
  const deadline = Date.now() + SETTLE_MS
  while (Date.now() < deadline) {
    const before = await serverStats(server.child)
    await sleep(500)
    const after = await serverStats(server.child)
    if (after.cpuMs - before.cpuMs < 0.1 * (after.uptimeMs - before.uptimeMs)) return true
  }
  return false
}

const median = <T>(items: readonly T[], score: (item: T) => number): T => {
  const sorted = [...items].sort((a, b) => score(a) - score(b))
  return sorted[Math.floor((sorted.length - 1) / 2)] as T
}

/**
 * Runs every system, interleaved: all servers are up at once (idle ones cost nothing), and each
 * phase runs on one system after the other, so load from outside the benchmark on a shared machine
 * falls on all of them alike rather than on whichever ran during a busy minute.
 */
export const runRelaySystems = async (options: RelayBenchOptions = {}): Promise<RelaySystemResult[]> => {
  const resolved: ResolvedOptions = {
    readers: options.readers ?? 100,
    writers: options.writers ?? 4,
    latencyRate: options.latencyRate ?? 100,
    rampRates: options.rampRates ?? [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600],
    seconds: options.seconds ?? 3,
    rounds: options.rounds ?? 3,
    loadProcesses: options.loadProcesses ?? 1,
    bisectSteps: options.bisectSteps ?? 3,
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
  }
  const backgroundBusyPercent = await backgroundLoad()
  const started: Array<() => Promise<void>> = []
  try {
    const systems: SystemUnderTest[] = []
    for (const system of options.systems ?? SYSTEMS) systems.push(await setUp(system, resolved, started))
    // A phase that did not keep up can leave a backlog in the server that would spill into the next
    // one (the bisection runs lower rates after higher ones): a bisection phase waits for it to drain.
    const backlogged = new Set<SystemUnderTest>()
    const phase = async (sut: SystemUnderTest, rate: number, warmupMs: number, measureMs: number): Promise<PhaseResult> => {
      const result = await runPhase(sut.loads, [sut.server.child], { rate, warmupMs, measureMs, tickMs: 5 })
      if (keptUp(result)) backlogged.delete(sut)
      else backlogged.add(sut)
      return result
    }
    // Not reported: the code paths are compiled and optimised under load here, so the first measured
    // phase does not pay for it (it showed as a p99 of several hundred ms).
    for (const sut of systems) await phase(sut, resolved.latencyRate, 500, 1500)
    const rounds = new Map<RelaySystem, PhaseResult[]>(systems.map((sut) => [sut.system, []]))
    for (let round = 0; round < resolved.rounds; round++) {
      for (const sut of systems) {
        const result = await phase(sut, resolved.latencyRate, 1000, resolved.seconds * 1000)
        rounds.get(sut.system)?.push(result)
        resolved.log(
          `relay-bench: ${LABELS[sut.system]} at ${resolved.latencyRate}/s: p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, delivered ${(result.delivered * 100).toFixed(2)}%, server CPU ${result.serverCpuPercent[0]?.toFixed(0)}%, machine ${result.machineBusyPercent.toFixed(0)}% busy`,
        )
      }
    }
    const ramps = new Map<RelaySystem, PhaseResult[]>(systems.map((sut) => [sut.system, []]))
    // On a shared machine one phase can miss by bad luck: a system leaves the ramp after losing
    // updates or readers, or after two phases in a row that did not keep up.
    const going = new Set(systems)
    const misses = new Map<SystemUnderTest, number>()
    for (const rate of [...resolved.rampRates].sort((a, b) => a - b)) {
      for (const sut of systems) {
        if (!going.has(sut)) continue
        const result = await phase(sut, rate, 1000, resolved.seconds * 1000)
        ramps.get(sut.system)?.push(result)
        resolved.log(
          `relay-bench: ${LABELS[sut.system]} at ${rate}/s: ${Math.round(result.deliveriesPerSecond)} deliveries/s, p99 ${result.p99Ms.toFixed(1)} ms, delivered ${(result.delivered * 100).toFixed(2)}%, closed ${result.closedReaders}, server CPU ${result.serverCpuPercent[0]?.toFixed(0)}%, load CPU ${result.loadCpuPercent.map((value) => value.toFixed(0)).join('/')}%`,
        )
        misses.set(sut, keptUp(result) ? 0 : (misses.get(sut) ?? 0) + 1)
        if (lostUpdates(result) || (misses.get(sut) ?? 0) >= 2) going.delete(sut)
      }
    }
    const unsettled = new Set<SystemUnderTest>()
    for (let step = 0; step < resolved.bisectSteps; step++) {
      for (const sut of systems) {
        const ramp = ramps.get(sut.system) ?? []
        const bracket = breakBracket(ramp)
        if (bracket === undefined || unsettled.has(sut)) continue
        if (backlogged.has(sut) && !(await settle(sut.server))) {
          unsettled.add(sut)
          resolved.log(`relay-bench: ${LABELS[sut.system]} still busy ${SETTLE_MS / 1000} s after a phase it did not keep up with: no bisection (its phases would measure the backlog)`)
          continue
        }
        const rate = Math.round(Math.sqrt(bracket.ok * bracket.failed))
        const result = await phase(sut, rate, 1000, resolved.seconds * 1000)
        ramp.push(result)
        ramp.sort((a, b) => a.rate - b.rate)
        resolved.log(
          `relay-bench: ${LABELS[sut.system]} bisecting ${bracket.ok}..${bracket.failed} at ${rate}/s: ${keptUp(result) ? 'kept up' : (shortfall(result) ?? '')}, ${Math.round(result.deliveriesPerSecond)} deliveries/s, p99 ${result.p99Ms.toFixed(1)} ms, server CPU ${result.serverCpuPercent[0]?.toFixed(0)}%, load CPU ${result.loadCpuPercent.map((value) => value.toFixed(0)).join('/')}%`,
        )
      }
    }
    return systems.map((sut) => {
      const latencyRounds = rounds.get(sut.system) ?? []
      const ramp = ramps.get(sut.system) ?? []
      const best = ramp.filter(keptUp).sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond)[0]
      const busiestWhole = [...ramp, ...latencyRounds].filter((phase) => !lostUpdates(phase)).sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond)[0]
      const connections = sut.connect.connected + resolved.writers
      return {
        system: sut.system,
        readers: sut.connect.connected,
        connect: sut.connect,
        latency: median(latencyRounds, (result) => result.p99Ms),
        latencyRounds,
        ramp,
        sustainedDeliveriesPerSecond: best?.deliveriesPerSecond ?? 0,
        sustainedWritesPerSecond: best?.writesPerSecond ?? 0,
        cpuUsPerDelivery: busiestWhole?.serverCpuUsPerDelivery ?? Number.NaN,
        cpuUsPerDeliveryAtRate: busiestWhole?.rate ?? 0,
        rssPerConnectionKiB: (sut.loaded.rssBytes - sut.idle.rssBytes) / 1024 / Math.max(1, connections),
        heapPerConnectionKiB: (sut.loaded.heapUsedBytes - sut.idle.heapUsedBytes) / 1024 / Math.max(1, connections),
        idleRssMiB: sut.idle.rssBytes / 2 ** 20,
        backgroundBusyPercent,
      }
    })
  } finally {
    for (const stop of started.reverse()) await stop()
  }
}

const fixed = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')

/** The targets against the best anchor: p99 at most half of it, sustained throughput at least twice it. */
const targetOf = (metric: string, ours: number, anchor: number): Record<string, string> => {
  if (metric === 'p99') return { target: `<= 0.5x best anchor ${ours <= 0.5 * anchor ? 'met' : 'MISSED'}` }
  if (metric === 'sustained') return { target: `>= 2x best anchor ${ours >= 2 * anchor ? 'met' : 'MISSED'}` }
  return {}
}

/**
 * Table rows: p50/p99 latency, sustained throughput, server CPU and memory per connection, each
 * with the best of the two anchors as baseline (`lower is better` rows: a ratio under 1 is ours better).
 */
export const relayRows = (results: readonly RelaySystemResult[]): BenchRow[] => {
  const readers = Math.max(...results.map((result) => result.readers))
  const section = `relay: ${readers} readers on 1 document`
  // The anchors a user would pick instead; the unbatched Hocuspocus variant is compared, not an anchor.
  const anchors = results.filter((result) => result.system === 'y-websocket-server' || result.system === 'hocuspocus')
  const bestBy = (score: (result: RelaySystemResult) => number, lowerIsBetter: boolean): RelaySystemResult | undefined =>
    [...anchors].sort((a, b) => (lowerIsBetter ? score(a) - score(b) : score(b) - score(a)))[0]
  const metrics: Array<{ name: string; unit: string; value: (result: RelaySystemResult) => number; lower: boolean; extra: (result: RelaySystemResult) => Record<string, string | number> }> = [
    {
      name: 'p50',
      unit: `ms p50 fan-out at ${results[0]?.latency.rate ?? 0} writes/s (lower is better)`,
      value: (result) => median(result.latencyRounds, (round) => round.p50Ms).p50Ms,
      lower: true,
      extra: (result) => ({ p50Rounds: result.latencyRounds.map((round) => round.p50Ms.toFixed(1)).join('/'), p95Ms: result.latency.p95Ms, delivered: `${fixed(result.latency.delivered * 100)}%`, machineBusyPercent: result.latency.machineBusyPercent }),
    },
    {
      name: 'p99',
      unit: `ms p99 fan-out at ${results[0]?.latency.rate ?? 0} writes/s (lower is better)`,
      value: (result) => result.latency.p99Ms,
      lower: true,
      extra: (result) => ({ p99Rounds: result.latencyRounds.map((round) => round.p99Ms.toFixed(1)).join('/'), maxMs: result.latency.maxMs, serverCpuPercent: result.latency.serverCpuPercent[0] ?? 0, loadCpuPercent: result.latency.loadCpuPercent.map((value) => value.toFixed(0)).join('/') }),
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
          ramp: result.ramp.map((phase) => `${phase.rate}:${keptUp(phase) ? 'ok' : lostUpdates(phase) ? 'lost' : 'slow'}`).join(' '),
          ...(last && !keptUp(last)
            ? { brokeAt: `${last.rate} writes/s: ${shortfall(last) ?? ''}; server CPU ${fixed(last.serverCpuPercent[0] ?? 0, 0)}%, load CPU ${last.loadCpuPercent.map((value) => value.toFixed(0)).join('/')}%` }
            : { brokeAt: 'never (ramp ended)' }),
        }
      },
    },
    {
      name: 'CPU per delivery',
      unit: 'µs server CPU per update delivered, in the busiest phase that lost nothing (lower is better)',
      value: (result) => result.cpuUsPerDelivery,
      lower: true,
      extra: (result) => ({ atWritesPerSecond: result.cpuUsPerDeliveryAtRate, atLatencyRate: result.latency.serverCpuUsPerDelivery }),
    },
    {
      name: 'memory per connection',
      // Heap, not RSS: at a hundred connections the RSS difference is mostly the allocator's noise
      // (it even came out negative); gateway-scale-bench reads RSS over thousands.
      unit: 'KiB server heap per connection, after GC (lower is better)',
      value: (result) => result.heapPerConnectionKiB,
      lower: true,
      extra: (result) => ({ rssKiB: result.rssPerConnectionKiB, idleRssMiB: result.idleRssMiB, connectP99Ms: result.connect.p99Ms }),
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
        extra: { ...metric.extra(result), ...(result.system === 'realmsync' && best ? targetOf(metric.name, metric.value(result), metric.value(best)) : {}), backgroundBusyPercent: result.backgroundBusyPercent },
      })
    }
  }
  return rows
}

/** The relay benchmark as table rows (for bench/run.ts). */
export const runRelayBench = async (options: RelayBenchOptions = {}): Promise<BenchRow[]> => relayRows(await runRelaySystems(options))

/**
 * Options from the command-line words `[readers] [latencyRate] [rampRates] [seconds] [systems]
 * [loadProcesses] [rounds] [bisectSteps]`; bench/run.ts reads the same words from RELAY_BENCH_ARGS.
 */
export const relayOptionsFromArgs = (args: readonly string[]): RelayBenchOptions => {
  const [readers, latencyRate, rampRates, seconds, systems, loadProcesses, rounds, bisectSteps] = args
  const named = systems === undefined || systems === 'all' ? SYSTEMS : (systems.split(',') as RelaySystem[])
  const options: RelayBenchOptions = {
    ...(readers ? { readers: Number(readers) } : {}),
    ...(latencyRate ? { latencyRate: Number(latencyRate) } : {}),
    ...(rampRates ? { rampRates: rampRates.split(',').map(Number) } : {}),
    ...(seconds ? { seconds: Number(seconds) } : {}),
    ...(loadProcesses ? { loadProcesses: Number(loadProcesses) } : {}),
    ...(rounds ? { rounds: Number(rounds) } : {}),
    ...(bisectSteps ? { bisectSteps: Number(bisectSteps) } : {}),
    systems: named,
  }
  const numbers = [options.readers ?? 1, options.latencyRate ?? 1, options.seconds ?? 1, options.loadProcesses ?? 1, options.rounds ?? 1, (options.bisectSteps ?? 0) + 1, ...(options.rampRates ?? [])]
  if (!named.every((system) => ALL_SYSTEMS.includes(system)) || !numbers.every((value) => Number.isFinite(value) && value > 0)) {
    throw new RangeError(`usage: relay-bench [readers=100] [latencyRate=100] [rampRates=100,200,...,25600] [seconds=3] [systems=all|${ALL_SYSTEMS.join(',')}] [loadProcesses=1] [rounds=3] [bisectSteps=3]`)
  }
  return options
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = await runRelaySystems(relayOptionsFromArgs(process.argv.slice(2)))
  const rows = relayRows(results)
  computeRatios(rows)
  process.stdout.write(`${toMarkdownTable(rows)}\n\n${JSON.stringify(results, null, 2)}\n`)
}
