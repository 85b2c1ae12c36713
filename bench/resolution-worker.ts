// One node of the resolution benchmark (bench/resolution-bench.ts starts three): a realmsync peer as
// `realmsync serve` runs it (libp2p on loopback), a world document seeded identically everywhere, an
// IntentEngine and a ResolverGate over the built-in pickup resolver. It submits the pickups the
// parent asks for at the wall-clock moment given, and records when each item's holder became visible
// here. Commands on stdin, answers on stdout, one JSON object per line; logs on stderr.
//
// usage: resolution-worker '<ResolutionWorkerConfig as JSON>'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import pino from 'pino'
import * as Y from 'yjs'
import { startServer } from '../cli/index.js'
import { createSystemClock, WorldDoc } from '../core/index.js'
import { IntentEngine, Membership, ResolverGate, ResolverRegistry, pickupResolver } from '../resolvers/index.js'
import { wallNow } from './cluster-protocol.js'
import type { ResolutionAnswer, ResolutionCommand, ResolutionWorkerConfig } from './resolution-protocol.js'

const answer = (value: ResolutionAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const config = JSON.parse(process.argv[2] ?? '{}') as ResolutionWorkerConfig
const server = await startServer({
  listen: [config.listen],
  bootstrap: config.bootstrap,
  dataDir: config.dataDir,
  admission: { clusterSecret: config.secret },
  logger: pino({ level: 'warn' }, pino.destination(2)),
  backoff: { initialMs: 100, maxMs: 1000 },
  store: { durability: 'memory', snapshotEvery: 0, validateAppends: false },
  // `realmsync serve` routes by latency by default (startServer alone floods); its round-trip
  // estimates also size an `auto` settlement window.
  peer: { router: { kind: 'latency' } },
})
// Every node starts from the same bytes: a seed document written by one fixed client id.
const seed = new Y.Doc()
seed.clientID = 1
const seedWorld = new WorldDoc(seed)
for (let i = 0; i < config.items; i++) seedWorld.createItem(`item-${i}`, 'loot')
const world = new WorldDoc(server.peer.openDoc('world/bench/resolution', Y.encodeStateAsUpdate(seed)))
const clock = createSystemClock()
const registry = new ResolverRegistry().register(pickupResolver())
const engine = IntentEngine.createUnjournaled({ world, worldName: 'bench', clock, seed: config.index, handlers: registry.handlers() })
let gate: ResolverGate | undefined
const claims: Array<{ item: string; submittedAt: number; answeredAt: number; granted: boolean }> = []
const seen = new Map<string, { holder: string; at: number }>()
world.observe((change) => {
  const at = wallNow()
  for (const moved of change.holders) if (moved.to?.type === 'player') seen.set(moved.item, { holder: moved.to.id, at })
})
// GC pauses and event-loop delay, to tell a slow round's cause (bounded: a run has a few hundred pauses).
const gcPauses: Array<{ at: number; ms: number }> = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (gcPauses.length < 100_000) gcPauses.push({ at: performance.timeOrigin + entry.startTime, ms: entry.duration })
}).observe({ entryTypes: ['gc'] })
const loopDelay = monitorEventLoopDelay({ resolution: 1 })
loopDelay.enable()
answer({ event: 'ready', id: server.peer.id, addresses: server.addresses })

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as ResolutionCommand
  if (command.cmd === 'setup') {
    gate = new ResolverGate({ link: server.peer, world, engine, registry, clock, membership: new Membership({ epoch: 1, members: command.members }), settlement: { windowMs: command.windowMs } })
    answer({ event: 'setup' })
  } else if (command.cmd === 'peers') {
    answer({ event: 'peers', peers: server.peer.connectedPeers().length })
  } else if (command.cmd === 'claim') {
    const active = gate
    if (active === undefined) {
      answer({ event: 'error', message: 'claim before setup' })
      continue
    }
    const { item, player } = command
    setTimeout(() => {
      const submittedAt = wallNow()
      void active.submit(player, { action: 'pickup', seq: 1, player, payload: { item } }, (result) => {
        claims.push({ item, submittedAt, answeredAt: wallNow(), granted: result.result.type === 'ack' })
      })
    }, Math.max(0, command.at - wallNow()))
    answer({ event: 'scheduled' })
  } else if (command.cmd === 'report') {
    answer({ event: 'report', claims, seen: Object.fromEntries(seen), stats: { ...(gate?.stats ?? {}) }, gcPauses, loopDelayMaxMs: loopDelay.max / 1e6 })
  } else {
    break
  }
}
gate?.close()
await server.close()
process.exit(0)
