import { InvalidArgumentError, Option, type Command } from 'commander'
import type { Level } from 'pino'
import { AUTH_SECRET_ENV, MIN_SECRET_BYTES, secretBytes } from '../gateway/index.js'
import { ROUTER_KINDS, type RouterKind } from '../replication/index.js'
import { processIo, type CliIo } from './io.js'
import { startServer, type ServerHandle, type ServerOptions, type ServerTransportKind } from './server.js'

/** The environment variable `serve` reads the cluster secret from (keeps it out of `ps`). */
export const CLUSTER_SECRET_ENV = 'REALMSYNC_CLUSTER_SECRET'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** The flags of `realmsync serve`, as commander hands them over. */
export interface ServeFlags {
  readonly listen: string
  readonly bootstrap?: string
  readonly data: string
  readonly region?: string
  readonly clusterSecret?: string
  readonly allow?: string
  readonly accept?: string
  readonly metricsPort?: number
  readonly metricsHost?: string
  readonly logLevel: (typeof LOG_LEVELS)[number]
  readonly transport: ServerTransportKind
  readonly router?: RouterKind
  readonly d?: number
  readonly port?: number
  readonly gatewayHost?: string
  readonly authSecret?: string
  readonly gatewayUrl?: string
  readonly epochs?: boolean
  readonly epochRatio?: number
  readonly epochMinBytes?: number
  readonly spectators?: boolean
  readonly spectatorMinDelay?: number
}

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)

const port = (value: string): number => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535')
  return parsed
}

/** Turns parsed flags (and the environment) into server options; throws on unusable combinations. */
export const serveOptionsFrom = (flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServerOptions => {
  const secret = flags.clusterSecret ?? env[CLUSTER_SECRET_ENV]
  const allowList = list(flags.allow)
  if (!secret && allowList.length === 0) {
    throw new InvalidArgumentError(`serve needs cluster admission: --cluster-secret, ${CLUSTER_SECRET_ENV}, or --allow <peer-id,...>`)
  }
  let acceptDocuments: RegExp | undefined
  if (flags.accept !== undefined) {
    try {
      acceptDocuments = new RegExp(flags.accept, 'u')
    } catch (error) {
      throw new InvalidArgumentError(`--accept is not a valid regular expression: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  if (!flags.epochs && (flags.epochRatio !== undefined || flags.epochMinBytes !== undefined)) throw new InvalidArgumentError('--epoch-ratio and --epoch-min-bytes need --epochs')
  const epochs = flags.epochs
    ? { ...(flags.epochRatio !== undefined ? { maxSizeRatio: flags.epochRatio } : {}), ...(flags.epochMinBytes !== undefined ? { minBytes: flags.epochMinBytes } : {}) }
    : undefined
  if (flags.spectatorMinDelay !== undefined && !flags.spectators) throw new InvalidArgumentError('--spectator-min-delay needs --spectators')
  if (flags.spectators && flags.port === undefined) throw new InvalidArgumentError('--spectators are served by the client gateway: add --port')
  let gateway: ServerOptions['gateway']
  if (flags.port !== undefined) {
    const authSecret = flags.authSecret ?? env[AUTH_SECRET_ENV]
    if (!authSecret) throw new InvalidArgumentError(`--port starts the client gateway, which needs --auth-secret or ${AUTH_SECRET_ENV} to verify tokens`)
    if (secretBytes(authSecret).length < MIN_SECRET_BYTES) throw new InvalidArgumentError(`the auth secret must be at least ${MIN_SECRET_BYTES} bytes`)
    if (flags.gatewayUrl !== undefined && !/^wss?:\/\/[^/]+\/?$/.test(flags.gatewayUrl)) throw new InvalidArgumentError('--gateway-url must be a ws:// or wss:// base URL, e.g. ws://10.0.0.2:8080')
    gateway = {
      port: flags.port,
      key: { kind: 'secret', secret: authSecret },
      ...(flags.gatewayHost ? { host: flags.gatewayHost } : {}),
      ...(flags.gatewayUrl !== undefined ? { sessions: { url: flags.gatewayUrl.replace(/\/$/, '') } } : {}),
      ...(flags.spectators ? { spectators: flags.spectatorMinDelay !== undefined ? { minDelayMs: flags.spectatorMinDelay } : {} } : {}),
    }
  }
  return {
    ...(gateway ? { gateway } : {}),
    listen: list(flags.listen),
    bootstrap: list(flags.bootstrap),
    dataDir: flags.data,
    admission: { ...(secret ? { clusterSecret: secret } : {}), ...(allowList.length > 0 ? { allowList } : {}) },
    transport: flags.transport,
    logLevel: flags.logLevel as Level | 'silent',
    ...(flags.region ? { region: flags.region } : {}),
    ...(acceptDocuments ? { acceptDocuments } : {}),
    ...(flags.metricsPort !== undefined ? { metricsPort: flags.metricsPort } : {}),
    ...(flags.metricsHost ? { metricsHost: flags.metricsHost } : {}),
    peer: {
      router: { kind: flags.router ?? 'latency', ...(flags.d !== undefined ? { d: flags.d } : {}) },
      ...(epochs !== undefined ? { epochs } : {}),
    },
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
const untilSignalled = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(signal)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })

/**
 * Drains `server` on every SIGUSR2 (sessions handed to other peers; the process keeps running until
 * SIGINT/SIGTERM), reporting on `io`. Returns the function that stops listening.
 */
export const drainOnSignal = (server: Pick<ServerHandle, 'drain'>, io: CliIo, signal: NodeJS.Signals = 'SIGUSR2'): (() => void) => {
  const onSignal = (): void => {
    server.drain().then(
      (report) => io.err(`realmsync serve: drained, ${report.handedOff.length} session(s) handed off${report.handedOff.length > 0 ? ` to ${[...new Set(report.handedOff.map((h) => h.to))].join(', ')}` : ''}\n`),
      (error: unknown) => io.err(`realmsync serve: drain failed: ${error instanceof Error ? error.message : String(error)}\n`),
    )
  }
  process.on(signal, onSignal)
  return () => process.off(signal, onSignal)
}

/**
 * Adds `serve` to a commander program: runs a game-server peer until SIGINT or SIGTERM, then
 * shuts it down cleanly (pending writes flushed); with the gateway on, SIGUSR2 drains it. `started` sees the running server (tests).
 */
export const registerServeCommand = (
  program: Command,
  io: CliIo = processIo,
  started: (server: ServerHandle) => void = () => {},
  stopSignal: () => Promise<unknown> = untilSignalled,
): Command =>
  program
    .command('serve')
    .description('run a game-server peer: replicate documents with the cluster, store them, expose metrics')
    .requiredOption('--listen <multiaddr,...>', 'addresses to listen on, e.g. /ip4/0.0.0.0/tcp/4001')
    .option('--bootstrap <multiaddr,...>', 'peers to keep connected (this peer own address is skipped)')
    .requiredOption('--data <dir>', 'data directory: peer key and document store (created if absent)')
    .option('--region <label>', 'region label for logs and metrics')
    .option('--cluster-secret <secret>', `cluster admission secret, at least 16 bytes (or env ${CLUSTER_SECRET_ENV})`)
    .option('--allow <peer-id,...>', 'peer ids admitted without the secret')
    .option('--accept <regex>', 'accept documents from peers only if their name matches (default: every valid name)')
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://<metrics-host>:<n>/metrics', port)
    .option('--metrics-host <host>', 'host the metrics endpoint binds', '127.0.0.1')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--transport <kind>', 'network transport between peers').choices(['libp2p', 'ws']).default('libp2p'))
    .option('--port <n>', 'serve clients over WebSocket (y-websocket protocol) on this port', port)
    .option('--gateway-host <host>', 'host the client gateway binds (default 127.0.0.1)')
    .option('--gateway-url <url>', 'base URL clients reach this gateway at, announced to other peers for session redirects (default ws://<gateway-host>:<port>)')
    .option('--auth-secret <secret>', `HS256 secret that client tokens are signed with, at least ${MIN_SECRET_BYTES} bytes (or env ${AUTH_SECRET_ENV})`)
    .addOption(new Option('--router <kind>', 'how updates spread between peers').choices([...ROUTER_KINDS]).default('latency'))
    .option('--d <n>', 'fan-out of the dissemination trees (mesh degree for --router random)', (value: string) => {
      const parsed = Number(value)
      if (!Number.isInteger(parsed) || parsed < 1 || parsed > 64) throw new InvalidArgumentError('must be an integer from 1 to 64')
      return parsed
    })
    .option('--epochs', 'document epochs: a document past its size bound moves to a fresh replica holding only its content (docs/epochs.md); gateway clients resync')
    .option('--epoch-ratio <x>', 'with --epochs, cut when a document encodes to more than x times its live content (default 4)', (value: string) => {
      const parsed = Number(value)
      if (!(parsed > 1) || !Number.isFinite(parsed)) throw new InvalidArgumentError('must be a number above 1')
      return parsed
    })
    .option('--epoch-min-bytes <n>', 'with --epochs, never cut a document smaller than n encoded bytes (default 4096)', (value: string) => {
      const parsed = Number(value)
      if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be a whole number of bytes')
      return parsed
    })
    .option('--spectators', 'serve delayed, filtered spectator views on /.realmsync/spectate/<document>?delay=<ms> (docs/spectator.md); needs --port')
    .option('--spectator-min-delay <ms>', 'with --spectators, the smallest delay a spectator may ask for (default 2000)', (value: string) => {
      const parsed = Number(value)
      if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be a whole number of milliseconds')
      return parsed
    })
    .action(async (flags: ServeFlags) => {
      const server = await startServer(serveOptionsFrom(flags))
      io.err(
        `realmsync serve: peer ${server.peer.id} listening on ${server.addresses.join(' ')}${server.gatewayUrl ? `, clients at ${server.gatewayUrl}/<document>` : ''}${server.metricsUrl ? `, metrics at ${server.metricsUrl}` : ''}\n`,
      )
      const stopDraining = server.gatewayUrl !== undefined ? drainOnSignal(server, io) : () => {}
      started(server)
      await stopSignal()
      stopDraining()
      await server.close()
    })
