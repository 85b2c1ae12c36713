import { readFileSync } from 'node:fs'
import { InvalidArgumentError, type Command } from 'commander'
import { ROUTER_KINDS as ROUTERS, type RouterKind } from '../replication/index.js'
import { BUILTIN_SCENARIOS, PROGRAM_SCENARIOS, parseScenario, runScenario, type Scenario, type SimReport } from '../sim/index.js'
import type { CliIo } from './io.js'

const parseInteger =
  (name: string, min: number, max: number) =>
  (value: string): number => {
    const parsed = Number(value)
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`)
    return parsed
  }

const scenarioNames = (): string[] => [...Object.keys(BUILTIN_SCENARIOS), ...Object.keys(PROGRAM_SCENARIOS)]

/** Loads a built-in scenario by name, or a scenario JSON file by path. */
export const loadScenario = (nameOrPath: string): Scenario => {
  const builtin = BUILTIN_SCENARIOS[nameOrPath]
  if (builtin) return builtin
  if (!nameOrPath.endsWith('.json')) {
    throw new Error(`unknown scenario '${nameOrPath}': use one of ${scenarioNames().join(', ')}, or a path to a .json file`)
  }
  let text: string
  try {
    text = readFileSync(nameOrPath, 'utf8')
  } catch {
    throw new Error(`cannot read scenario file ${nameOrPath}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`scenario file ${nameOrPath} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  return parseScenario(json)
}

const fmt = (value: number | null): string => (value === null ? 'n/a' : Number.isInteger(value) ? String(value) : value.toFixed(2))

/** Renders a report as a readable table. */
export const formatReport = (report: SimReport): string => {
  const rows: Array<[string, string]> = [
    ['scenario', report.scenario],
    ['seed', String(report.seed)],
    ['peers', String(report.peers)],
    ['router', report.router],
    ['updates', `${report.updates} document, ${report.ephemeralUpdates} ephemeral`],
    ['converged', report.converged ? 'yes' : `NO (${report.divergences.length} divergent replicas)`],
    ['invariants', report.invariantViolations.length === 0 ? 'hold' : `${report.invariantViolations.length} violations`],
    ['propagation ms p50/p95/p99/max', [report.propagationMs.p50, report.propagationMs.p95, report.propagationMs.p99, report.propagationMs.max].map(fmt).join(' / ')],
    ['stretch p50/p95/p99/max', [report.stretch.p50, report.stretch.p95, report.stretch.p99, report.stretch.max].map(fmt).join(' / ')],
    ['update messages per update per peer', fmt(report.messagesPerUpdatePerPeer)],
    ['digests per update per peer', fmt(report.digestsPerUpdatePerPeer)],
    ['bytes per update (updates / digests)', `${fmt(report.bytesPerUpdate)} / ${fmt(report.digestBytesPerUpdate)}`],
    ['converged after heal (ms)', fmt(report.convergeAfterHealMs)],
    ['undelivered writes', String(report.undeliveredWrites)],
    ['frames sent / lost', `${report.framesSent} / ${report.framesLost}`],
    ['events / virtual ms', `${report.eventsProcessed} / ${fmt(report.virtualDurationMs)}`],
    ['trace hash', report.traceHash],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`
}

/** Adds `realmsync sim` to a commander program. */
export const registerSimCommand = (program: Command, io: CliIo): void => {
  program
    .command('sim')
    .description('run a network-simulator scenario (built-in name or scenario.json) and print its report')
    .argument('<scenario>', `built-in scenario (${scenarioNames().join(', ')}) or a .json file`)
    .option('--seed <n>', 'random seed; the same seed reproduces the run exactly', parseInteger('--seed', 0, 2 ** 32 - 1), 1)
    .option('--peers <n>', 'number of peers (overrides the scenario)', parseInteger('--peers', 2, 500))
    .option('--router <kind>', `update routing: ${ROUTERS.join(' | ')}`, 'latency')
    .option('--json', 'print the report as JSON')
    .action((name: string, opts: { seed: number; peers?: number; router: string; json?: boolean }) => {
      if (!ROUTERS.includes(opts.router as RouterKind)) throw new Error(`--router must be one of ${ROUTERS.join(', ')}`)
      const programScenario = PROGRAM_SCENARIOS[name]
      if (programScenario) {
        const report = programScenario.run({ seed: opts.seed, ...(opts.peers !== undefined ? { peers: opts.peers } : {}) })
        io.out(opts.json ? `${JSON.stringify(report, null, 2)}\n` : programScenario.format(report))
        if (!report.ok) process.exitCode = 2
        return
      }
      const scenario = loadScenario(name)
      const report = runScenario(scenario, {
        seed: opts.seed,
        router: opts.router as RouterKind,
        ...(opts.peers !== undefined ? { peers: opts.peers } : {}),
      })
      io.out(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
      if (!report.converged || report.invariantViolations.length > 0) process.exitCode = 2
    })
}
