import type { ProgramScenario } from './program-scenario.js'
import { cheatersScenario } from './cheaters.js'
import { churnProgram } from './churn.js'
import { pickupRace } from './pickup-race.js'
import { tradeStorm } from './trade-storm.js'

// Each program scenario registers here, one line each, so the CLI and benches find them by name.
const programs: ReadonlyArray<ProgramScenario> = [
  pickupRace,
  tradeStorm,
  cheatersScenario,
  churnProgram,
]

/** Built-in program scenarios by name (pickup-race, trade-storm, cheaters, churn, ...). */
export const PROGRAM_SCENARIOS: Readonly<Record<string, ProgramScenario>> = Object.fromEntries(programs.map((program) => [program.name, program]))
