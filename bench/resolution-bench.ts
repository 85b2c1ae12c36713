// Resolution latency in a real cluster: three realmsync processes on loopback (libp2p, as `realmsync
// serve` runs them), each with a ResolverGate. Every round two players on two different processes
// claim the same item at the same wall-clock moment; the bench measures claim -> answer at the
// claimant, and claim -> the winner visible as holder on every process, and checks one winner each.
//
// Systems: `realmsync` (libp2p, as above), `realmsync-ws` (the same over the WebSocket peer
// transport) and `floor`: a bare ws mesh between the same three processes passing the same messages
// on the same schedule (claim to the owner, the window, answer to the claimants, outcome to every
// process) with no realmsync code, measured the same way: the least this pattern costs here.
//
// usage: npx tsx bench/resolution-bench.ts [rounds=200] [windowMs=2|auto] [systems=realmsync,floor]
//   (RESOLUTION_SYSTEMS=... works as the third argument; with `auto` the default is realmsync alone)
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { toMarkdownTable, type BenchRow } from './harness.js'
import { rendezvousOwner } from '../resolvers/index.js'
import { monotonicNow, type ResolutionAnswer, type ResolutionCommand, type ResolutionSystem, type ResolutionWorkerConfig } from './resolution-protocol.js'
import { freePort } from './free-port.js'
import { JsonLineChild } from './json-line-child.js'

const WORKER = join(import.meta.dirname, 'resolution-worker.ts')
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Settings of a resolution benchmark run. */
export interface ResolutionBenchOptions {
  /** Contested items, one per round. Default 200. */
  readonly rounds?: number
  /** Gap between rounds, ms. Default 25. */
  readonly gapMs?: number
  /** The owners' settlement window, ms, or `auto` (sized from measured round trips). Default 2. */
  readonly windowMs?: number | 'auto'
  /** Wait after the processes connect before the first round, ms. Default 1,500; 20,000 with an `auto` window. */
  readonly warmupMs?: number
  /** What runs in the three processes (`runResolutionPhases`). Default `realmsync`. */
  readonly system?: ResolutionSystem
  /** Systems `runResolutionBench` adds after realmsync's fixed and auto windows, each with the fixed 2 ms window. Default `floor`, `realmsync-ws`. */
  readonly systems?: readonly ResolutionSystem[]
}

/** The systems' row labels. */
const SYSTEM_LABELS: Record<ResolutionSystem, string> = {
  realmsync: 'realmsync (libp2p)',
  'realmsync-ws': 'realmsync over the ws peer transport',
  floor: 'floor: bare ws mesh, same messages, no realmsync',
}

const SYSTEMS = Object.keys(SYSTEM_LABELS) as ResolutionSystem[]

/** What one run measured. */
export interface ResolutionBenchResult {
  readonly system: ResolutionSystem
  /** The settlement window the owners used. */
  readonly windowMs: number | 'auto'
  readonly rounds: number
  readonly claims: number
  /** Rounds whose item's owner was one of its two claimants (otherwise the third process). */
  readonly ownerIsClaimant: number
  /** Rounds whose two claims were submitted more than 1 ms apart (a loaded machine starting them late): not the same-moment race. */
  readonly skewedRounds: number
  readonly answerMs: Percentiles
  readonly visibleEverywhereMs: Percentiles
  /** Claim -> the winner first visible anywhere (on the owner, as it writes the outcome): the settling part. */
  readonly firstVisibleMs: Percentiles
  /** First visible -> visible everywhere: the replication part. */
  readonly spreadMs: Percentiles
  /** Rounds slower than the p95 of claim -> visible everywhere, and how many overlapped a GC pause in any process. */
  readonly slowRounds: number
  readonly slowRoundsWithGc: number
  /** All rounds that overlapped a GC pause in any process (the base rate for the slow ones). */
  readonly roundsWithGc: number
  /** Longest GC pause and longest event-loop delay, over the processes, ms. */
  readonly gcPauseMaxMs: number
  readonly loopDelayMaxMs: number
  /**
   * How far apart the processes' per-process wall clocks (`performance.timeOrigin + now`) were, ms:
   * what a cross-process figure timed by them would have been off by. The bench times everything by
   * the machine's monotonic clock instead.
   */
  readonly wallClockSkewMs: number
  /** CPU time the three processes used per round, from the first claim until everything settled, ms (2 vCPUs give 50 ms per 25 ms round). */
  readonly cpuMsPerRound: number
  /** Items granted to more than one claimant, or seen with different holders on different processes. Must be 0. */
  readonly doubleHolds: number
  /** Items that had no winner visible on every process by the end. */
  readonly unresolved: number
  /** The gates' settlement counters summed over the processes (resends show a slow or lossy path). */
  readonly settlement: Readonly<Record<string, number>>
  /** Load average of the machine over the last minute when the run ended (other work skews every figure). */
  readonly loadAverage: number
}

interface Percentiles {
  readonly p50: number
  readonly p99: number
  readonly max: number
}

const percentiles = (values: number[]): Percentiles => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0) * 1000) / 1000
  return { p50: at(0.5), p99: at(0.99), max: at(1) }
}


/** A worker process answering one JSON line per command, in order. */
const startWorker = (config: ResolutionWorkerConfig): JsonLineChild<ResolutionCommand, ResolutionAnswer> =>
  // RESOLUTION_NODE_ARGS="--max-semi-space-size=64" tries V8 settings on the workers (for example against GC pauses).
  new JsonLineChild(`resolution worker ${config.index}`, WORKER, config, (process.env.RESOLUTION_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== ''))

/** Runs the three-process resolution benchmark once. */
export const runResolutionPhases = async (options: ResolutionBenchOptions = {}): Promise<ResolutionBenchResult> => {
  const rounds = options.rounds ?? 200
  const gapMs = options.gapMs ?? 25
  const ports = await Promise.all([0, 1, 2].map(() => freePort()))
  const addresses = ports.map((port) => `/ip4/127.0.0.1/tcp/${port}`)
  const dirs = addresses.map(() => mkdtempSync(join(tmpdir(), 'realmsync-resolution-bench-')))
  const system = options.system ?? 'realmsync'
  if (system === 'floor' && options.windowMs === 'auto') throw new RangeError('the floor takes a fixed settlement window')
  const workers = addresses.map((listen, index) => startWorker({ index, listen, bootstrap: addresses, dataDir: dirs[index]!, secret: 'resolution-bench', items: rounds, system }))
  try {
    const ready = await Promise.all(workers.map((worker) => worker.ready))
    const members = ready.map((answer) => {
      if (answer.event !== 'ready') throw new Error(`resolution worker did not start: ${JSON.stringify(answer)}`)
      return answer.id
    })
    await Promise.all(workers.map((worker) => worker.ask({ cmd: 'setup', members, windowMs: options.windowMs ?? 2 })))
    const deadline = Date.now() + 20_000
    for (;;) {
      const peers = await Promise.all(workers.map((worker) => worker.ask({ cmd: 'peers' })))
      if (peers.every((answer) => answer.event === 'peers' && answer.peers === 2)) break
      if (Date.now() > deadline) throw new Error('the three processes did not connect within 20 s')
      await sleep(100)
    }
    // Let connection set-up and JIT warm-up pass before the first round. An auto window follows the
    // routers' smoothed round trips (RFC 6298 EWMA, one probe a second), which start-up inflates to
    // 6-26 ms on loopback: they need about 20 s to settle near the 2 ms a steady link shows.
    await sleep(options.warmupMs ?? (options.windowMs === 'auto' ? 20_000 : 1500))
    const start = monotonicNow() + 200
    let ownerIsClaimant = 0
    // Every claim is scheduled before the first is due, all asks in flight at once: asked one after
    // the other, a loaded machine's slow answers made later rounds start late and their two claims
    // tens of ms apart (`skewedRounds` counts rounds whose claims left more than 1 ms apart).
    const scheduled: Array<Promise<ResolutionAnswer>> = []
    for (let round = 0; round < rounds; round++) {
      const a = round % 3
      const b = (round + 1) % 3
      const at = start + round * gapMs
      const item = `item-${round}`
      // The gates' ownership function: the floor routes by it, so both see the same share of rounds owned by a claimant.
      const owner = members.indexOf(rendezvousOwner(item, { epoch: 1, members }))
      if (owner === a || owner === b) ownerIsClaimant++
      scheduled.push(workers[a]!.ask({ cmd: 'claim', item, player: `player-${round}-a`, at, owner }))
      scheduled.push(workers[b]!.ask({ cmd: 'claim', item, player: `player-${round}-b`, at, owner }))
    }
    await Promise.all(scheduled)
    // After the last round, wait until every claim is answered and every item visible everywhere (a
    // report every 100 ms), or 2 s at most: a fast system does not sit out a fixed tail.
    const lastRound = start + rounds * gapMs
    await sleep(Math.max(0, lastRound - monotonicNow()) + 20)
    const askReports = async (): Promise<Array<Extract<ResolutionAnswer, { event: 'report' }>>> =>
      (await Promise.all(workers.map((worker) => worker.ask({ cmd: 'report' })))).map((answer) => answer as Extract<ResolutionAnswer, { event: 'report' }>)
    let reports = await askReports()
    const settled = (): boolean => reports.reduce((sum, report) => sum + report.claims.length, 0) >= 2 * rounds && reports.every((report) => Object.keys(report.seen).length >= rounds)
    while (!settled() && monotonicNow() < lastRound + 2000) {
      await sleep(100)
      reports = await askReports()
    }
    const answerMs: number[] = []
    const visible: number[] = []
    const firstVisible: number[] = []
    const spread: number[] = []
    const windows: Array<{ from: number; to: number; ms: number }> = []
    let doubleHolds = 0
    let unresolved = 0
    let skewedRounds = 0
    const claims = reports.flatMap((report) => report.claims)
    for (const claim of claims) answerMs.push(claim.answeredAt - claim.submittedAt)
    for (let round = 0; round < rounds; round++) {
      const item = `item-${round}`
      const mine = claims.filter((claim) => claim.item === item)
      if (mine.length > 1 && Math.max(...mine.map((claim) => claim.submittedAt)) - Math.min(...mine.map((claim) => claim.submittedAt)) > 1) skewedRounds++
      if (mine.filter((claim) => claim.granted).length > 1) doubleHolds++
      const seen = reports.map((report) => report.seen[item])
      if (seen.some((entry) => entry === undefined) || mine.length === 0) {
        unresolved++
        continue
      }
      if (new Set(seen.map((entry) => entry!.holder)).size > 1) doubleHolds++
      const claimedAt = Math.min(...mine.map((claim) => claim.submittedAt))
      const first = Math.min(...seen.map((entry) => entry!.at))
      const last = Math.max(...seen.map((entry) => entry!.at))
      visible.push(last - claimedAt)
      windows.push({ from: claimedAt, to: last, ms: last - claimedAt })
      firstVisible.push(first - claimedAt)
      spread.push(last - first)
    }
    const pauses = reports.flatMap((report) => report.gcPauses)
    const slowBound = percentiles(visible).p99 > 0 ? [...visible].sort((a, b) => a - b)[Math.floor(visible.length * 0.95)] ?? Infinity : Infinity
    const slow = windows.filter((round) => round.ms >= slowBound)
    const overlapsGc = (round: { from: number; to: number }): boolean => pauses.some((pause) => pause.at < round.to && pause.at + pause.ms > round.from)
    const slowWithGc = slow.filter(overlapsGc).length
    const settlement: Record<string, number> = {}
    for (const report of reports) for (const [key, value] of Object.entries(report.stats)) settlement[key] = (settlement[key] ?? 0) + value
    return { system, windowMs: options.windowMs ?? 2, rounds, claims: claims.length, ownerIsClaimant, skewedRounds, answerMs: percentiles(answerMs), visibleEverywhereMs: percentiles(visible), firstVisibleMs: percentiles(firstVisible), spreadMs: percentiles(spread), slowRounds: slow.length, slowRoundsWithGc: slowWithGc, roundsWithGc: windows.filter(overlapsGc).length, gcPauseMaxMs: Math.max(0, ...pauses.map((pause) => pause.ms)), loopDelayMaxMs: Math.max(0, ...reports.map((report) => report.loopDelayMaxMs)), cpuMsPerRound: Math.round((reports.reduce((sum, report) => sum + report.cpuMs, 0) / rounds) * 1000) / 1000, wallClockSkewMs: Math.round((Math.max(...reports.map((report) => report.wallClockOffsetMs)) - Math.min(...reports.map((report) => report.wallClockOffsetMs))) * 1000) / 1000, doubleHolds, unresolved, settlement, loadAverage: loadavg()[0] ?? 0 }
  } finally {
    await Promise.all(workers.map((worker) => worker.quit()))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

/** The resolution benchmark as table rows (for bench/run.ts). */
export const resolutionRows = (result: ResolutionBenchResult): BenchRow[] => {
  // realmsync over libp2p keeps the section name it always had, so earlier results still line up.
  const section = result.system === 'realmsync' ? 'resolution: 3 processes on loopback, 2 claimants per item' : `resolution: 3 processes on loopback, 2 claimants per item: ${SYSTEM_LABELS[result.system]}`
  const window = result.windowMs === 'auto' ? 'auto window' : `${result.windowMs} ms window`
  const extra = { system: SYSTEM_LABELS[result.system], rounds: result.rounds, claims: result.claims, ownerIsClaimant: result.ownerIsClaimant, skewedRounds: result.skewedRounds, doubleHolds: result.doubleHolds, unresolved: result.unresolved, loadAverage: result.loadAverage }
  return [
    { section, name: `${window}: claim -> answer: p50`, perSecond: result.answerMs.p50, unit: 'ms (lower is better)', extra },
    { section, name: `${window}: claim -> answer: p99`, perSecond: result.answerMs.p99, unit: 'ms (lower is better)', extra: { maxMs: result.answerMs.max, ...extra } },
    { section, name: `${window}: claim -> visible on every peer: p50`, perSecond: result.visibleEverywhereMs.p50, unit: 'ms (lower is better)', extra: { firstVisibleP50Ms: result.firstVisibleMs.p50, spreadP50Ms: result.spreadMs.p50, ...extra } },
    {
      section,
      name: `${window}: claim -> visible on every peer: p99`,
      perSecond: result.visibleEverywhereMs.p99,
      unit: 'ms (lower is better)',
      // The issue's target: resolution p99 < 5 ms on loopback.
      extra: {
        maxMs: result.visibleEverywhereMs.max,
        firstVisibleP99Ms: result.firstVisibleMs.p99,
        spreadP99Ms: result.spreadMs.p99,
        slowRoundsWithGc: `${result.slowRoundsWithGc}/${result.slowRounds}`,
        roundsWithGc: `${result.roundsWithGc}/${result.rounds}`,
        gcPauseMaxMs: result.gcPauseMaxMs,
        loopDelayMaxMs: result.loopDelayMaxMs,
        wallClockSkewMs: result.wallClockSkewMs,
        cpuMsPerRound: result.cpuMsPerRound,
        target: `p99 < 5 ms ${result.visibleEverywhereMs.p99 < 5 ? 'met' : 'MISSED'}`,
        ...extra,
      },
    },
  ]
}

/** The resolution benchmark for bench/run.ts. */
export const runResolutionBench = async (options: ResolutionBenchOptions = {}): Promise<BenchRow[]> => {
  // The fixed 2 ms window, then one sized from the measured round trips, then the other systems
  // (the floor first) with the fixed window, each in a fresh cluster.
  const fixed = await runResolutionPhases({ ...options, system: 'realmsync', windowMs: 2 })
  const auto = await runResolutionPhases({ ...options, system: 'realmsync', windowMs: 'auto' })
  const others: ResolutionBenchResult[] = []
  for (const system of options.systems ?? ['floor', 'realmsync-ws']) if (system !== 'realmsync') others.push(await runResolutionPhases({ ...options, system, windowMs: 2 }))
  return [...resolutionRows(fixed), ...resolutionRows(auto), ...others.flatMap(resolutionRows)]
}

/** One line per system comparing its p99s with the floor's (how far above what the machine allows). */
export const floorRatios = (results: readonly ResolutionBenchResult[]): string[] => {
  const floor = results.find((result) => result.system === 'floor')
  if (floor === undefined) return []
  const ratio = (ours: number, base: number): string => (base > 0 ? `${(ours / base).toFixed(2)}x` : 'n/a')
  return results
    .filter((result) => result !== floor)
    .map(
      (result) =>
        `${SYSTEM_LABELS[result.system]} / floor: answer p50 ${ratio(result.answerMs.p50, floor.answerMs.p50)}, p99 ${ratio(result.answerMs.p99, floor.answerMs.p99)}; ` +
        `visible everywhere p50 ${ratio(result.visibleEverywhereMs.p50, floor.visibleEverywhereMs.p50)}, p99 ${ratio(result.visibleEverywhereMs.p99, floor.visibleEverywhereMs.p99)}`,
    )
}

/** Parses `realmsync,floor` (optionally prefixed `systems=`). */
const parseSystems = (text: string): ResolutionSystem[] => {
  const names = text.replace(/^systems=/, '').split(',').filter((name) => name !== '')
  for (const name of names) if (!SYSTEMS.includes(name as ResolutionSystem)) throw new RangeError(`unknown system ${name}; known: ${SYSTEMS.join(', ')}`)
  if (names.length === 0) throw new RangeError('no systems given')
  return names as ResolutionSystem[]
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rounds = Number(process.argv[2] ?? 200)
  const windowArg = process.argv[3] ?? '2'
  const windowMs = windowArg === 'auto' ? 'auto' : Number(windowArg)
  if (!(rounds > 0) || !(windowMs === 'auto' || windowMs >= 0)) throw new RangeError('usage: resolution-bench [rounds=200] [windowMs=2|auto] [systems=realmsync,floor]')
  const systemsArg = process.argv[4] ?? process.env.RESOLUTION_SYSTEMS
  const systems = systemsArg !== undefined ? parseSystems(systemsArg) : windowMs === 'auto' ? ['realmsync' as const] : (['realmsync', 'floor'] as const)
  const results: ResolutionBenchResult[] = []
  // One system at a time, in fresh processes: running them together would have them share the cores.
  for (const system of systems) results.push(await runResolutionPhases({ rounds, windowMs, system }))
  const ratios = floorRatios(results)
  process.stdout.write(`${toMarkdownTable(results.flatMap(resolutionRows))}\n\n${ratios.length > 0 ? `${ratios.join('\n')}\n\n` : ''}${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`)
}
