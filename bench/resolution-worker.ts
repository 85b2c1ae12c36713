// One node of the resolution benchmark (bench/resolution-bench.ts starts three): by default a
// realmsync peer as `realmsync serve` runs it (libp2p on loopback) with a ResolverGate over the
// built-in pickup resolver (bench/resolution-realmsync-node.ts); system `realmsync-ws` the same over
// the WebSocket peer transport; system `floor` a bare ws mesh passing the same messages with no
// realmsync code (bench/resolution-floor.ts). It submits the pickups the parent asks for at the
// wall-clock moment given, and records when each item's holder became visible here. Commands on
// stdin, answers on stdout, one JSON object per line; logs on stderr.
//
// usage: resolution-worker '<ResolutionWorkerConfig as JSON>'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { wallNow } from './cluster-protocol.js'
import { monotonicNow } from './resolution-protocol.js'
import type { ResolutionAnswer, ResolutionCommand, ResolutionNode, ResolutionWorkerConfig, VisibleListener } from './resolution-protocol.js'

let cpuAtFirstClaim: NodeJS.CpuUsage | undefined
const cpuSinceFirstClaim = (): number => {
  if (cpuAtFirstClaim === undefined) return 0
  const used = process.cpuUsage(cpuAtFirstClaim)
  return (used.user + used.system) / 1000
}

const answer = (value: ResolutionAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const config = JSON.parse(process.argv[2] ?? '{}') as ResolutionWorkerConfig
const claims: Array<{ item: string; submittedAt: number; answeredAt: number; granted: boolean }> = []
const seen = new Map<string, { holder: string; at: number }>()
const onVisible: VisibleListener = (item, holder) => {
  seen.set(item, { holder, at: monotonicNow() })
}
// Loaded on demand, so a floor process carries no realmsync code.
const node: ResolutionNode =
  config.system === 'floor'
    ? await (await import('./resolution-floor.js')).startFloorResolutionNode(config, onVisible)
    : await (await import('./resolution-realmsync-node.js')).startRealmsyncResolutionNode(config, onVisible)
// GC pauses and event-loop delay, to tell a slow round's cause (bounded: a run has a few hundred pauses).
// Entries are stamped on performance.now()'s scale: the same monotonic clock from another zero.
const gcPauses: Array<{ at: number; ms: number }> = []
const performanceToMonotonic = monotonicNow() - performance.now()
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (gcPauses.length < 100_000) gcPauses.push({ at: performanceToMonotonic + entry.startTime, ms: entry.duration })
}).observe({ entryTypes: ['gc'] })
const loopDelay = monitorEventLoopDelay({ resolution: 1 })
loopDelay.enable()
answer({ event: 'ready', id: node.id, addresses: node.addresses })

let ready = false
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as ResolutionCommand
  if (command.cmd === 'setup') {
    node.setup(command.members, command.windowMs)
    ready = true
    answer({ event: 'setup' })
  } else if (command.cmd === 'peers') {
    answer({ event: 'peers', peers: node.connectedPeers() })
  } else if (command.cmd === 'claim') {
    if (!ready) {
      answer({ event: 'error', message: 'claim before setup' })
      continue
    }
    const { item, player, owner } = command
    setTimeout(() => {
      const submittedAt = monotonicNow()
      cpuAtFirstClaim ??= process.cpuUsage()
      node.claim(item, player, owner, (granted) => {
        claims.push({ item, submittedAt, answeredAt: monotonicNow(), granted })
      })
    }, Math.max(0, command.at - monotonicNow()))
    answer({ event: 'scheduled' })
  } else if (command.cmd === 'report') {
    answer({ event: 'report', claims, seen: Object.fromEntries(seen), stats: node.stats(), gcPauses, loopDelayMaxMs: loopDelay.max / 1e6, wallClockOffsetMs: wallNow() - monotonicNow(), cpuMs: cpuSinceFirstClaim() })
  } else {
    break
  }
}
await node.close()
process.exit(0)
