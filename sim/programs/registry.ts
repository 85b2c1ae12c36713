import type { ProgramScenario } from './program-scenario.js'
import { churnProgram } from './churn.js'

// Each program scenario registers here, one line each, so the CLI and benches find them by name.
const programs: ReadonlyArray<ProgramScenario> = [churnProgram]

/** Built-in program scenarios by name (pickup-race, trade-storm, cheaters, churn, ...). */
export const PROGRAM_SCENARIOS: Readonly<Record<string, ProgramScenario>> = Object.fromEntries(programs.map((program) => [program.name, program]))
