/** Options every program scenario accepts from `realmsync sim`. */
export interface ProgramRunOptions {
  /** Seed of the run; the same seed reproduces the report exactly. */
  readonly seed: number
  /** Number of peers, when the scenario lets the command line change it. */
  readonly peers?: number
}

/** The fields every program scenario report carries, whatever else it measures. */
export interface ProgramReport {
  readonly scenario: string
  readonly seed: number
  /** Whether every invariant of the scenario held (the CLI exits with 2 otherwise). */
  readonly ok: boolean
}

/**
 * A built-in scenario that drives its own workload and writes its own report (resolvers, anti-cheat,
 * epochs), as opposed to the replication scenarios that `runScenario` runs from a `Scenario` record.
 */
export interface ProgramScenario<R extends ProgramReport = ProgramReport> {
  readonly name: string
  readonly description: string
  /** Runs the scenario in virtual time; deterministic for a given seed. */
  run(options: ProgramRunOptions): R
  /** Renders the report as a readable table for the terminal. */
  format(report: R): string
}

/** Renders rows of label and value as an aligned two-column table. */
export const formatRows = (rows: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...rows.map(([label]) => label.length))
  return `${rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')}\n`
}
