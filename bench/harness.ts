import os from 'node:os'
import { Bench } from 'tinybench'

/** One measured row: a named operation, its rate, and what it is compared against. */
export interface BenchRow {
  /** Section, for grouping in the table (`replication`, `ephemeral`, ...). */
  readonly section: string
  /** What was measured. */
  readonly name: string
  /** Items processed per second (updates, registers, events...). */
  readonly perSecond: number
  /** The unit of `perSecond`. */
  readonly unit: string
  /** Name of the row this one is compared against, if any. */
  readonly baseline?: string
  /** perSecond / baseline's perSecond. */
  ratio?: number
  /** The target from the issue, if there is one (same unit). */
  readonly target?: number
  /** Free-form extra facts (memory, sizes). */
  readonly extra?: Record<string, number | string>
}

/**
 * Measures `fn`, which processes `itemsPerCall` items per call, with tinybench and returns items per
 * second (mean throughput x items per call).
 */
export const measure = async (
  name: string,
  itemsPerCall: number,
  fn: () => void | Promise<void>,
  options: { time?: number; setup?: () => void } = {},
): Promise<number> => {
  const bench = new Bench({ time: options.time ?? 1500, warmupTime: 200 })
  bench.add(name, fn, options.setup ? { beforeEach: options.setup } : {})
  await bench.run()
  const task = bench.tasks[0]
  const result = task?.result
  if (!result || !('throughput' in result)) throw new Error(`benchmark ${name} failed: ${JSON.stringify(result)}`)
  return result.throughput.mean * itemsPerCall
}

/** Fills in `ratio` for every row that names a baseline in the same section. */
export const computeRatios = (rows: BenchRow[]): void => {
  for (const row of rows) {
    if (!row.baseline) continue
    const base = rows.find((other) => other.section === row.section && other.name === row.baseline)
    if (base && base.perSecond > 0) row.ratio = row.perSecond / base.perSecond
  }
}

/** The machine facts written next to every result. */
export const machineInfo = (): Record<string, string | number> => ({
  date: new Date().toISOString(),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
})

const fmt = (value: number): string =>
  value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(value >= 10 ? 1 : 2)

/** Renders rows as a Markdown table. */
export const toMarkdownTable = (rows: readonly BenchRow[]): string => {
  const lines = ['| section | measurement | rate | vs baseline | target | notes |', '| --- | --- | ---: | ---: | ---: | --- |']
  for (const row of rows) {
    const ratio = row.ratio !== undefined ? `${row.ratio.toFixed(2)}x ${row.baseline}` : ''
    const target = row.target !== undefined ? `${fmt(row.target)} ${row.perSecond >= row.target ? 'met' : 'MISSED'}` : ''
    const extra = row.extra ? Object.entries(row.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`).join(', ') : ''
    lines.push(`| ${row.section} | ${row.name} | ${fmt(row.perSecond)} ${row.unit} | ${ratio} | ${target} | ${extra} |`)
  }
  return lines.join('\n')
}
