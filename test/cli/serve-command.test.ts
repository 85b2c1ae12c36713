import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import {
  buildProgram,
  CLUSTER_SECRET_ENV,
  registerServeCommand,
  serveOptionsFrom,
  startServer,
  wsListenAddress,
  wsPeerUrl,
  type ServeFlags,
  type ServerHandle,
  type ServerOptions,
} from '../../cli/index.js'
import { waitFor } from '../helpers/network.js'

const SECRET = 'serve-command-test-secret'
const dirs: string[] = []
const servers: ServerHandle[] = []
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-serve-cmd-'))
  dirs.push(dir)
  return dir
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const flags = (extra: Partial<ServeFlags> = {}): ServeFlags => ({ listen: '/ip4/127.0.0.1/tcp/0', data: '/tmp/x', logLevel: 'silent', transport: 'libp2p', ...extra })

describe('realmsync serve', () => {
  it('turns flags and the environment into server options', () => {
    const options = serveOptionsFrom(flags({ bootstrap: '/ip4/10.0.0.1/tcp/1, /ip4/10.0.0.2/tcp/2', region: 'eu', accept: '^world/1/', metricsPort: 9100 }), {
      [CLUSTER_SECRET_ENV]: SECRET,
    })
    expect(options).toMatchObject({ bootstrap: ['/ip4/10.0.0.1/tcp/1', '/ip4/10.0.0.2/tcp/2'], region: 'eu', metricsPort: 9100, admission: { clusterSecret: SECRET } })
    expect(options.peer).toEqual({ router: { kind: 'latency' } })
    expect(serveOptionsFrom(flags({ router: 'random', d: 8, clusterSecret: SECRET })).peer).toEqual({ router: { kind: 'random', d: 8 } })
    expect(options.acceptDocuments?.test('world/1/economy')).toBe(true)
    expect(options.acceptDocuments?.test('world/2/economy')).toBe(false)
    expect(serveOptionsFrom(flags({ clusterSecret: 'flag-wins-over-env!!' }), { [CLUSTER_SECRET_ENV]: SECRET }).admission.clusterSecret).toBe('flag-wins-over-env!!')
    expect(serveOptionsFrom(flags({ allow: '12D3KooWa,12D3KooWb' }), {}).admission).toEqual({ allowList: ['12D3KooWa', '12D3KooWb'] })
    expect(() => serveOptionsFrom(flags(), {})).toThrow(/needs cluster admission/)
    expect(() => serveOptionsFrom(flags({ clusterSecret: SECRET, accept: '(' }), {})).toThrow(/not a valid regular expression/)
  })

  it('maps multiaddrs to WebSocket addresses', () => {
    expect(wsListenAddress('/ip4/127.0.0.1/tcp/4001')).toEqual({ host: '127.0.0.1', port: 4001 })
    expect(wsListenAddress('ws://0.0.0.0:9')).toEqual({ host: '0.0.0.0', port: 9 })
    expect(wsPeerUrl('/ip6/::1/tcp/5/ws')).toBe('ws://[::1]:5')
    expect(wsPeerUrl('ws://h:1')).toBe('ws://h:1')
    expect(() => wsListenAddress('/ip4/1.2.3.4/udp/5')).toThrow(/no host and TCP port/)
    expect(() => wsListenAddress('garbage')).toThrow(/bad address/)
  })

  it('is registered in the program', () => {
    expect(buildProgram({ out: () => {}, err: () => {} }).commands.map((command) => command.name())).toContain('serve')
  })

  it('runs until told to stop, with a Prometheus endpoint', async () => {
    const err: string[] = []
    let stop: () => void = () => {}
    const stopped = new Promise<void>((resolve) => (stop = resolve))
    let server: ServerHandle | undefined
    const program = new Command('realmsync').exitOverride()
    registerServeCommand(program, { out: () => {}, err: (text) => err.push(text) }, (started) => (server = started), () => stopped)
    const dataDir = tempDir()
    const run = program.parseAsync(['serve', '--listen', '/ip4/127.0.0.1/tcp/0', '--data', dataDir, '--cluster-secret', SECRET, '--metrics-port', '0', '--log-level', 'silent', '--region', 'eu-central'], { from: 'user' })
    await waitFor(() => server !== undefined)
    expect(err.join('')).toMatch(/peer 12D3KooW\w+ listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    const metrics = await (await fetch(server!.metricsUrl!)).text()
    expect(metrics).toMatch(/realmsync_frames_sent_total\{peer="12D3KooW\w+",region="eu-central"\} 0/)
    expect(metrics).toContain('realmsync_transport_links_admitted_total')
    expect(metrics).toContain('process_cpu_seconds_total')
    const health = (await (await fetch(server!.metricsUrl!.replace('/metrics', '/healthz'))).json()) as Record<string, unknown>
    expect(health).toMatchObject({ id: server!.peer.id, region: 'eu-central', connectedPeers: [] })
    expect((await fetch(server!.metricsUrl!.replace('/metrics', '/nope'))).status).toBe(404)
    stop()
    await run
    expect(server!.transport.connectedPeers()).toEqual([])
  })

  for (const transport of ['libp2p', 'ws'] as const) {
    it(`replicates between two servers over ${transport}, stores documents and restores them at restart`, async () => {
      const options = { dataDir: '', admission: { clusterSecret: SECRET }, logLevel: 'silent' as const, transport, peer: { antiEntropyIntervalMs: 200 } }
      const a = await startServer({ ...options, dataDir: tempDir(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] })
      servers.push(a)
      const bDir = tempDir()
      const b = await startServer({ ...options, dataDir: bDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [...a.addresses], acceptDocuments: /^world\/1\// })
      servers.push(b)
      await waitFor(() => a.peer.connectedPeers().length === 1 && b.peer.connectedPeers().length === 1, 5000, 'connected')
      a.peer.openDoc('world/1/economy').getMap('kv').set('gold', 5)
      a.peer.openDoc('world/2/economy').getMap('kv').set('gold', 9)
      await waitFor(() => b.peer.getDoc('world/1/economy')?.getMap('kv').get('gold') === 5, 5000, 'replicated')
      await new Promise((resolve) => setTimeout(resolve, 300))
      // b accepts only world/1/*.
      expect(b.peer.getDoc('world/2/economy')).toBeUndefined()
      await b.close()
      const again = await startServer({ ...options, dataDir: bDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] })
      servers.push(again)
      expect(again.peer.id).toBe(b.peer.id)
      expect(again.peer.getDoc('world/1/economy')?.getMap('kv').get('gold')).toBe(5)
    })
  }
})

describe('serve with the client gateway', () => {
  const AUTH = 'a-client-token-secret-of-32-bytes!!'

  /** A ws-transport server on free ports with the client gateway on, kept for cleanup. */
  const startGatewayServer = async (gateway: Partial<NonNullable<ServerOptions['gateway']>>, extra: Partial<ServerOptions> = {}) => {
    const server = await startServer({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      dataDir: tempDir(),
      admission: { clusterSecret: SECRET },
      transport: 'ws',
      logLevel: 'silent',
      ...extra,
      gateway: { port: 0, key: { kind: 'secret', secret: AUTH }, ...gateway },
    })
    servers.push(server)
    return server
  }

  it('needs an auth secret for --port, from the flag or the environment', () => {
    const base = { listen: '/ip4/127.0.0.1/tcp/0', data: '/tmp/x', clusterSecret: SECRET, logLevel: 'silent', transport: 'ws' } as const
    expect(() => serveOptionsFrom({ ...base, port: 0 }, {})).toThrow(/--auth-secret or REALMSYNC_AUTH_SECRET/)
    expect(() => serveOptionsFrom({ ...base, port: 0, authSecret: 'short' }, {})).toThrow(/at least 32 bytes/)
    expect(serveOptionsFrom({ ...base, port: 0 }, { REALMSYNC_AUTH_SECRET: AUTH }).gateway).toEqual({ port: 0, key: { kind: 'secret', secret: AUTH } })
    expect(serveOptionsFrom(base, {}).gateway).toBeUndefined()
  })

  it('serves documents to a y-websocket client holding a token', async () => {
    const { signDevToken } = await import('../../gateway/index.js')
    const { default: WebSocket } = await import('ws')
    const server = await startGatewayServer({})
    expect(server.gatewayUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    server.peer.openDoc('world/1').getMap('m').set('hello', 'world')
    const token = await signDevToken({ player: 'p1', read: ['world/*'], write: [], ttlSeconds: 60, secret: AUTH })
    const client = new WebSocket(`${server.gatewayUrl}/world/1?token=${token}`)
    const first = await new Promise<Uint8Array>((resolve, reject) => {
      client.once('message', (data: Buffer) => resolve(new Uint8Array(data)))
      client.once('error', reject)
    })
    // y-websocket framing: message type 0 (sync), then sync step 1 (0).
    expect([...first.subarray(0, 2)]).toEqual([0, 0])
    client.close()
    const refused = new WebSocket(`${server.gatewayUrl}/world/1`)
    const code = await new Promise<number>((resolve) => refused.once('close', (closeCode: number) => resolve(closeCode)))
    expect(code).toBe(4401)
  })

  it('turns the spectator flags into options and refuses them without the gateway', () => {
    const base = { listen: '/ip4/127.0.0.1/tcp/0', data: '/tmp/x', clusterSecret: SECRET, logLevel: 'silent', transport: 'ws', authSecret: AUTH } as const
    expect(serveOptionsFrom({ ...base, port: 0, spectators: true }, {}).gateway?.spectators).toEqual({})
    expect(serveOptionsFrom({ ...base, port: 0, spectators: true, spectatorMinDelay: 500 }, {}).gateway?.spectators).toEqual({ minDelayMs: 500 })
    expect(serveOptionsFrom({ ...base, port: 0 }, {}).gateway?.spectators).toBeUndefined()
    expect(() => serveOptionsFrom({ ...base, spectators: true }, {})).toThrow(/add --port/)
    expect(() => serveOptionsFrom({ ...base, port: 0, spectatorMinDelay: 500 }, {})).toThrow(/needs --spectators/)
  })

  it('serves spectator views next to the gateway, with their metrics', async () => {
    const { signDevToken } = await import('../../gateway/index.js')
    const { default: WebSocket } = await import('ws')
    const server = await startGatewayServer({ spectators: { minDelayMs: 100 } }, { metricsPort: 0 })
    server.peer.openDoc('world/1').getMap('m').set('hello', 'world')
    const token = await signDevToken({ player: 'viewer', read: ['world/*'], write: [], ttlSeconds: 60, secret: AUTH })
    const spectator = new WebSocket(`${server.gatewayUrl}/.realmsync/spectate/world/1?token=${token}&delay=100`)
    const first = await new Promise<Uint8Array>((resolve, reject) => {
      spectator.once('message', (data: Buffer) => resolve(new Uint8Array(data)))
      spectator.once('error', reject)
      // A spectator speaks first: sync step 1 with an empty state vector (views may be rebuilt, so the room reads it before answering).
      spectator.once('open', () => spectator.send(new Uint8Array([0, 0, 1, 0])))
    })
    expect(first[0]).toBe(0)
    const metrics = await (await fetch(server.metricsUrl as string)).text()
    expect(metrics).toMatch(/realmsync_spectators_connected\{[^}]*\} 1/)
    spectator.close()
    const tooSoon = new WebSocket(`${server.gatewayUrl}/.realmsync/spectate/world/1?token=${token}&delay=10`)
    const code = await new Promise<number>((resolve) => tooSoon.once('close', (closeCode: number) => resolve(closeCode)))
    expect(code).toBe(1008)
  })
})
