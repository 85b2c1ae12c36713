// Router comparison on the simulator: the `regions` scenario (50 peers in 5 regions) and
// `regions-lossy` (20% loss, latency spikes on two links), with `flood`, `random` (a gossipsub-like
// random mesh, D=6) and `latency` (ours), side by side in one run.
//
//   npx tsx bench/gossip-bench.ts
import { fileURLToPath } from 'node:url'
import { ROUTER_KINDS } from '../replication/index.js'
import { BUILTIN_SCENARIOS, runScenario } from '../sim/index.js'
import type { BenchRow } from './harness.js'

/** Runs both scenarios with every router; one row per run, the p99 stretch as the figure (lower is better). */
export const runGossipBench = async (): Promise<BenchRow[]> => {
  const rows: BenchRow[] = []
  for (const scenario of ['regions', 'regions-lossy']) {
    for (const router of ROUTER_KINDS) {
      const report = runScenario(BUILTIN_SCENARIOS[scenario]!, { seed: 1, router })
      rows.push({
        section: `gossip: ${scenario}`,
        name: `${router} router`,
        perSecond: report.stretch.p99,
        unit: 'p99 stretch (lower is better)',
        ...(router !== 'random' ? { baseline: 'random router' } : {}),
        extra: {
          converged: String(report.converged),
          undeliveredWrites: report.undeliveredWrites,
          stretchP50: report.stretch.p50,
          stretchP95: report.stretch.p95,
          stretchP99: report.stretch.p99,
          updateMessagesPerUpdatePerPeer: report.messagesPerUpdatePerPeer,
          digestsPerUpdatePerPeer: report.digestsPerUpdatePerPeer,
          updateBytesPerUpdate: report.bytesPerUpdate,
          digestBytesPerUpdate: report.digestBytesPerUpdate,
          propagationP99Ms: report.propagationMs.p99,
        },
      })
    }
  }
  return rows
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${JSON.stringify(await runGossipBench(), null, 2)}\n`)
}
