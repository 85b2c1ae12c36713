// The gateway scale benchmark of issue 4: many concurrent clients on one document, served by one
// realmsync peer, then by two peers replicating it to each other (half the readers on each; the
// writers on the first, so readers of the second see each write after one peer-to-peer hop).
// Every process may hold at most 20,000 open files, sockets included: the client sockets are
// spread over several load-generator processes (at most `perProcess` each), each connecting from
// its own loopback address, and each peer holds one socket per client it serves.
// Measured: connect time (dial to synced, per client, while every load generator connects at
// once), server memory per client (RSS and heap after a collection), and fan-out latency at modest
// write rates, with server CPU. A slow phase is marked SLOW; one that loses updates or readers ends
// the scenario and is marked BROKE, with the reason.
//
// The interest workload (bench/interest-scale.ts) adds rows of its own: the same client counts
// sending moves as intents (10,000/s in total by default), each move seen only by the clients
// whose interest area covers it, timed from intent send to visible.
//
//   npx tsx bench/gateway-scale-bench.ts [clients=2000] [twoPeerClients=4000] [rates=0.5,2] [seconds=5] [perProcess=5000] [systems=realmsync|floor,...] [workloads=fanout,interest] [intentsPerSecond=10000|500,2000,...] [viewers=8]
//
// The issue's sizes: `npx tsx bench/gateway-scale-bench.ts 10000 20000`. A CPU profile of the
// interest servers: GATEWAY_SCALE_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". Their
// answers go out with the fan-out tick (the gateway's default); INTEREST_ANSWER_FLUSH=immediate sends
// them at once. The interest rows report server CPU, user CPU and system calls per accepted intent:
// on a shared machine they compare runs where latency cannot.
//
// `systems=floor` (or `realmsync,floor`) adds the interest workload's floor
// (bench/interest-scale-floor-server.ts): the same clients and moves served by a bare ws server
// with no realmsync in it, the same grid rules and fan-out tick, side by side with the realmsync
// peer; it is one process, so it runs on one peer only, and takes no part in the fan-out workload.
// `intentsPerSecond` may be a list (`500,2000`): each rate is measured in turn over the same
// connections, e.g. `npx tsx bench/gateway-scale-bench.ts 2000 0 2 10 5000 realmsync,floor interest 500,2000 8`.
import { fileURLToPath } from 'node:url'
import { computeRatios, toMarkdownTable, type BenchRow } from './harness.js'
import {
  backgroundLoad,
  connectAll,
  lostUpdates,
  mean,
  runPhase,
  serverStats,
  shortfall,
  sleep,
  startLoadProcesses,
  startServerProcess,
  type ConnectResult,
  type PhaseResult,
  type StartedServer,
} from './relay-harness.js'
import { FLAVOUR, RELAY_SECRET, type RelaySystem } from './relay-protocol.js'
import { runInterestScenario, type InterestResult, type InterestSystem } from './interest-scale.js'

/** Settings of one scale run. */
export interface GatewayScaleOptions {
  /** Clients on one peer; 0 skips that scenario. Default 2,000 (the issue's 10,000 by argument). */
  readonly clients?: number
  /** Clients across two peers; 0 skips that scenario. Default 4,000 (the issue's 20,000 by argument). */
  readonly twoPeerClients?: number
  /** Writes/s of the measured phases. Default [0.5, 2]. */
  readonly rates?: readonly number[]
  /** Measured seconds per phase. Default 5. */
  readonly seconds?: number
  /** Most client sockets per load-generator process. Default 5,000. */
  readonly perProcess?: number
  /**
   * Systems of the one-peer scenario (two peers is realmsync only). Default realmsync. `floor` is
   * the interest workload's bare ws server; the relay systems run the fan-out workload only.
   */
  readonly systems?: ReadonlyArray<RelaySystem | 'floor'>
  /** Workloads: `fanout` (writes to every client of one document) and `interest` (moves as intents, interest-filtered). Default both. */
  readonly workloads?: ReadonlyArray<'fanout' | 'interest'>
  /** Interest workload: moves per second in total. Default 10,000. */
  readonly intentsPerSecond?: number
  /** Interest workload: several rates measured in turn over the same connections (overrides `intentsPerSecond`). */
  readonly intentRates?: readonly number[]
  /** Interest workload: clients that see a move, on average. Default 8. */
  readonly viewers?: number
  readonly log?: (line: string) => void
}

/** What one scenario did. */
export interface ScaleResult {
  readonly scenario: string
  readonly system: RelaySystem
  readonly peers: number
  readonly clients: number
  readonly loadProcesses: number
  readonly connect: ConnectResult
  /** Per server: RSS and heap growth per client it holds, after a collection. */
  readonly rssPerClientKiB: readonly number[]
  readonly heapPerClientKiB: readonly number[]
  readonly rssMiB: readonly number[]
  readonly phases: readonly PhaseResult[]
  readonly backgroundBusyPercent: number
}

const runScenario = async (
  system: RelaySystem,
  peers: 1 | 2,
  clients: number,
  options: Required<Pick<GatewayScaleOptions, 'rates' | 'seconds' | 'perProcess' | 'log'>>,
): Promise<ScaleResult> => {
  const scenario = peers === 1 ? `${clients.toLocaleString('en-US')} clients, 1 peer` : `${clients.toLocaleString('en-US')} clients, 2 peers`
  const backgroundBusyPercent = await backgroundLoad()
  const servers: StartedServer[] = []
  try {
    // Each load generator has one writer; the gateway's per-connection rate limit must let it write at its share.
    const messagesPerSecond = Math.max(200, 2 * Math.max(...options.rates))
    const first = await startServerProcess(`${system} server 1`, { system, host: '127.0.0.1', messagesPerSecond })
    servers.push(first)
    if (peers === 2) {
      if (!first.peerUrl) throw new Error('the first peer reported no peer address')
      servers.push(await startServerProcess(`${system} server 2`, { system, host: '127.0.0.1', messagesPerSecond, peerBootstrap: [first.peerUrl] }))
      const second = servers[1] as StartedServer
      const deadline = Date.now() + 15_000
      for (;;) {
        const answer = await second.child.ask({ cmd: 'peers' })
        if (answer.event === 'peers' && answer.peers >= 1) break
        if (Date.now() > deadline) throw new Error('the two peers did not connect within 15 s')
        await sleep(100)
      }
    }
    const idle = await Promise.all(servers.map((server) => serverStats(server.child, true)))
    const loadProcesses = Math.max(1, Math.ceil(clients / options.perProcess))
    const perProcess = Math.ceil(clients / loadProcesses)
    const urls = servers.map((server) => `ws://127.0.0.1:${server.port}`)
    const loads = await startLoadProcesses(
      Array.from({ length: loadProcesses }, (_, index) => ({
        flavour: FLAVOUR[system],
        index,
        readerUrls: urls,
        writerUrl: urls[0] as string,
        readers: Math.min(perProcess, clients - index * perProcess),
        writers: 1,
        // Its own loopback source address per process, so ephemeral ports never run short.
        localAddress: `127.0.0.${2 + index}`,
        ...(system === 'realmsync' ? { secret: RELAY_SECRET } : {}),
        connectConcurrency: 100,
      })),
    )
    try {
      options.log(`gateway-scale: ${scenario} (${system}): connecting from ${loadProcesses} processes...`)
      const connect = await connectAll(loads)
      options.log(
        `gateway-scale: ${scenario} (${system}): ${connect.connected} connected in ${(connect.elapsedMs / 1000).toFixed(1)} s, p50 ${connect.p50Ms.toFixed(0)} ms, p99 ${connect.p99Ms.toFixed(0)} ms, ${connect.failed} failed${connect.failed > 0 ? `: ${connect.failures.join('; ')}` : ''}`,
      )
      const loaded = await Promise.all(servers.map((server) => serverStats(server.child, true)))
      // Not reported: compiles and optimises the fan-out path before the first measured phase.
      await runPhase(loads, servers.map((server) => server.child), { rate: Math.min(...options.rates), warmupMs: 500, measureMs: 2000, tickMs: 5 })
      const phases: PhaseResult[] = []
      for (const rate of options.rates) {
        const result = await runPhase(
          loads,
          servers.map((server) => server.child),
          { rate, warmupMs: 1500, measureMs: options.seconds * 1000, tickMs: 5 },
        )
        phases.push(result)
        options.log(
          `gateway-scale: ${scenario} (${system}) at ${rate} writes/s: p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, delivered ${(result.delivered * 100).toFixed(2)}%, ${Math.round(result.deliveriesPerSecond)} deliveries/s, closed ${result.closedReaders}, server CPU ${result.serverCpuPercent.map((value) => value.toFixed(0)).join('/')}%`,
        )
        // Latency is what this measures, so a slow phase does not end the run; losing updates or readers does.
        if (lostUpdates(result)) break
      }
      return {
        scenario,
        system,
        peers,
        clients,
        loadProcesses,
        connect,
        rssPerClientKiB: loaded.map((stats, index) => (stats.rssBytes - (idle[index]?.rssBytes ?? 0)) / 1024 / Math.max(1, stats.connections)),
        heapPerClientKiB: loaded.map((stats, index) => (stats.heapUsedBytes - (idle[index]?.heapUsedBytes ?? 0)) / 1024 / Math.max(1, stats.connections)),
        rssMiB: loaded.map((stats) => stats.rssBytes / 2 ** 20),
        phases,
        backgroundBusyPercent,
      }
    } finally {
      await Promise.all(loads.map((load) => load.quit(15_000)))
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
  }
}

/** Runs the one-peer scenario for each system, then the two-peer one. */
export const runGatewayScale = async (options: GatewayScaleOptions = {}): Promise<ScaleResult[]> => {
  if (!(options.workloads ?? ['fanout']).includes('fanout')) return []
  const resolved = {
    rates: options.rates ?? [0.5, 2],
    seconds: options.seconds ?? 5,
    perProcess: options.perProcess ?? 5000,
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
  }
  const clients = options.clients ?? 2000
  const twoPeerClients = options.twoPeerClients ?? 4000
  const results: ScaleResult[] = []
  const systems = (options.systems ?? ['realmsync']).filter((system): system is RelaySystem => system !== 'floor')
  if (clients > 0) for (const system of systems) results.push(await runScenario(system, 1, clients, resolved))
  if (twoPeerClients > 0) results.push(await runScenario('realmsync', 2, twoPeerClients, resolved))
  return results
}

/** Runs the interest workload on one peer, then on two. */
export const runInterestScale = async (options: GatewayScaleOptions = {}): Promise<InterestResult[]> => {
  if (!(options.workloads ?? ['interest']).includes('interest')) return []
  const settings = {
    intentsPerSecond: options.intentsPerSecond ?? 10_000,
    ...(options.intentRates ? { intentRates: options.intentRates } : {}),
    viewers: options.viewers ?? 8,
    radius: 20,
    intervalMs: 16,
    seconds: options.seconds ?? 5,
    perProcess: Math.min(options.perProcess ?? 5000, 2500),
    serverNodeArgs: (process.env.GATEWAY_SCALE_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
  }
  const results: InterestResult[] = []
  const clients = options.clients ?? 2000
  const twoPeerClients = options.twoPeerClients ?? 4000
  // The relay systems have no intents: the interest workload runs realmsync for them, as it always did.
  const chosen = (options.systems ?? ['realmsync']).filter((system): system is InterestSystem => system === 'realmsync' || system === 'floor')
  const systems: InterestSystem[] = chosen.length > 0 ? chosen : ['realmsync']
  const runs: Array<[1 | 2, number, InterestSystem]> = [
    ...systems.map((system): [1, number, InterestSystem] => [1, clients, system]),
    ...(systems.includes('realmsync') ? [[2, twoPeerClients, 'realmsync'] as [2, number, InterestSystem]] : []),
  ]
  for (const [peers, count, system] of runs) {
    if (count <= 0) continue
    for (const result of await runInterestScenario(peers, count, settings, system)) {
      settings.log(
        `gateway-scale: ${result.scenario} (${system}): ${Math.round(result.sentPerSecond)} intents/s, intent-to-visible p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ${result.viewersPerMove.toFixed(1)} viewers/move, load CPU ${result.loadCpuUsPerDelivery.toFixed(0)} us per delivery, server CPU ${list(result.serverCpuPercent)}% (${list(result.serverCpuUsPerIntent)} us of which ${list(result.serverUserUsPerIntent)} us user, ${list(result.serverWritesPerIntent, 1)} writes, ${list(result.serverReadsPerIntent, 1)} reads per intent), ${list(result.rssPerConnectionKiB, 1)} KiB RSS/connection, load average ${result.loadAverage.toFixed(1)}`,
      )
      results.push(result)
    }
  }
  return results
}

/** Table rows of the interest workload: intent-to-visible latency and memory per connection. */
export const interestScaleRows = (results: readonly InterestResult[]): BenchRow[] =>
  results.flatMap((result, index) => {
    // Memory is per connection, not per rate: one row per system and scenario (its first rate's run).
    const firstOfSystem = results.findIndex((other) => other.system === result.system && other.scenario === result.scenario) === index
    const section = `gateway-scale: ${result.scenario}`
    const common = { loadProcesses: result.loadProcesses, loadAverage: result.loadAverage }
    const rssKiB = mean(result.rssPerConnectionKiB)
    const label = interestLabel(result.system)
    const floorRow = `${interestLabel('floor')}: intent-to-visible p99 at ${result.intentsPerSecond} intents/s`
    const floorRan = result.system === 'realmsync' && results.some((other) => other.system === 'floor' && other.scenario === result.scenario && other.intentsPerSecond === result.intentsPerSecond)
    return [
      {
        section,
        name: `${label}: intent-to-visible p99 at ${result.intentsPerSecond} intents/s`,
        perSecond: result.p99Ms,
        unit: 'ms p99 intent send to seen by every client whose interest covers it (lower is better)',
        ...(floorRan ? { baseline: floorRow } : {}),
        extra: {
          p50Ms: result.p50Ms,
          p95Ms: result.p95Ms,
          maxMs: result.maxMs,
          ackP50Ms: result.ackP50Ms,
          ackP99Ms: result.ackP99Ms,
          sentPerSecond: result.sentPerSecond,
          answered: `${(result.answered * 100).toFixed(2)}%`,
          viewersPerMove: result.viewersPerMove,
          deliveriesPerSecond: result.deliveriesPerSecond,
          connected: `${result.connected}/${result.clients}`,
          world: `${result.worldSize.toFixed(0)}x${result.worldSize.toFixed(0)}, radius ${result.radius}, fan-out tick ${result.intervalMs} ms`,
          serverCpuPercent: list(result.serverCpuPercent),
          serverLoopPercent: list(result.serverLoopPercent),
          serverCpuUsPerIntent: list(result.serverCpuUsPerIntent),
          serverUserUsPerIntent: list(result.serverUserUsPerIntent),
          serverWritesPerIntent: list(result.serverWritesPerIntent, 1),
          serverReadsPerIntent: list(result.serverReadsPerIntent, 1),
          // Derived, not measured: intents/s one server would take at 100% of one core, at this run's CPU per intent.
          oneCoreIntentsPerSecond: list(result.serverCpuUsPerIntent.map((us) => (us > 0 ? 1e6 / us : 0))),
          loadCpuPercent: list(result.loadCpuPercent),
          loadCpuUsPerDelivery: result.loadCpuUsPerDelivery,
          machineBusyPercent: result.machineBusyPercent,
          target: `p99 < 50 ms ${result.p99Ms < 50 ? 'met' : 'MISSED'}`,
          ...(result.closed > 0 || result.rejects > 0 ? { closed: result.closed, rejects: result.rejects } : {}),
          ...common,
        },
      },
      ...(firstOfSystem ? [{
        section,
        name: `${label}: memory per connection (interest)`,
        perSecond: rssKiB,
        unit: 'KiB server RSS per connection (lower is better)',
        extra: {
          perServer: list(result.rssPerConnectionKiB, 1),
          heapKiB: list(result.heapPerConnectionKiB, 1),
          connectSeconds: result.connectSeconds,
          target: `<= 32 KB per connection ${rssKiB * 1024 <= 32_000 ? 'met' : 'MISSED'}`,
          ...common,
        },
      }] : []),
    ]
  })

/** Row label of an interest system. */
const interestLabel = (system: InterestSystem): string => (system === 'floor' ? 'floor: bare ws fan-out, no realmsync' : 'realmsync gateway')

const list = (values: readonly number[], digits = 0): string => values.map((value) => value.toFixed(digits)).join('/')

/** Table rows per scenario: connect time, memory per client, and p50/p99 per write rate. */
export const gatewayScaleRows = (results: readonly ScaleResult[]): BenchRow[] => {
  const rows: BenchRow[] = []
  for (const result of results) {
    const section = `gateway-scale: ${result.scenario}`
    const label = result.system === 'realmsync' ? 'realmsync gateway' : result.system
    const common = { loadProcesses: result.loadProcesses, backgroundBusyPercent: result.backgroundBusyPercent }
    rows.push({
      section,
      name: `${label}: connect`,
      perSecond: result.connect.connected / (result.connect.elapsedMs / 1000),
      unit: 'connections/s while all connect at once',
      extra: {
        connected: `${result.connect.connected}/${result.clients}`,
        connectP50Ms: result.connect.p50Ms,
        connectP99Ms: result.connect.p99Ms,
        elapsedS: result.connect.elapsedMs / 1000,
        ...(result.connect.failed > 0 ? { failed: result.connect.failed, failures: result.connect.failures.join('; ').slice(0, 200) } : {}),
        ...common,
      },
    })
    rows.push({
      section,
      name: `${label}: memory per client`,
      perSecond: mean(result.rssPerClientKiB),
      unit: 'KiB server RSS per client (lower is better)',
      extra: {
        perServer: list(result.rssPerClientKiB, 1),
        heapKiB: list(result.heapPerClientKiB, 1),
        serverRssMiB: list(result.rssMiB),
        target: `<= 32 KB per connection ${mean(result.rssPerClientKiB) * 1024 <= 32_000 ? 'met' : 'MISSED'}`,
      },
    })
    for (const phase of result.phases) {
      const broke = shortfall(phase)
      rows.push({
        section,
        name: `${label}: p99 at ${phase.rate} writes/s`,
        perSecond: phase.p99Ms,
        unit: 'ms p99 fan-out (lower is better)',
        extra: {
          p50Ms: phase.p50Ms,
          // With two peers: readers of the writers' peer, then readers one peer-to-peer hop away.
          ...(result.peers > 1 ? { p50ByPeerMs: list(phase.p50ByServerMs, 1), p99ByPeerMs: list(phase.p99ByServerMs, 1) } : {}),
          p95Ms: phase.p95Ms,
          maxMs: phase.maxMs,
          delivered: `${(phase.delivered * 100).toFixed(2)}%`,
          deliveriesPerSecond: phase.deliveriesPerSecond,
          serverCpuPercent: list(phase.serverCpuPercent),
          // CPU the serving peers spend per delivery, and on one write to every client: the fan-out's cost
          // apart from the waiting that other load on a shared machine adds to latency.
          serverCpuUsPerDelivery: phase.serverCpuUsPerDelivery,
          oneWriteToAllCpuMs: (phase.serverCpuUsPerDelivery * result.clients) / 1000,
          serverLoopPercent: list(phase.serverLoopPercent),
          loadCpuPercent: list(phase.loadCpuPercent),
          machineBusyPercent: phase.machineBusyPercent,
          target: `p99 < 50 ms ${phase.p99Ms < 50 ? 'met' : 'MISSED'}`,
          ...(broke ? { [lostUpdates(phase) ? 'BROKE' : 'SLOW']: broke } : {}),
        },
      })
    }
  }
  return rows
}

/** The scale benchmark as table rows (for bench/run.ts). */
export const runGatewayScaleBench = async (options: GatewayScaleOptions = {}): Promise<BenchRow[]> => [
  ...gatewayScaleRows(await runGatewayScale(options)),
  ...interestScaleRows(await runInterestScale(options)),
]

/**
 * Options from the command-line words `[clients] [twoPeerClients] [rates] [seconds] [perProcess]
 * [systems]`; bench/run.ts reads the same words from GATEWAY_SCALE_ARGS.
 */
export const gatewayScaleOptionsFromArgs = (args: readonly string[]): GatewayScaleOptions => {
  const [clients, twoPeerClients, rates, seconds, perProcess, systems, workloads, intentsPerSecond, viewers] = args
  const options: GatewayScaleOptions = {
    ...(clients ? { clients: Number(clients) } : {}),
    ...(twoPeerClients ? { twoPeerClients: Number(twoPeerClients) } : {}),
    ...(rates ? { rates: rates.split(',').map(Number) } : {}),
    ...(seconds ? { seconds: Number(seconds) } : {}),
    ...(perProcess ? { perProcess: Number(perProcess) } : {}),
    ...(systems ? { systems: systems.split(',') as RelaySystem[] } : {}),
    ...(workloads ? { workloads: workloads.split(',') as Array<'fanout' | 'interest'> } : {}),
    ...(intentsPerSecond ? { intentsPerSecond: Number(intentsPerSecond.split(',')[0]) } : {}),
    ...(intentsPerSecond?.includes(',') ? { intentRates: intentsPerSecond.split(',').map(Number) } : {}),
    ...(viewers ? { viewers: Number(viewers) } : {}),
  }
  const numbers = [options.clients ?? 0, options.twoPeerClients ?? 0, options.seconds ?? 1, options.perProcess ?? 1, options.intentsPerSecond ?? 1, options.viewers ?? 1, ...(options.rates ?? []), ...(options.intentRates ?? [])]
  if (!numbers.every((value) => Number.isFinite(value) && value >= 0)) {
    throw new RangeError('usage: gateway-scale-bench [clients=2000] [twoPeerClients=4000] [rates=0.5,2] [seconds=5] [perProcess=5000] [systems=realmsync|floor,...] [workloads=fanout,interest] [intentsPerSecond=10000|500,2000,...] [viewers=8]')
  }
  return options
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now()
  const options = gatewayScaleOptionsFromArgs(process.argv.slice(2))
  const results = await runGatewayScale(options)
  const interest = await runInterestScale(options)
  const rows = [...gatewayScaleRows(results), ...interestScaleRows(interest)]
  computeRatios(rows)
  process.stdout.write(`${toMarkdownTable(rows)}\n\n${JSON.stringify([...results, ...interest], null, 2)}\n`)
  process.stderr.write(`gateway-scale: done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
}
