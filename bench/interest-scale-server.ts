// One server of the interest-scale benchmark: a realmsync peer with its gateway (sessions on, so
// clients can subscribe by interest) and an intent engine whose `move` handler writes the mover's
// ephemeral `position` (`{ x, y, t }`, `t` the client's send time riding along for the latency
// measurement). Two such servers replicate the ephemeral layer to each other. JSON lines on stdio
// (bench/json-line-child.ts); `stats` reports CPU, event-loop time, memory and connections.
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import pino from 'pino'
import { serverStats } from './server-stats.js'
import { systemCalls } from './interest-scale-syscalls.js'
import { INTEREST_SECRET, type InterestServerAnswer, type InterestServerCommand, type InterestServerConfig } from './interest-scale-protocol.js'

const answer = (value: InterestServerAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const config = JSON.parse(process.argv[2] ?? '{}') as InterestServerConfig
const { startServer } = await import('../cli/index.js')
const { defaultAuthenticate, startGateway } = await import('../gateway/index.js')
const { IntentEngine } = await import('../resolvers/index.js')
const { createSystemClock, openWorldDoc } = await import('../core/index.js')
const server = await startServer({
  listen: [`ws://${config.host}:0`],
  bootstrap: [...(config.peerBootstrap ?? [])],
  transport: 'ws',
  dataDir: config.dataDir,
  admission: { clusterSecret: 'interest-scale-bench-cluster-secret-0123456789' },
  logger: pino({ level: 'warn' }, pino.destination(2)),
  backoff: { initialMs: 100, maxMs: 1000 },
  store: { durability: 'memory', snapshotEvery: 0, validateAppends: false },
})
const peer = server.peer
const finite = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0)
const engine = IntentEngine.createUnjournaled({
  world: openWorldDoc(new Y.Doc()),
  worldName: 'bench',
  clock: createSystemClock(),
  seed: 1,
  handlers: {
    move: {
      apply: ({ intent }) => {
        const payload = (intent.payload ?? {}) as Record<string, unknown>
        peer.setEphemeral(intent.player, 'position', { x: finite(payload.x), y: finite(payload.y), t: finite(payload.t) })
        return null
      },
    },
  },
})
const gateway = await startGateway({
  peer,
  port: 0,
  host: config.host,
  authenticate: defaultAuthenticate({ kind: 'secret', secret: INTEREST_SECRET }),
  intents: { engine },
  sessions: {},
  ephemeralIntervalMs: config.intervalMs,
  interestCellSize: config.cellSize,
  // INTEREST_ANSWER_FLUSH=immediate compares answers sent at once with answers folded into the tick.
  ...(process.env.INTEREST_ANSWER_FLUSH === 'immediate' || process.env.INTEREST_ANSWER_FLUSH === 'tick' ? { answerFlush: process.env.INTEREST_ANSWER_FLUSH } : {}),
})
answer({ event: 'ready', port: gateway.port, ...(server.addresses[0] ? { peerUrl: server.addresses[0] } : {}) })

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as InterestServerCommand
  try {
    if (command.cmd === 'stats') {
      const stats = gateway.stats()
      answer({ ...serverStats(stats.connections, command.gc === true), intents: engine.stats.accepted, batches: stats.ephemeralBatches, ...systemCalls(), userCpuMs: process.cpuUsage().user / 1000 })
    } else if (command.cmd === 'peers') {
      answer({ event: 'peers', peers: peer.connectedPeers().length })
    } else {
      break
    }
  } catch (error) {
    answer({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}
await gateway.close()
await server.close()
process.exit(0)
