import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { createRandom, createSystemClock, openWorldDoc, type Intent } from '../core/index.js'
import { signDevToken } from '../gateway/index.js'
import { IntentEngine } from '../resolvers/index.js'
import { openIntentJournal } from '../storage/index.js'
import { demoHandlers } from './demo-game.js'
import type { CliIo } from './io.js'
import { startServer, type ServerHandle } from './server.js'

/** Settings of the demo. */
export interface DemoOptions {
  /** Data directory (created if absent). */
  readonly dataDir: string
  /** Client gateway port; 0 picks a free one. */
  readonly port: number
  /** Simulated players. */
  readonly bots: number
  /** Stop after this many seconds; absent: run until SIGINT/SIGTERM. */
  readonly durationSeconds?: number
  /** Seed of the bots' moves and of the engine. */
  readonly seed: number
}

const WORLD = 'world/demo'
const ITEMS = 20

/** A running demo: the server, its engine, and how to stop it. */
export interface DemoHandle {
  readonly server: ServerHandle
  readonly engine: IntentEngine
  readonly token: string
  readonly url: string
  stop(): Promise<void>
}

/**
 * The main job on embedded defaults: one peer with its client gateway and intent channel, a
 * development secret and a ready-made token, and a few simulated players who walk and pick loot up
 * through the same intent engine clients use, so updates flow as soon as it starts.
 */
export const startDemo = async (options: DemoOptions, io: CliIo): Promise<DemoHandle> => {
  const authSecret = randomBytes(32).toString('base64url')
  const clock = createSystemClock()
  // The engine needs the peer's world document, so it is made after the server; the gateway asks for it per connection.
  let engineRef: IntentEngine | undefined
  const server = await startServer({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    dataDir: options.dataDir,
    admission: { clusterSecret: randomBytes(32).toString('base64url') },
    transport: 'ws',
    logLevel: 'warn',
    gateway: {
      port: options.port,
      key: { kind: 'secret', secret: authSecret },
      intents: {
        engine: () => {
          if (engineRef === undefined) throw new Error('the demo is still starting')
          return engineRef
        },
      },
    },
    peer: { router: { kind: 'latency' } },
  })
  const world = openWorldDoc(server.peer.openDoc(WORLD))
  for (let i = 0; i < ITEMS; i++) if (!world.hasItem(`loot-${i}`)) world.createItem(`loot-${i}`, i % 3 === 0 ? 'sword' : i % 3 === 1 ? 'shield' : 'potion')
  const journal = openIntentJournal(options.dataDir)
  const engine = await IntentEngine.start({ world, worldName: WORLD, clock, seed: options.seed, handlers: demoHandlers, journal })
  engineRef = engine
  const token = await signDevToken({ player: 'visitor', read: ['world/*'], write: ['player/visitor/*'], ttlSeconds: 24 * 3600, secret: authSecret })
  const url = `${server.gatewayUrl}/${WORLD}`
  io.out(
    [
      `realmsync demo: peer ${server.peer.id}, data in ${options.dataDir}`,
      `  world document: ${url}?token=${token}`,
      `  dev auth secret (REALMSYNC_AUTH_SECRET): ${authSecret}`,
      `  token for player "visitor": ${token}`,
      `  intents (realmsync client): ${server.gatewayUrl}/.realmsync/intents?session=<nonce>&token=<token>`,
      `  ${options.bots} simulated players walking and picking up ${ITEMS} items; Ctrl-C stops`,
      '',
    ].join('\n'),
  )

  const random = createRandom(options.seed)
  const seqs = new Map<string, number>()
  const submit = (player: string, action: string, payload: Intent['payload']): void => {
    const seq = (seqs.get(player) ?? 0) + 1
    seqs.set(player, seq)
    void engine.submit(`${player}/bot`, { seq, action, player, payload })
  }
  const tick = setInterval(() => {
    for (let b = 0; b < options.bots; b++) {
      const player = `bot-${b}`
      submit(player, 'move', { dx: random.int(-3, 3), dy: random.int(-3, 3) })
      if (random.chance(0.2)) {
        const item = `loot-${random.int(0, ITEMS - 1)}`
        const holder = world.getItem(item)?.holder
        submit(player, holder?.type === 'player' && holder.id === player ? 'drop' : 'pickup', { item })
      }
    }
  }, 100)
  const report = setInterval(() => {
    const held = world.listItems().filter((item) => item.holder.type === 'player').length
    io.out(`  intents accepted ${engine.stats.accepted}, refused ${engine.stats.rejected}; items held ${held}/${ITEMS}\n`)
  }, 2000)
  report.unref()

  let stopping: Promise<void> | undefined
  return {
    server,
    engine,
    token,
    url,
    stop: () => {
      stopping ??= (async () => {
        clearInterval(tick)
        clearInterval(report)
        await server.close()
        await journal.close()
      })()
      return stopping
    },
  }
}

const integer = (name: string, min: number, max: number) => (value: string): number => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`)
  return parsed
}

/** Adds `realmsync demo` to a commander program. */
export const registerDemoCommand = (program: Command, io: CliIo): Command =>
  program
    .command('demo')
    .description('run one peer with its client gateway, a dev token and simulated players (the quick start)')
    .option('--data <dir>', 'data directory', './realmsync-data')
    .option('--port <n>', 'client gateway port (0 picks a free one)', integer('--port', 0, 65535), 1234)
    .option('--bots <n>', 'simulated players', integer('--bots', 0, 1000), 8)
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', integer('--duration', 1, 86_400))
    .option('--seed <n>', 'seed of the simulated players', integer('--seed', 0, 2 ** 31 - 1), 1)
    .action(async (flags: { data: string; port: number; bots: number; duration?: number; seed: number }) => {
      const demo = await startDemo(
        { dataDir: resolve(flags.data), port: flags.port, bots: flags.bots, seed: flags.seed, ...(flags.duration !== undefined ? { durationSeconds: flags.duration } : {}) },
        io,
      )
      await new Promise<void>((done) => {
        const finish = (): void => {
          process.off('SIGINT', finish)
          process.off('SIGTERM', finish)
          done()
        }
        if (flags.duration !== undefined) setTimeout(finish, flags.duration * 1000)
        process.on('SIGINT', finish)
        process.on('SIGTERM', finish)
      })
      await demo.stop()
      io.out(`realmsync demo: stopped after ${demo.engine.stats.accepted} accepted intents\n`)
    })
