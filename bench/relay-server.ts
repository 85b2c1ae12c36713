// One server process of the relay benchmarks: realmsync's gateway on a peer (as `realmsync serve`
// runs it: startServer, then the gateway on that peer), the y-websocket reference server
// (@y/websocket-server's setupWSConnection, as its bin/server.js wires it), or a Hocuspocus server
// with no extensions, or the floor (relay-floor-server.ts: a bare ws forwarder). It holds nothing but the server, so its CPU and memory are the server's own;
// it answers `stats` with them (run under --expose-gc, `gc: true` collects first).
//
// usage: relay-server '<RelayServerConfig as JSON>'
import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import pino from 'pino'
import { serverStats } from './server-stats.js'
import { RELAY_CLUSTER_SECRET, RELAY_SECRET, type RelayServerAnswer, type RelayServerCommand, type RelayServerConfig } from './relay-protocol.js'

/** A started server: its port, connection count and shutdown. */
interface RunningServer {
  readonly port: number
  readonly peerUrl?: string
  connections(): number
  peers(): number
  close(): Promise<void>
}

const answer = (value: RelayServerAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const listen = (server: HttpServer, host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port))
  })

const startRealmsync = async (config: RelayServerConfig): Promise<RunningServer> => {
  const { startServer } = await import('../cli/index.js')
  const { defaultAuthenticate, startGateway } = await import('../gateway/index.js')
  if (!config.dataDir) throw new Error('realmsync needs a data directory')
  const server = await startServer({
    listen: [config.peerListen ?? `ws://${config.host}:0`],
    bootstrap: config.peerBootstrap ?? [],
    transport: 'ws',
    dataDir: config.dataDir,
    admission: { clusterSecret: RELAY_CLUSTER_SECRET },
    logger: pino({ level: 'warn' }, pino.destination(2)),
    backoff: { initialMs: 100, maxMs: 1000 },
    // In memory, as the other two servers keep their documents; no snapshots or re-validation in the store.
    store: { durability: 'memory', snapshotEvery: 0, validateAppends: false },
  })
  // startServer's own gateway with the same defaults; started here so its counters can be read.
  const gateway = await startGateway({ peer: server.peer, port: 0, host: config.host, authenticate: defaultAuthenticate({ kind: 'secret', secret: RELAY_SECRET }),
    ...(config.messagesPerSecond ? { messagesPerSecond: config.messagesPerSecond, burstMessages: 2 * config.messagesPerSecond } : {}),
  })
  return {
    port: gateway.port,
    peerUrl: server.addresses[0],
    connections: () => gateway.stats().connections,
    peers: () => server.peer.connectedPeers().length,
    close: async () => {
      await gateway.close()
      await server.close()
    },
  }
}

const startYWebsocketServer = async (config: RelayServerConfig): Promise<RunningServer> => {
  const { WebSocketServer } = await import('ws')
  const utils = (await import('@y/websocket-server/utils')) as unknown as {
    setupWSConnection: (conn: unknown, req: unknown) => void
    docs: Map<string, { destroy(): void; conns: Map<unknown, unknown> }>
  }
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (ws, request) => utils.setupWSConnection(ws, request))
  const http = createServer((_request, response) => response.writeHead(200).end('okay'))
  http.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request)))
  const port = await listen(http, config.host)
  return {
    port,
    connections: () => wss.clients.size,
    peers: () => 0,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await new Promise<void>((resolve) => http.close(() => resolve()))
      // Its documents keep a timer each: destroy them so the process can exit.
      for (const doc of utils.docs.values()) doc.destroy()
      utils.docs.clear()
    },
  }
}

const startHocuspocus = async (config: RelayServerConfig): Promise<RunningServer> => {
  const { Server } = await import('@hocuspocus/server')
  // Defaults but for the idle timeout: the benchmark's readers only listen, and Hocuspocus drops a
  // connection that sends nothing for `timeout` (60 s); the stock provider keeps it alive by itself.
  const server = new Server({
    port: 0,
    address: config.host,
    quiet: true,
    stopOnSignals: false,
    timeout: 600_000,
    ...(config.system === 'hocuspocus-unbatched' ? { flushDelay: false as const } : {}),
  })
  await server.listen()
  return {
    port: server.address.port,
    connections: () => server.hocuspocus.getConnectionsCount(),
    peers: () => 0,
    close: async () => {
      await server.destroy()
    },
  }
}

const startFloor = async (config: RelayServerConfig): Promise<RunningServer> => {
  const { FloorRelay } = await import('./relay-floor-server.js')
  const relay = new FloorRelay({ corked: config.system === 'floor-corked' })
  const http = createServer((_request, response) => response.writeHead(200).end('okay'))
  http.on('upgrade', (request, socket, head) => relay.wss.handleUpgrade(request, socket, head, (ws) => relay.wss.emit('connection', ws, request)))
  const port = await listen(http, config.host)
  return {
    port,
    connections: () => relay.connections,
    peers: () => 0,
    close: async () => {
      for (const client of relay.wss.clients) client.terminate()
      await new Promise<void>((resolve) => relay.wss.close(() => resolve()))
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

const config = JSON.parse(process.argv[2] ?? '{}') as RelayServerConfig
const starters: Record<RelayServerConfig['system'], (config: RelayServerConfig) => Promise<RunningServer>> = {
  realmsync: startRealmsync,
  'y-websocket-server': startYWebsocketServer,
  hocuspocus: startHocuspocus,
  'hocuspocus-unbatched': startHocuspocus,
  floor: startFloor,
  'floor-corked': startFloor,
}
const running = await starters[config.system](config)
answer({ event: 'ready', port: running.port, ...(running.peerUrl ? { peerUrl: running.peerUrl } : {}) })

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as RelayServerCommand
  try {
    if (command.cmd === 'stats') {
      answer(serverStats(running.connections(), command.gc === true))
    } else if (command.cmd === 'peers') {
      answer({ event: 'peers', peers: running.peers() })
    } else {
      break
    }
  } catch (error) {
    answer({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}
await running.close()
process.exit(0)
