// Issue 7's cluster benchmark: three OS processes on loopback, each a realmsync Peer as `realmsync
// serve` sets one up (libp2p transport with cluster admission, an in-memory SQLite store, the latency
// router), share one world document and together overwrite 1,000 keys at 10,000 updates/s, each
// process a third of the writes on its own third of the keys. The same load runs with document
// epochs off, then on, in fresh clusters, one after the other. Every process samples its live heap
// (after a forced GC), its RSS, the encoded size of its replica and its CPU; records the delay of
// every remote update split by whether it was created near a cut (cut-window-latency.ts); and meters
// the CPU of each cut it made (metered-clock.ts): only the coordinator, the peer with the lowest id,
// cuts. At the end the three replicas' content is compared.
//
//   npx tsx bench/epoch-cluster-bench.ts [seconds per side=30] [rate=10000] [sides=off,on]
//
// Writes come from all three processes, not one: a cut then always has writes in flight from the
// two peers that did not cut, which is the path epochs must get right (carried writes), and every
// process both sends and receives.
import { mkdtempSync, rmSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BenchStoreMode } from './cluster-protocol.js'
import type { EpochWorkerAnswer, EpochWorkerCommand, EpochWorkerConfig, EpochWorkerContent, EpochWorkerReport } from './epoch-cluster-protocol.js'
import { checkEpochTargets, defaultSampleEvery, summariseEpochSide, type EpochClusterSide } from './epoch-cluster-summary.js'
import { freePort } from './free-port.js'
import { computeRatios, toMarkdownTable, type BenchRow } from './harness.js'
import { JsonLineChild } from './json-line-child.js'

const WORKER = join(import.meta.dirname, 'epoch-cluster-worker.ts')
const SECRET = 'epoch-cluster-bench-secret'

/** Settings of one run. */
export interface EpochClusterOptions {
  /** Seconds of load per side. Default 30. */
  readonly seconds?: number
  /** Updates per second over the whole cluster. Default 10,000. */
  readonly rate?: number
  /** Processes. Default 3. */
  readonly workers?: number
  /** Which sides run, in order. Default off, then on. */
  readonly sides?: ReadonlyArray<'off' | 'on'>
  /** SQLite setting of the peers. Default `lean` (in memory, no snapshots; see cluster-protocol.ts). */
  readonly store?: BenchStoreMode
  /** Seconds between samples. Default: 1, and seconds/60 for runs over two minutes. */
  readonly sampleEveryS?: number
  readonly log?: (line: string) => void
}

/** A side's result with the machine's load around it. */
export interface EpochClusterRun extends EpochClusterSide {
  /** 1-minute load average when the side started and when it ended. */
  readonly loadBefore: number
  readonly loadAfter: number
  /** Seconds after the drain until every replica held the same content (null: not within a minute). */
  readonly convergedAfterS: number | null
  /** Once converged (or at the minute): the epoch number reached, and every process's cuts and switches. */
  readonly finalEpoch: number
  readonly finalCuts: readonly number[]
  readonly finalSwitches: readonly number[]
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Heap limit of a worker: without epochs, ten minutes hold gigabytes. */
const heapLimitMiB = (seconds: number): number => Math.min(16_384, Math.max(4096, Math.ceil(seconds * 10)))

const eventually = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(200)
  }
}

/** Starts a fresh cluster with epochs on or off, runs the load through it and shuts it down. */
const runSide = async (epochsOn: boolean, options: Required<EpochClusterOptions>): Promise<EpochClusterRun> => {
  const loadBefore = os.loadavg()[0] ?? 0
  const ports = await Promise.all(Array.from({ length: options.workers }, () => freePort()))
  const addresses = ports.map((port) => `/ip4/127.0.0.1/tcp/${port}`)
  const dirs = addresses.map(() => mkdtempSync(join(tmpdir(), 'realmsync-epoch-cluster-')))
  const workers = addresses.map((listen, index) => {
    const config: EpochWorkerConfig = {
      index,
      workers: options.workers,
      listen,
      bootstrap: addresses.filter((_, other) => other !== index),
      dataDir: dirs[index] as string,
      secret: SECRET,
      store: options.store,
      epochs: epochsOn,
    }
    return new JsonLineChild<EpochWorkerCommand, EpochWorkerAnswer>(`epoch worker ${index} (epochs ${epochsOn ? 'on' : 'off'})`, WORKER, config, [
      '--expose-gc',
      `--max-old-space-size=${heapLimitMiB(options.seconds)}`,
    ])
  })
  try {
    await Promise.all(workers.map((worker) => worker.ready))
    const others = options.workers - 1
    await eventually(
      async () => (await Promise.all(workers.map((worker) => worker.ask({ cmd: 'peers' })))).every((answer) => answer.event === 'peers' && answer.peers === others),
      30_000,
      `every peer connected to ${others} others`,
    )
    // Starting processes leaves work behind (module loading, JIT): let it pass first.
    await sleep(2000)
    options.log(`epoch-cluster-bench: epochs ${epochsOn ? 'on' : 'off'}: ${options.workers} peers up, ${options.seconds} s at ${options.rate.toLocaleString('en-US')} updates/s (load average ${loadBefore.toFixed(1)})...`)
    const plan = {
      startAt: Date.now() + 1000,
      seconds: options.seconds,
      rate: options.rate / options.workers,
      sampleEveryS: options.sampleEveryS,
      keys: 1000,
      drainMs: 3000,
    }
    const reports = (await Promise.all(workers.map((worker) => worker.ask({ cmd: 'run', plan })))) as EpochWorkerReport[]
    const loadAfter = os.loadavg()[0] ?? 0
    // On a loaded machine updates can still be queued after the drain: ask until the replicas agree.
    const drained = Date.now()
    let convergedAfterS: number | null = null
    let contents: EpochWorkerContent[] = []
    while (Date.now() - drained < 60_000) {
      contents = (await Promise.all(workers.map((worker) => worker.ask({ cmd: 'content' })))) as EpochWorkerContent[]
      const hashes = new Set(contents.map((content) => (content.event === 'content' ? `${content.epoch}:${content.hash}` : content.event)))
      if (hashes.size === 1) {
        convergedAfterS = (Date.now() - drained) / 1000
        break
      }
      await sleep(500)
    }
    const side = summariseEpochSide(epochsOn, options.seconds, reports)
    options.log(`epoch-cluster-bench: epochs ${epochsOn ? 'on' : 'off'}: done (load average ${loadAfter.toFixed(1)}), converged ${convergedAfterS === null ? 'NOT within 60 s' : `${convergedAfterS.toFixed(1)} s after the drain`}`)
    return {
      ...side,
      converged: convergedAfterS !== null,
      loadBefore,
      loadAfter,
      convergedAfterS,
      finalEpoch: Math.max(0, ...contents.map((content) => Number(content.epoch.split('.')[0]))),
      finalCuts: contents.map((content) => content.cuts),
      finalSwitches: contents.map((content) => content.switches),
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.quit()))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs the sides, one after the other, and returns what each measured. */
export const runEpochClusterSides = async (options: EpochClusterOptions = {}): Promise<EpochClusterRun[]> => {
  const seconds = options.seconds ?? 30
  const resolved: Required<EpochClusterOptions> = {
    seconds,
    rate: options.rate ?? 10_000,
    workers: options.workers ?? 3,
    sides: options.sides ?? ['off', 'on'],
    store: options.store ?? 'lean',
    sampleEveryS: options.sampleEveryS ?? defaultSampleEvery(seconds),
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
  }
  const runs: EpochClusterRun[] = []
  for (const side of resolved.sides) runs.push(await runSide(side === 'on', resolved))
  return runs
}

const fixed = (value: number | null): number | string => (value === null ? 'n/a' : Math.round(value * 100) / 100)
const each = (values: ReadonlyArray<number | null>): string => values.map((value) => (value === null ? 'n/a' : value.toFixed(value >= 10 ? 0 : 1))).join('/')
const verdict = (met: boolean | null): string => (met === null ? 'n/a' : met ? 'met' : 'MISSED')

/** Table rows per side: encoded size, heap growth, propagation p99 and CPU; epochs off is the baseline. */
export const epochClusterRows = (runs: readonly EpochClusterRun[], rate: number): BenchRow[] => {
  const rows: BenchRow[] = []
  const off = runs.find((run) => !run.epochsOn)
  for (const run of runs) {
    const section = `epochs-cluster: ${run.processes.length} processes, 1 document, ${rate.toLocaleString('en-US')} updates/s of 1,000 keys, ${run.seconds} s per side`
    const label = run.epochsOn ? 'epochs on' : 'epochs off'
    const against = (name: string) => (run.epochsOn && off !== undefined ? { baseline: `epochs off: ${name}` } : {})
    const targets = run.epochsOn ? checkEpochTargets(run, off) : undefined
    const load = `${run.loadBefore.toFixed(1)}->${run.loadAfter.toFixed(1)}`
    rows.push({
      section,
      name: `${label}: largest encoded size`,
      perSecond: Math.round(Math.max(...run.processes.map((process) => process.encodedMaxKiB)) * 100) / 100,
      unit: 'KiB, largest of the processes (lower is better)',
      ...against('largest encoded size'),
      extra: {
        perProcess: each(run.processes.map((process) => process.encodedMaxKiB)),
        contentKiB: fixed(run.contentKiB),
        converged: run.convergedAfterS === null ? 'NO' : `yes, ${run.convergedAfterS.toFixed(1)} s after the 3 s drain`,
        ...(targets ? { target: `<= ${targets.encodedLimitKiB.toFixed(0)} KiB (4x content + one epoch's bound) ${verdict(targets.encodedBounded)}` } : {}),
      },
    })
    rows.push({
      section,
      name: `${label}: heap growth after warm-up`,
      perSecond: Math.round(Math.max(...run.processes.map((process) => process.heapGrowth)) * 100) / 100,
      unit: 'x heap after warm-up, largest of the processes (lower is better)',
      ...against('heap growth after warm-up'),
      extra: {
        heapAfterWarmupMiB: each(run.processes.map((process) => process.heapAfterWarmupMiB)),
        heapMaxMiB: each(run.processes.map((process) => process.heapMaxMiB)),
        rssMaxMiB: each(run.processes.map((process) => process.rssMaxMiB)),
        ...(targets ? { target: `<= 2x ${verdict(targets.heapFlat)}` } : {}),
        'series (s:heap MiB/encoded KiB, process 1)': run.processes[0]?.series ?? '',
      },
    })
    rows.push({
      section,
      name: `${label}: propagation p99`,
      perSecond: Math.round((run.p99Ms ?? 0) * 100) / 100,
      unit: 'ms p99, every process from the others (lower is better)',
      ...against('propagation p99'),
      extra: {
        within1sOfCutP99Ms: fixed(run.p99NearCutMs),
        restP99Ms: fixed(run.p99SteadyMs),
        cutMinus100To300msP99Ms: fixed(run.p99TightNearCutMs),
        outsideThatP99Ms: fixed(run.p99TightSteadyMs),
        ...(targets ? { target: `near-cut p99 <= 2x steady (${targets.steadyFrom}: ${fixed(targets.steadyP99Ms)} ms) ${verdict(targets.latencyAroundCuts)}` } : {}),
        loopDelayMaxMs: each(run.processes.map((process) => process.loopDelayMaxMs)),
        writesPerSecond: Math.round(run.processes.reduce((sum, process) => sum + process.writes, 0) / run.seconds),
        loadAverage: load,
      },
    })
    rows.push({
      section,
      name: `${label}: CPU`,
      perSecond: Math.round((run.processes.reduce((sum, process) => sum + process.cpuPercent, 0) / Math.max(1, run.processes.length)) * 100) / 100,
      unit: '% of one core per process, mean (lower is better)',
      ...against('CPU'),
      extra: {
        perProcess: each(run.processes.map((process) => process.cpuPercent)),
        // Cuts past the epoch reached lost a fork (two peers that each thought they coordinate).
        cuts: each(run.finalCuts),
        switches: each(run.finalSwitches),
        epochReached: run.finalEpoch,
        carriedWrites: each(run.processes.map((process) => process.carriedWrites)),
        cutCpuP50Ms: fixed(run.cutCpuP50Ms),
        cutCpuP99Ms: fixed(run.cutCpuP99Ms),
        cutCpuMaxMs: fixed(run.cutCpuMaxMs),
        cutCpuTotalS: each(run.processes.map((process) => process.cutCpuTotalMs / 1000)),
        samplingPercent: each(run.processes.map((process) => process.samplingPercent)),
        loadAverage: load,
      },
    })
  }
  return rows
}

/** The `epochs-cluster` section of `npm run bench`. */
export const runEpochClusterBench = async (options: EpochClusterOptions = {}): Promise<BenchRow[]> => epochClusterRows(await runEpochClusterSides(options), options.rate ?? 10_000)

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seconds = Number(process.argv[2] ?? 30)
  const rate = Number(process.argv[3] ?? 10_000)
  const sides = (process.argv[4] ?? 'off,on').split(',') as Array<'off' | 'on'>
  if (!(seconds > 0) || !(rate > 0) || !sides.every((side) => side === 'off' || side === 'on')) {
    throw new RangeError('usage: epoch-cluster-bench [seconds per side=30] [rate=10000] [sides=off,on]')
  }
  const runs = await runEpochClusterSides({ seconds, rate, sides })
  const rows = epochClusterRows(runs, rate)
  computeRatios(rows)
  process.stdout.write(`${toMarkdownTable(rows)}\n\n${JSON.stringify(runs, null, 2)}\n`)
}
