// The epoch benchmarks' own logic: delays split around cuts only once the cuts near them are known,
// and a side's reports judged against issue 7's targets. Wrong here, and the benchmark's verdicts
// would be wrong whatever the peers do.
import { describe, expect, it } from 'vitest'
import { CutWindowLatency, mergeCutWindowSummaries } from '../../bench/cut-window-latency.js'
import type { EpochWorkerReport, EpochWorkerSample } from '../../bench/epoch-cluster-protocol.js'
import { checkEpochTargets, defaultSampleEvery, summariseEpochSide, warmupSeconds } from '../../bench/epoch-cluster-summary.js'
import { LatencyHistogram } from '../../bench/latency-histogram.js'

const windows = [{ name: 'w', beforeMs: 1000, afterMs: 1000 }]

describe('CutWindowLatency', () => {
  it('classifies a delay by a cut heard of after the update landed', () => {
    const latency = new CutWindowLatency(windows, 100, 5000)
    latency.record(10_050, 5) // lands before the cut at 10.5 s is known
    latency.record(20_050, 7) // far from any cut
    latency.cut(10_500)
    latency.settle(40_000)
    const { overall, windows: split } = latency.summary()
    expect(overall.count).toBe(2)
    expect(split.w?.near.count).toBe(1)
    expect(split.w?.near.maxMs).toBe(5)
    expect(split.w?.steady.count).toBe(1)
    expect(split.w?.steady.maxMs).toBe(7)
  })

  it('keeps recent slots waiting until they settle, then classifies late delays at once', () => {
    const latency = new CutWindowLatency(windows, 100, 5000)
    latency.record(1_000, 3)
    latency.settle(3_000)
    expect(latency.summary().windows.w?.steady.count).toBe(0)
    latency.settle(7_000)
    expect(latency.summary().windows.w?.steady.count).toBe(1)
    // Created at 1.5 s, landing after its slot settled: classified against the cuts known now.
    latency.cut(2_000)
    latency.record(1_550, 900)
    expect(latency.summary().windows.w?.near.count).toBe(1)
  })

  it('settles everything at the end and merges summaries of several processes', () => {
    const a = new CutWindowLatency(windows)
    const b = new CutWindowLatency(windows)
    a.cut(5_000)
    a.record(5_200, 1)
    b.record(50_000, 2)
    a.settle(5_300, true)
    b.settle(50_100, true)
    const merged = mergeCutWindowSummaries([a.summary(), b.summary()])
    expect(merged.overall.size).toBe(2)
    expect(merged.near.get('w')?.size).toBe(1)
    expect(merged.steady.get('w')?.size).toBe(1)
  })
})

const histogram = (values: readonly number[]) => {
  const h = new LatencyHistogram()
  for (const value of values) h.record(value)
  return h.toJSON()
}

const report = (heaps: readonly number[], encoded: readonly number[], options: { cuts?: number[]; near?: number[]; steady?: number[]; hash?: string } = {}): EpochWorkerReport => {
  const latency = new CutWindowLatency()
  const samples: EpochWorkerSample[] = heaps.map((heapMiB, i) => ({ atS: i * 10, heapMiB, rssMiB: heapMiB * 2, encodedKiB: encoded[i] ?? 0, epoch: 0, cpuPercent: 50, p99Ms: null }))
  latency.cut(100_000)
  for (const delay of options.near ?? []) latency.record(100_200, delay)
  for (const delay of options.steady ?? []) latency.record(500_000, delay)
  latency.settle(0, true)
  return {
    event: 'report',
    id: 'p',
    writes: 1000,
    skipped: 0,
    samples,
    latency: latency.summary(),
    cuts: options.cuts?.length ?? 0,
    switches: options.cuts?.length ?? 0,
    carriedWrites: 0,
    staleFrames: 0,
    cutCpu: histogram(options.cuts ?? []),
    cutWallMaxMs: Math.max(0, ...(options.cuts ?? [])),
    cpuPercent: 50,
    samplingPercent: 1,
    loopDelayP99Ms: 1,
    loopDelayMaxMs: 2,
    contentKiB: 20,
    contentHash: options.hash ?? 'same',
    finalEncodedKiB: 30,
  }
}

describe('epoch cluster summary', () => {
  it('samples every second for short runs and 60 times over long ones; warm-up is a minute at most', () => {
    expect(defaultSampleEvery(30)).toBe(1)
    expect(defaultSampleEvery(600)).toBe(10)
    expect(warmupSeconds(30)).toBe(6)
    expect(warmupSeconds(600)).toBe(60)
  })

  it('measures heap growth from the first sample after the warm-up, and meets the targets when flat', () => {
    // 100 s: warm-up ends at 20 s (samples every 10 s).
    const heaps = [10, 40, 50, 60, 55, 70, 60, 60, 60, 60, 60]
    const on = summariseEpochSide(true, 100, [report(heaps, heaps.map(() => 90), { cuts: [20, 30], near: [10, 12], steady: [8, 9] }), report(heaps, heaps.map(() => 80))])
    expect(on.processes[0]?.heapAfterWarmupMiB).toBe(50)
    expect(on.processes[0]?.heapGrowth).toBeCloseTo(70 / 50)
    expect(on.converged).toBe(true)
    expect(on.cuts).toBe(2)
    expect(on.cutCpuMaxMs).toBeCloseTo(30, 0)
    const targets = checkEpochTargets(on, undefined)
    expect(targets.heapFlat).toBe(true)
    // 4 x 20 KiB content plus a bound of 4 x 20 KiB.
    expect(targets.encodedLimitKiB).toBe(160)
    expect(targets.encodedBounded).toBe(true)
    expect(targets.steadyFrom).toBe('epochs on, away from cuts')
    expect(targets.latencyAroundCuts).toBe(true)
  })

  it('misses the targets on growth, size and a slow cut, and falls back to the epochs-off p99 when every update was near a cut', () => {
    const growing = [10, 20, 30, 40, 50, 60]
    const on = summariseEpochSide(true, 50, [report(growing, [100, 200, 300, 400, 500, 600], { near: [100] }), report(growing, growing, { hash: 'other' })])
    const off = summariseEpochSide(false, 50, [report(growing, growing, { steady: [20] })])
    expect(on.converged).toBe(false)
    const targets = checkEpochTargets(on, off)
    expect(targets.heapFlat).toBe(false)
    expect(targets.encodedBounded).toBe(false)
    expect(targets.steadyFrom).toBe('epochs off')
    expect(targets.latencyAroundCuts).toBe(false)
  })
})
