// Issue 7's memory benchmark: one world document under a steady stream of overwrites (1,000 keys,
// each write its own transaction, 10 ms ticks) on a real peer, replicated to a second peer in the
// same process (in-memory transport), with document epochs off and then on. Samples the heap and
// the document's encoded size over time, propagation delay from the writer to the replica (p99
// overall and around each cut), the event-loop delay, the CPU time of each cut on the peer that
// cuts and the process's CPU over the phase. Each phase runs in its own child process (--expose-gc,
// a large --max-old-space-size: without epochs 10 minutes grow past 50 MB encoded and gigabytes of
// heap), one after the other, so neither phase's garbage or heap limit touches the other.
//
//   npx tsx bench/epoch-bench.ts [seconds=30] [rate=10000]
//
// EPOCH_BENCH_SAMPLE_S sets the sampling interval (default 1 s, and seconds/60 for runs over two
// minutes: a forced full GC of a multi-GB heap every second would be most of what the process does).
import os from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as Y from 'yjs'
import { createRandom } from '../core/index.js'
import { Peer, type EpochSwitch } from '../replication/index.js'
import { MemoryNetwork } from '../transports/index.js'
import { CutWindowLatency, mergeCutWindowSummaries } from './cut-window-latency.js'
import { defaultSampleEvery, warmupSeconds } from './epoch-cluster-summary.js'
import { computeRatios, toMarkdownTable, type BenchRow } from './harness.js'
import { JsonLineChild } from './json-line-child.js'
import { LatencyHistogram } from './latency-histogram.js'
import { createMeteredClock, type CutCost } from './metered-clock.js'

const KEYS = 1000

// Heap samples are of live data: collect garbage first (children get --expose-gc; run in-process,
// the flag is set at run time, so tsx needs no option).
const collectGarbage = ((globalThis as { gc?: () => void }).gc ??
  (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void)) as () => void
const TICK_MS = 10
/** Most backlog one tick writes, in seconds of load. */
export const MAX_BURST_S = 0.1

/** One sample of the run's memory and size. */
export interface EpochSample {
  readonly atS: number
  readonly heapMiB: number
  readonly encodedKiB: number
  readonly epochs: number
}

/** What one phase (epochs on or off) measured. */
export interface EpochPhaseResult {
  readonly epochsOn: boolean
  readonly seconds: number
  readonly writes: number
  /** Writes not made because the process fell more than MAX_BURST_S behind (starved of CPU). */
  readonly skipped: number
  readonly samples: readonly EpochSample[]
  /** Seconds between samples. */
  readonly sampleEveryS: number
  /** Heap after the first minute (or the first fifth of a shorter run), and the largest after it. */
  readonly heapAfterWarmupMiB: number
  readonly heapMaxMiB: number
  readonly encodedMaxKiB: number
  readonly contentKiB: number
  /** Epoch switches (whichever peer decided the cut). */
  readonly cuts: number
  readonly p99Ms: number
  /** p99 of updates created within 1 s of a cut, and of the others (null when there were none). */
  readonly p99AroundCutsMs: number | null
  readonly p99SteadyMs: number | null
  /** p99 of updates created from 100 ms before to 300 ms after a cut, and of the others. */
  readonly p99TightAroundCutsMs: number | null
  readonly p99TightSteadyMs: number | null
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
  /** CPU (user + system, whole process) of the timer callbacks that cut: p50, p99, max, total. */
  readonly cutCpuMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly total: number }
  readonly cutWallMsMax: number
  /** Process CPU over the phase, % of one core (sampling's forced GCs included). */
  readonly cpuPercent: number
  /** Time spent sampling (forced GC and encoding), % of the phase. */
  readonly samplingPercent: number
  /** The machine's 1-minute load average when the phase started and when it ended. */
  readonly loadBefore: number
  readonly loadAfter: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const contentSize = (doc: Y.Doc): number => {
  const fresh = new Y.Doc()
  const map = fresh.getMap('kv')
  for (const [key, value] of doc.getMap('kv').entries()) map.set(key, value)
  return Y.encodeStateAsUpdate(fresh).length
}

const orNull = (histogram: LatencyHistogram | undefined): number | null => (histogram !== undefined && histogram.size > 0 ? histogram.percentile(99) : null)

/** Runs one phase in this process: `seconds` of writes at `rate`/s with epochs on or off. */
export const runEpochPhase = async (epochsOn: boolean, seconds: number, rate: number, sampleEveryS = defaultSampleEvery(seconds)): Promise<EpochPhaseResult> => {
  const network = new MemoryNetwork()
  const cutCpu = new LatencyHistogram()
  let cutWallMsMax = 0
  const onCut = (cost: CutCost): void => {
    cutCpu.record(cost.cpuMs)
    cutWallMsMax = Math.max(cutWallMsMax, cost.wallMs)
  }
  const make = (id: string, seed: number): Peer => {
    let peer: Peer | undefined = undefined
    const clock = createMeteredClock(() => peer?.epochStats()?.cuts ?? 0, onCut)
    peer = new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(seed), ...(epochsOn ? { epochs: {} } : {}) })
    return peer
  }
  const writer = make('writer', 1)
  const replica = make('replica', 2)
  for (const peer of [writer, replica]) {
    peer.openDoc('world/bench')
    peer.start()
  }
  network.connectAll()
  await sleep(200)
  // Delays wait in small per-slot histograms until the cuts near them are known (cut-window-latency.ts),
  // so the bench's own memory stays flat (a list of every delay grew half a MiB a second and passed for a leak).
  const latency = new CutWindowLatency()
  const watch = (doc: Y.Doc): void => {
    doc.getMap<number>('kv').observe((event) => {
      // A switch re-creates content from the base: only remote writes arriving as changes count.
      if (event.transaction.local) return
      const now = performance.now()
      for (const key of event.keysChanged) {
        const created = event.target.get(key) as number | undefined
        if (typeof created === 'number' && created > 0) latency.record(created, now - created)
      }
    })
  }
  watch(replica.getDoc('world/bench') as Y.Doc)
  replica.onEpochSwitch((event: EpochSwitch) => watch(event.ydoc))
  // Whichever peer cut, the writer's switch is when its writes move to the new epoch.
  writer.onEpochSwitch(() => latency.cut(performance.now()))
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const samples: EpochSample[] = []
  const loadBefore = os.loadavg()[0] ?? 0
  const started = performance.now()
  const cpuStart = process.cpuUsage()
  let written = 0
  let skipped = 0
  let nextSample = 0
  let samplingMs = 0
  const epochCount = () => (writer.epochStats()?.switches ?? 0) + 1
  while (performance.now() - started < seconds * 1000) {
    const elapsed = performance.now() - started
    const due = Math.floor((elapsed * rate) / 1000)
    // A starved process must not spiral: one late tick writing everything due would hold the event
    // loop (and the epoch check's timer) for longer than it was late. Writes past MAX_BURST_S of
    // backlog are skipped and counted, so the rate achieved is on record.
    skipped += Math.max(0, due - written - skipped - Math.ceil(rate * MAX_BURST_S))
    const doc = writer.getDoc('world/bench') as Y.Doc
    const map = doc.getMap<number>('kv')
    for (; written + skipped < due; written++) {
      const created = performance.now()
      doc.transact(() => map.set(`k${written % KEYS}`, created))
    }
    if (elapsed >= nextSample) {
      nextSample += sampleEveryS * 1000
      const sampling = performance.now()
      samples.push({
        atS: Math.round(elapsed / 100) / 10,
        heapMiB: (collectGarbage(), process.memoryUsage().heapUsed / 2 ** 20),
        encodedKiB: Y.encodeStateAsUpdate(doc).length / 1024,
        epochs: epochCount(),
      })
      samplingMs += performance.now() - sampling
      latency.settle(performance.now())
    }
    await sleep(TICK_MS)
  }
  await sleep(500)
  const phaseMs = performance.now() - started
  const cpu = process.cpuUsage(cpuStart)
  loop.disable()
  latency.settle(performance.now(), true)
  const final = writer.getDoc('world/bench') as Y.Doc
  const warmupS = warmupSeconds(seconds)
  const afterWarmup = samples.filter((sample) => sample.atS >= warmupS)
  const merged = mergeCutWindowSummaries([latency.summary()])
  const result: EpochPhaseResult = {
    epochsOn,
    seconds,
    writes: written,
    skipped,
    samples,
    sampleEveryS,
    heapAfterWarmupMiB: afterWarmup[0]?.heapMiB ?? 0,
    heapMaxMiB: Math.max(...afterWarmup.map((sample) => sample.heapMiB)),
    encodedMaxKiB: Math.max(...samples.map((sample) => sample.encodedKiB)),
    contentKiB: contentSize(final) / 1024,
    cuts: (writer.epochStats()?.cuts ?? 0) + (replica.epochStats()?.cuts ?? 0),
    p99Ms: merged.overall.percentile(99),
    p99AroundCutsMs: orNull(merged.near.get('within1s')),
    p99SteadyMs: orNull(merged.steady.get('within1s')),
    p99TightAroundCutsMs: orNull(merged.near.get('tight')),
    p99TightSteadyMs: orNull(merged.steady.get('tight')),
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
    cutCpuMs: {
      p50: cutCpu.size > 0 ? cutCpu.percentile(50) : 0,
      p99: cutCpu.size > 0 ? cutCpu.percentile(99) : 0,
      max: cutCpu.size > 0 ? cutCpu.percentile(100) : 0,
      total: cutCpu.size > 0 ? cutCpu.mean() * cutCpu.size : 0,
    },
    cutWallMsMax,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / phaseMs) * 100,
    samplingPercent: (samplingMs / phaseMs) * 100,
    loadBefore,
    loadAfter: os.loadavg()[0] ?? 0,
  }
  writer.close()
  replica.close()
  return result
}

const fixed = (value: number): number => Math.round(value * 100) / 100
const fixedOrNa = (value: number | null): number | string => (value === null ? 'n/a' : fixed(value))

/** Both phases as table rows: epochs on against epochs off (the baseline). */
export const epochRows = (results: readonly EpochPhaseResult[], rate: number): BenchRow[] => {
  const rows: BenchRow[] = []
  for (const result of results) {
    const section = `epochs: 1 document, ${rate.toLocaleString('en-US')} overwrites/s of 1,000 keys, ${result.seconds} s`
    const label = result.epochsOn ? 'epochs on' : 'epochs off'
    const against = (name: string) => (result.epochsOn ? { baseline: `epochs off: ${name}` } : {})
    const series = result.samples.filter((_, i) => i % Math.max(1, Math.floor(result.samples.length / 10)) === 0)
    rows.push({
      section,
      name: `${label}: largest encoded size`,
      perSecond: fixed(result.encodedMaxKiB),
      unit: 'KiB (lower is better)',
      ...against('largest encoded size'),
      extra: { contentKiB: fixed(result.contentKiB), cuts: result.cuts, series: series.map((s) => `${s.atS}s:${s.encodedKiB.toFixed(0)}`).join(' ') },
    })
    rows.push({
      section,
      name: `${label}: heap growth after warm-up`,
      perSecond: fixed(result.heapMaxMiB / Math.max(1e-9, result.heapAfterWarmupMiB)),
      unit: 'x heap after warm-up, largest (lower is better)',
      ...against('heap growth after warm-up'),
      extra: {
        heapAfterWarmupMiB: fixed(result.heapAfterWarmupMiB),
        heapMaxMiB: fixed(result.heapMaxMiB),
        sampleEveryS: result.sampleEveryS,
        series: series.map((s) => `${s.atS}s:${s.heapMiB.toFixed(0)}`).join(' '),
      },
    })
    rows.push({
      section,
      name: `${label}: propagation p99`,
      perSecond: fixed(result.p99Ms),
      unit: 'ms p99 to the replica (lower is better)',
      ...against('propagation p99'),
      extra: {
        within1sOfCutP99Ms: fixedOrNa(result.p99AroundCutsMs),
        restP99Ms: fixedOrNa(result.p99SteadyMs),
        cutMinus100To300msP99Ms: fixedOrNa(result.p99TightAroundCutsMs),
        outsideThatP99Ms: fixedOrNa(result.p99TightSteadyMs),
        loopDelayP99Ms: fixed(result.loopDelayP99Ms),
        loopDelayMaxMs: fixed(result.loopDelayMaxMs),
        writes: result.writes,
        writesPerSecond: Math.round(result.writes / result.seconds),
        skipped: result.skipped,
      },
    })
    rows.push({
      section,
      name: `${label}: CPU`,
      perSecond: fixed(result.cpuPercent),
      unit: '% of one core, whole process (lower is better)',
      ...against('CPU'),
      extra: {
        cutCpuP50Ms: fixed(result.cutCpuMs.p50),
        cutCpuP99Ms: fixed(result.cutCpuMs.p99),
        cutCpuMaxMs: fixed(result.cutCpuMs.max),
        cutCpuTotalS: fixed(result.cutCpuMs.total / 1000),
        cutWallMaxMs: fixed(result.cutWallMsMax),
        samplingPercent: fixed(result.samplingPercent),
        loadAverage: `${result.loadBefore.toFixed(1)}->${result.loadAfter.toFixed(1)}`,
      },
    })
  }
  return rows
}

const SCRIPT = fileURLToPath(import.meta.url)

/** Heap limit of a phase's child: the epochs-off side of a 10-minute run holds gigabytes. */
const heapLimitMiB = (seconds: number): number => Math.min(16_384, Math.max(4096, Math.ceil(seconds * 16)))

/** Runs one phase in a child process (--expose-gc, a heap limit fit for the phase) and returns what it measured. */
export const runEpochPhaseInChild = async (epochsOn: boolean, seconds: number, rate: number): Promise<EpochPhaseResult> => {
  const child = new JsonLineChild<{ readonly cmd: string }, { readonly event: string; readonly result?: EpochPhaseResult }>(
    `epoch-bench phase (epochs ${epochsOn ? 'on' : 'off'})`,
    SCRIPT,
    { phase: epochsOn ? 'on' : 'off', seconds, rate },
    ['--expose-gc', `--max-old-space-size=${heapLimitMiB(seconds)}`],
  )
  try {
    const answer = await child.ready
    if (answer.result === undefined) throw new Error(`epoch-bench phase: ${JSON.stringify(answer)}`)
    return answer.result
  } finally {
    await child.quit()
  }
}

/** The epochs section of `npm run bench`: epochs off, then on, each in its own process. */
export const runEpochBench = async (seconds = 30, rate = 10_000): Promise<BenchRow[]> => {
  const results: EpochPhaseResult[] = []
  for (const epochsOn of [false, true]) {
    const result = await runEpochPhaseInChild(epochsOn, seconds, rate)
    // A long run's first phase is worth seeing before the second ends.
    process.stderr.write(
      `epoch-bench: epochs ${epochsOn ? 'on' : 'off'}: ${result.writes} writes, heap ${result.heapAfterWarmupMiB.toFixed(0)} -> ${result.heapMaxMiB.toFixed(0)} MiB, encoded max ${result.encodedMaxKiB.toFixed(0)} KiB, p99 ${result.p99Ms.toFixed(1)} ms, cuts ${result.cuts}\n`,
    )
    results.push(result)
  }
  return epochRows(results, rate)
}

if (process.argv[1] === SCRIPT || process.argv[1]?.endsWith(join('bench', 'epoch-bench.ts'))) {
  const phase = process.argv[2]?.startsWith('{') ? (JSON.parse(process.argv[2]) as { phase: 'on' | 'off'; seconds: number; rate: number }) : undefined
  if (phase !== undefined) {
    // A phase's child: one JSON line with the result (json-line-child.ts reads it as the first answer).
    const sampleEvery = process.env.EPOCH_BENCH_SAMPLE_S ? Number(process.env.EPOCH_BENCH_SAMPLE_S) : undefined
    const result = await runEpochPhase(phase.phase === 'on', phase.seconds, phase.rate, sampleEvery)
    process.stdout.write(`${JSON.stringify({ event: 'result', result })}\n`)
    process.exit(0)
  }
  const seconds = Number(process.argv[2] ?? 30)
  const rate = Number(process.argv[3] ?? 10_000)
  const rows = await runEpochBench(seconds, rate)
  computeRatios(rows)
  process.stdout.write(`${toMarkdownTable(rows)}\n`)
}
