// Issue 7's memory benchmark: one world document under a steady stream of overwrites (1,000 keys,
// each write its own transaction, 10 ms ticks) on a real peer, replicated to a second peer in the
// same process (in-memory transport), with document epochs off and then on. Samples the heap and
// the document's encoded size over time, propagation delay from the writer to the replica (p99
// overall and around each cut) and the event-loop delay (the cost of a cut shows there).
//
//   npx tsx bench/epoch-bench.ts [seconds=30] [rate=10000]
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as Y from 'yjs'
import { createRandom, createSystemClock } from '../core/index.js'
import { Peer, type EpochSwitch } from '../replication/index.js'
import { MemoryNetwork } from '../transports/index.js'
import { computeRatios, toMarkdownTable, type BenchRow } from './harness.js'
import { LatencyHistogram } from './latency-histogram.js'

const KEYS = 1000

// Heap samples are of live data: collect garbage first (the flag is set at run time, so tsx needs no option).
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
const TICK_MS = 10

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
  readonly samples: readonly EpochSample[]
  /** Heap after the first minute (or the first fifth of a shorter run), and the largest after it. */
  readonly heapAfterWarmupMiB: number
  readonly heapMaxMiB: number
  readonly encodedMaxKiB: number
  readonly contentKiB: number
  /** Epoch switches (whichever peer decided the cut). */
  readonly cuts: number
  readonly p99Ms: number
  /** p99 of updates created within a second of a cut (per-second resolution). */
  readonly p99AroundCutsMs: number | null
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
}


const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const contentSize = (doc: Y.Doc): number => {
  const fresh = new Y.Doc()
  const map = fresh.getMap('kv')
  for (const [key, value] of doc.getMap('kv').entries()) map.set(key, value)
  return Y.encodeStateAsUpdate(fresh).length
}

/** Runs one phase: `seconds` of writes at `rate`/s with epochs on or off. */
export const runEpochPhase = async (epochsOn: boolean, seconds: number, rate: number): Promise<EpochPhaseResult> => {
  const clock = createSystemClock()
  const network = new MemoryNetwork()
  const make = (id: string, seed: number) =>
    new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(seed), ...(epochsOn ? { epochs: {} } : {}) })
  const writer = make('writer', 1)
  const replica = make('replica', 2)
  for (const peer of [writer, replica]) {
    peer.openDoc('world/bench')
    peer.start()
  }
  network.connectAll()
  await sleep(200)
  // One small histogram per second of creation time, so the bench's own memory stays flat (a list
  // of every delay would grow by half a MiB a second and pass for a leak) and delays around a cut
  // can still be told apart (the seconds within one of a cut).
  const bySecond: LatencyHistogram[] = []
  const cutTimes: number[] = []
  let origin = 0
  const watch = (doc: Y.Doc): void => {
    doc.getMap<number>('kv').observe((event) => {
      // A switch re-creates content from the base: only remote writes arriving as changes count.
      if (event.transaction.local) return
      const now = performance.now()
      for (const key of event.keysChanged) {
        const created = event.target.get(key) as number | undefined
        if (typeof created === 'number' && created > 0) {
          const second = Math.max(0, Math.floor((created - origin) / 1000))
          ;(bySecond[second] ??= new LatencyHistogram()).record(now - created)
        }
      }
    })
  }
  watch(replica.getDoc('world/bench') as Y.Doc)
  replica.onEpochSwitch((event: EpochSwitch) => watch(event.ydoc))
  writer.onEpochSwitch(() => cutTimes.push(performance.now()))
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const samples: EpochSample[] = []
  const started = performance.now()
  origin = started
  let written = 0
  let nextSample = 0
  const epochCount = () => (writer.epochStats()?.switches ?? 0) + 1
  while (performance.now() - started < seconds * 1000) {
    const elapsed = performance.now() - started
    const due = Math.floor((elapsed * rate) / 1000)
    const doc = writer.getDoc('world/bench') as Y.Doc
    const map = doc.getMap<number>('kv')
    for (; written < due; written++) {
      const created = performance.now()
      doc.transact(() => map.set(`k${written % KEYS}`, created))
    }
    if (elapsed >= nextSample) {
      nextSample += 1000
      samples.push({
        atS: Math.round(elapsed / 100) / 10,
        heapMiB: (collectGarbage(), process.memoryUsage().heapUsed / 2 ** 20),
        encodedKiB: Y.encodeStateAsUpdate(doc).length / 1024,
        epochs: epochCount(),
      })
    }
    await sleep(TICK_MS)
  }
  await sleep(500)
  loop.disable()
  const final = writer.getDoc('world/bench') as Y.Doc
  const warmupS = Math.min(60, seconds / 5)
  const afterWarmup = samples.filter((sample) => sample.atS >= warmupS)
  const all = new LatencyHistogram()
  const around = new LatencyHistogram()
  const cutSeconds = new Set(cutTimes.flatMap((cut) => [-1, 0, 1].map((d) => Math.floor((cut - started) / 1000) + d)))
  bySecond.forEach((histogram, second) => {
    if (histogram === undefined) return
    all.merge(histogram.toJSON())
    if (cutSeconds.has(second)) around.merge(histogram.toJSON())
  })
  const result: EpochPhaseResult = {
    epochsOn,
    seconds,
    writes: written,
    samples,
    heapAfterWarmupMiB: afterWarmup[0]?.heapMiB ?? 0,
    heapMaxMiB: Math.max(...afterWarmup.map((sample) => sample.heapMiB)),
    encodedMaxKiB: Math.max(...samples.map((sample) => sample.encodedKiB)),
    contentKiB: contentSize(final) / 1024,
    cuts: writer.epochStats()?.switches ?? 0,
    p99Ms: all.percentile(99),
    p99AroundCutsMs: around.size > 0 ? around.percentile(99) : null,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  }
  writer.close()
  replica.close()
  return result
}

const fixed = (value: number): number => Math.round(value * 100) / 100

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
      extra: { heapAfterWarmupMiB: fixed(result.heapAfterWarmupMiB), heapMaxMiB: fixed(result.heapMaxMiB), series: series.map((s) => `${s.atS}s:${s.heapMiB.toFixed(0)}`).join(' ') },
    })
    rows.push({
      section,
      name: `${label}: propagation p99`,
      perSecond: fixed(result.p99Ms),
      unit: 'ms p99 to the replica (lower is better)',
      ...against('propagation p99'),
      extra: { aroundCutsP99Ms: result.p99AroundCutsMs === null ? 'n/a' : fixed(result.p99AroundCutsMs), loopDelayP99Ms: fixed(result.loopDelayP99Ms), loopDelayMaxMs: fixed(result.loopDelayMaxMs), writes: result.writes },
    })
  }
  return rows
}

/** The epochs section of `npm run bench`. */
export const runEpochBench = async (seconds = 30, rate = 10_000): Promise<BenchRow[]> => {
  const results = [await runEpochPhase(false, seconds, rate), await runEpochPhase(true, seconds, rate)]
  return epochRows(results, rate)
}

if (process.argv[1]?.endsWith('epoch-bench.ts')) {
  const seconds = Number(process.argv[2] ?? 30)
  const rate = Number(process.argv[3] ?? 10_000)
  const rows = await runEpochBench(seconds, rate)
  computeRatios(rows)
  process.stdout.write(`${toMarkdownTable(rows)}\n`)
}
