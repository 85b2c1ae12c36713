import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startServer, type ServerHandle } from '../../cli/server.js'
import { drainOnSignal, serveOptionsFrom } from '../../cli/serve-command.js'

// `startServer`'s drain and the SIGUSR2 wiring of `realmsync serve`, in process (the two-process
// handoff test runs the same code in child processes, where coverage cannot see it).

const SECRET = 'server-drain-test-cluster-secret'
const AUTH = 'server-drain-test-auth-secret-of-32-bytes!'
const dirs: string[] = []
const servers: ServerHandle[] = []

afterAll(async () => {
  for (const server of servers) await server.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const start = async (gateway: boolean, bootstrap: string[] = []): Promise<ServerHandle> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'realmsync-drain-'))
  dirs.push(dataDir)
  const server = await startServer({
    listen: ['ws://127.0.0.1:0'],
    bootstrap,
    dataDir,
    admission: { clusterSecret: SECRET },
    transport: 'ws',
    logLevel: 'silent',
    backoff: { initialMs: 50, maxMs: 200 },
    ...(gateway ? { gateway: { port: 0, key: { kind: 'secret' as const, secret: AUTH } } } : {}),
  })
  servers.push(server)
  return server
}

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('serve --gateway-url', () => {
  it('announces the given base URL for redirects and refuses anything but a ws(s) base URL', () => {
    const base = { listen: 'ws://127.0.0.1:0', data: '/tmp/x', clusterSecret: SECRET, logLevel: 'silent', transport: 'ws', port: 0, authSecret: AUTH } as const
    expect(serveOptionsFrom({ ...base, gatewayUrl: 'wss://game.example:443/' }, {}).gateway?.sessions).toEqual({ url: 'wss://game.example:443' })
    expect(serveOptionsFrom(base, {}).gateway?.sessions).toBeUndefined()
    expect(() => serveOptionsFrom({ ...base, gatewayUrl: 'http://x' }, {})).toThrow(/--gateway-url/)
  })
})

describe('server drain', () => {
  it('drains through the API and on SIGUSR2, and refuses without a gateway or a target', async () => {
    const bare = await start(false)
    await expect(bare.drain()).rejects.toThrow(/needs the client gateway/)

    const a = await start(true)
    await expect(a.drain()).rejects.toThrow(/no connected peer/)
    const b = await start(true, [a.addresses[0] as string])
    await waitFor(() => a.peer.connectedPeers().includes(b.peer.id), 'peers connected')
    await waitFor(() => a.peer.getDoc('realmsync/sessions')?.getMap('gateways').has(b.peer.id) === true, 'b announced')

    const lines: string[] = []
    const stop = drainOnSignal(a, { out: () => {}, err: (text) => lines.push(text) }, 'SIGUSR2')
    process.emit('SIGUSR2')
    await waitFor(() => lines.length === 1, 'drain report')
    expect(lines[0]).toMatch(/drained, 0 session\(s\) handed off/)
    stop()
    expect((await a.drain(b.peer.id)).handedOff).toEqual([])

    const failing: string[] = []
    const stopFailing = drainOnSignal({ drain: () => Promise.reject(new Error('nowhere to go')) }, { out: () => {}, err: (text) => failing.push(text) }, 'SIGUSR2')
    process.emit('SIGUSR2')
    await waitFor(() => failing.length === 1, 'failure report')
    expect(failing[0]).toMatch(/drain failed: nowhere to go/)
    stopFailing()
  })
})
