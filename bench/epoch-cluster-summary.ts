// Turns the epoch cluster workers' reports into one side's result (epochs on or off) and checks it
// against issue 7's targets: heap within 2x of its size after the first minute; encoded size within
// 4x the fresh content plus one epoch's bound; propagation p99 around a cut no worse than 2x steady.
import { mergeCutWindowSummaries } from './cut-window-latency.js'
import type { EpochWorkerReport } from './epoch-cluster-protocol.js'
import { LatencyHistogram } from './latency-histogram.js'

/** Default seconds between samples: every second, and 60 samples over runs longer than two minutes (a forced full GC of a multi-GB heap takes seconds). */
export const defaultSampleEvery = (seconds: number): number => (seconds > 120 ? Math.max(1, Math.round(seconds / 60)) : 1)

/** When the warm-up ends: the first minute, or the first fifth of a shorter run. */
export const warmupSeconds = (seconds: number): number => Math.min(60, seconds / 5)

/** One process of one side. */
export interface EpochProcessResult {
  readonly id: string
  readonly writes: number
  readonly heapAfterWarmupMiB: number
  readonly heapMaxMiB: number
  /** Largest heap after the warm-up over the heap at its end. */
  readonly heapGrowth: number
  readonly encodedMaxKiB: number
  readonly rssMaxMiB: number
  readonly cpuPercent: number
  readonly cuts: number
  readonly switches: number
  readonly carriedWrites: number
  readonly staleFrames: number
  readonly cutCpuP50Ms: number | null
  readonly cutCpuMaxMs: number | null
  readonly cutCpuTotalMs: number
  readonly cutWallMaxMs: number
  readonly samplingPercent: number
  readonly loopDelayMaxMs: number
  /** heap and encoded size per sample, `atS:heap/encoded`, thinned to about ten points. */
  readonly series: string
}

/** One side (epochs on or off) of the cluster run. */
export interface EpochClusterSide {
  readonly epochsOn: boolean
  readonly seconds: number
  readonly processes: readonly EpochProcessResult[]
  readonly contentKiB: number
  readonly converged: boolean
  readonly p99Ms: number | null
  /** Created within 1 s of a switch, and the rest. */
  readonly p99NearCutMs: number | null
  readonly p99SteadyMs: number | null
  /** Created from 100 ms before to 300 ms after a switch, and the rest. */
  readonly p99TightNearCutMs: number | null
  readonly p99TightSteadyMs: number | null
  /** The coordinator's cuts (the process that cut), their CPU p50/p99/max in ms. */
  readonly cuts: number
  readonly cutCpuP50Ms: number | null
  readonly cutCpuP99Ms: number | null
  readonly cutCpuMaxMs: number | null
}

const p99 = (histogram: LatencyHistogram | undefined, p = 99): number | null => (histogram !== undefined && histogram.size > 0 ? histogram.percentile(p) : null)

const thin = <T>(values: readonly T[], points = 10): T[] => values.filter((_, i) => i % Math.max(1, Math.floor(values.length / points)) === 0)

/** Summarises the workers' reports of one side. */
export const summariseEpochSide = (epochsOn: boolean, seconds: number, reports: readonly EpochWorkerReport[]): EpochClusterSide => {
  const warmup = warmupSeconds(seconds)
  const processes = reports.map((report): EpochProcessResult => {
    const after = report.samples.filter((sample) => sample.atS >= warmup)
    const heapAfterWarmupMiB = after[0]?.heapMiB ?? 0
    const heapMaxMiB = after.length > 0 ? Math.max(...after.map((sample) => sample.heapMiB)) : 0
    const cutCpu = new LatencyHistogram()
    cutCpu.merge(report.cutCpu)
    return {
      id: report.id,
      writes: report.writes,
      heapAfterWarmupMiB,
      heapMaxMiB,
      heapGrowth: heapAfterWarmupMiB > 0 ? heapMaxMiB / heapAfterWarmupMiB : 0,
      encodedMaxKiB: Math.max(0, ...report.samples.map((sample) => sample.encodedKiB)),
      rssMaxMiB: Math.max(0, ...report.samples.map((sample) => sample.rssMiB)),
      cpuPercent: report.cpuPercent,
      cuts: report.cuts,
      switches: report.switches,
      carriedWrites: report.carriedWrites,
      staleFrames: report.staleFrames,
      cutCpuP50Ms: p99(cutCpu, 50),
      cutCpuMaxMs: p99(cutCpu, 100),
      cutCpuTotalMs: report.cutCpu.sumMs,
      cutWallMaxMs: report.cutWallMaxMs,
      samplingPercent: report.samplingPercent,
      loopDelayMaxMs: report.loopDelayMaxMs,
      series: thin(report.samples)
        .map((sample) => `${sample.atS.toFixed(0)}s:${sample.heapMiB.toFixed(0)}/${sample.encodedKiB.toFixed(0)}`)
        .join(' '),
    }
  })
  const latency = mergeCutWindowSummaries(reports.map((report) => report.latency))
  const cutCpu = new LatencyHistogram()
  for (const report of reports) cutCpu.merge(report.cutCpu)
  return {
    epochsOn,
    seconds,
    processes,
    contentKiB: Math.max(0, ...reports.map((report) => report.contentKiB)),
    converged: reports.length > 0 && reports.every((report) => report.contentHash === reports[0]?.contentHash),
    p99Ms: p99(latency.overall),
    p99NearCutMs: p99(latency.near.get('within1s')),
    p99SteadyMs: p99(latency.steady.get('within1s')),
    p99TightNearCutMs: p99(latency.near.get('tight')),
    p99TightSteadyMs: p99(latency.steady.get('tight')),
    cuts: reports.reduce((sum, report) => sum + report.cuts, 0),
    cutCpuP50Ms: p99(cutCpu, 50),
    cutCpuP99Ms: p99(cutCpu),
    cutCpuMaxMs: p99(cutCpu, 100),
  }
}

/** Issue 7's targets for the epochs-on side, with the figures they were judged on. */
export interface EpochTargets {
  /** Every process's heap within 2x of its size after the warm-up. */
  readonly heapFlat: boolean
  readonly heapGrowthMax: number
  /** Largest encoded size within 4x the content plus one epoch's bound (the cut bound: 4x content, at least `minBytes`). */
  readonly encodedBounded: boolean
  readonly encodedLimitKiB: number
  /** p99 of updates created within 1 s of a cut at most 2x the steady p99 (the rest of the run; the epochs-off p99 when every update was near a cut). */
  readonly latencyAroundCuts: boolean | null
  readonly steadyP99Ms: number | null
  readonly steadyFrom: 'epochs on, away from cuts' | 'epochs off' | 'none'
}

/** Checks the epochs-on side against the targets; `off` is the same load without epochs. */
export const checkEpochTargets = (on: EpochClusterSide, off: EpochClusterSide | undefined, ratio = 4, minBytes = 4096): EpochTargets => {
  const heapGrowthMax = Math.max(0, ...on.processes.map((process) => process.heapGrowth))
  const boundKiB = Math.max(minBytes / 1024, ratio * on.contentKiB)
  const encodedLimitKiB = 4 * on.contentKiB + boundKiB
  const encodedMax = Math.max(0, ...on.processes.map((process) => process.encodedMaxKiB))
  const offP99 = off === undefined ? null : off.p99Ms
  const steadyFrom = on.p99SteadyMs !== null ? 'epochs on, away from cuts' : offP99 !== null ? 'epochs off' : 'none'
  const steadyP99Ms = on.p99SteadyMs ?? offP99
  return {
    heapFlat: heapGrowthMax > 0 && heapGrowthMax <= 2,
    heapGrowthMax,
    encodedBounded: encodedMax <= encodedLimitKiB,
    encodedLimitKiB,
    latencyAroundCuts: on.p99NearCutMs === null || steadyP99Ms === null ? null : on.p99NearCutMs <= 2 * steadyP99Ms,
    steadyP99Ms,
    steadyFrom,
  }
}
