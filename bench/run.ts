import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { computeRatios, machineInfo, toMarkdownTable, type BenchRow } from './harness.js'
import { runReplicationBench } from './replication-bench.js'
import { runEphemeralBench } from './ephemeral-bench.js'
import { runGossipBench } from './gossip-bench.js'
import { runClusterBench } from './cluster-bench.js'
import { runResolutionBench } from './resolution-bench.js'
import { runSimBench } from './sim-bench.js'
import { runStorageBench } from './storage-bench.js'
import { runWorldBench } from './world-bench.js'
import { runValidationBench } from './validation-bench.js'
import { runEpochBench } from './epoch-bench.js'
import { runEpochClusterBench } from './epoch-cluster-bench.js'
import { relayOptionsFromArgs, runRelayBench } from './relay-bench.js'
import { gatewayScaleOptionsFromArgs, runGatewayScaleBench } from './gateway-scale-bench.js'

/** A benchmark section: a name and a function that measures and returns rows. */
interface Section {
  readonly name: string
  readonly run: () => Promise<BenchRow[]>
}

const here = dirname(fileURLToPath(import.meta.url))

const sections: Section[] = [
  { name: 'replication', run: runReplicationBench },
  { name: 'ephemeral', run: runEphemeralBench },
  { name: 'world', run: runWorldBench },
  { name: 'sim', run: runSimBench },
  { name: 'gossip', run: runGossipBench },
  // Real processes on loopback: about 2 min 15 s (npx tsx bench/cluster-bench.ts for options).
  { name: 'cluster', run: () => runClusterBench() },
  { name: 'storage', run: () => runStorageBench() },
  { name: 'validation', run: runValidationBench },
  // Epochs off, then on: 30 s each by default (EPOCH_BENCH_SECONDS=600 for the 10 minutes).
  { name: 'epochs', run: () => runEpochBench(Number(process.env.EPOCH_BENCH_SECONDS ?? 30)) },
  // Three peer processes on loopback, epochs off then on: 30 s each plus start-up (EPOCH_CLUSTER_SECONDS=600 for 10 minutes a side).
  { name: 'epochs-cluster', run: () => runEpochClusterBench({ seconds: Number(process.env.EPOCH_CLUSTER_SECONDS ?? 30) }) },
  { name: 'resolution', run: () => runResolutionBench() },
  // Server and load generators in separate processes, 2-4 min each. Bigger runs take the words of
  // `npx tsx bench/relay-bench.ts` / `gateway-scale-bench.ts` in RELAY_BENCH_ARGS / GATEWAY_SCALE_ARGS.
  { name: 'relay', run: () => runRelayBench(relayOptionsFromArgs((process.env.RELAY_BENCH_ARGS ?? '').split(/\s+/).filter(Boolean))) },
  { name: 'gateway-scale', run: () => runGatewayScaleBench(gatewayScaleOptionsFromArgs((process.env.GATEWAY_SCALE_ARGS ?? '').split(/\s+/).filter(Boolean))) },
]

const main = async (): Promise<void> => {
  const only = process.argv.slice(2)
  const rows: BenchRow[] = []
  const extras: Record<string, unknown> = {}
  for (const section of sections) {
    if (only.length > 0 && !only.includes(section.name)) continue
    process.stdout.write(`bench: ${section.name}...\n`)
    rows.push(...(await section.run()))
  }
  if (only.length > 0 && existsSync(join(here, 'results.json'))) {
    // A partial run (`npm run bench -- gossip storage`) replaces only its sections' rows.
    const previous = JSON.parse(readFileSync(join(here, 'results.json'), 'utf8')) as { rows: BenchRow[] }
    const rerun = new Set(rows.map((row) => row.section))
    rows.unshift(...previous.rows.filter((row) => !rerun.has(row.section)))
  }
  computeRatios(rows)
  const machine = machineInfo()
  const result = { machine, rows, extras }
  mkdirSync(here, { recursive: true })
  writeFileSync(join(here, 'results.json'), `${JSON.stringify(result, null, 2)}\n`)
  const table = toMarkdownTable(rows)
  const markdown = [
    '# Benchmark results',
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}.`,
    `Date: ${machine.date}. Produced by \`npm run bench\`; raw numbers in \`bench/results.json\`.`,
    '',
    'Absolute rates on a shared machine are noisy; the ratios against the baseline measured in the same run are the figures to read.',
    '',
    table,
    '',
  ].join('\n')
  writeFileSync(join(here, 'RESULTS.md'), markdown)
  process.stdout.write(`${table}\n`)
}

await main()
