import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { encodeIntentResult, encodeSessionBatch } from '../../core/index.js'
import { createRealmsyncClient, type RealmsyncClient, type WebSocketConstructor } from '../../client/index.js'
import { token } from '../gateway/intent-fixture.js'

// The client's session side against a scripted fake gateway: what a misbehaving or looping server
// can do to it.

const servers: WebSocketServer[] = []
const clients: RealmsyncClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()))
})

const fakeGateway = async (onConnection: (ws: WebSocket, url: string, count: number) => void): Promise<{ url: string; connections: () => number }> => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  servers.push(server)
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const address = server.address()
  const url = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  let count = 0
  server.on('connection', (ws, request) => onConnection(ws, request.url ?? '', ++count))
  return { url, connections: () => count }
}

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('the client’s session side', () => {
  it('reports control frames and answers that do not decode, drops stray answers, and keeps its session', async () => {
    const gateway = await fakeGateway((ws) => {
      ws.send(JSON.stringify({ v: 1, type: 'session', session: 's', resumeToken: 'tok', home: 'fake', lastAckedSeq: 0 }))
      ws.send('{"v":1,"type":"warp"}')
      ws.send(new Uint8Array([0xff, 0xff]))
      ws.send(encodeIntentResult({ type: 'ack', seq: 99, result: null }))
    })
    const errors: Error[] = []
    const sessions: string[] = []
    const c = createRealmsyncClient({ url: gateway.url, token: await token('p'), WebSocket: WebSocket as unknown as WebSocketConstructor, onError: (e) => errors.push(e), onSession: (s) => sessions.push(s.home) })
    clients.push(c)
    await waitFor(() => errors.length === 2, 'two errors')
    expect(errors[0]?.message).toMatch(/session control message refused/)
    expect(c.home).toBe('fake')
    expect(c.resumeToken).toBe('tok')
    expect(sessions).toEqual(['fake'])
  })

  it('reads batch frames: ephemeral items are in view before the answers after them resolve; a frame that does not decode is refused whole', async () => {
    let query = ''
    const gateway = await fakeGateway((ws, url) => {
      query = url
      ws.send(JSON.stringify({ v: 1, type: 'session', session: 's', resumeToken: 'tok', home: 'fake', lastAckedSeq: 0 }))
      ws.on('message', (data, isBinary) => {
        if (!isBinary) return
        const good = encodeSessionBatch([
          { kind: 'ephemeral', entries: [{ entity: 'orc', field: 'position', value: { x: 1, y: 2 } }], gone: [] },
          { kind: 'answer', result: { type: 'ack', seq: 1, result: 'moved' } },
        ])
        // The same frame cut short, carrying an answer that must not resolve and a register that must not land.
        ws.send(encodeSessionBatch([{ kind: 'ephemeral', entries: [{ entity: 'troll', field: 'hp', value: 1 }], gone: [] }, { kind: 'answer', result: { type: 'ack', seq: 1, result: 'wrong' } }]).subarray(0, 20))
        ws.send(good)
      })
    })
    const errors: Error[] = []
    const c = createRealmsyncClient({ url: gateway.url, token: await token('p'), WebSocket: WebSocket as unknown as WebSocketConstructor, onError: (e) => errors.push(e) })
    clients.push(c)
    await waitFor(() => c.home === 'fake', 'greeting')
    expect(new URL(query, 'ws://x').searchParams.get('batch')).toBe('1')
    const answer = await c.send('move', { x: 1 }).then((result) => ({ result, orc: c.ephemeral.get('orc') }))
    expect(answer).toEqual({ result: { type: 'ack', seq: 1, result: 'moved' }, orc: { position: { x: 1, y: 2 } } })
    expect(c.ephemeral.has('troll')).toBe(false)
    expect(errors).toHaveLength(1)
  })

  it('follows a few redirects at once, then backs off like a drop, so two disagreeing peers cannot make it spin', async () => {
    const urls: string[] = []
    const gateway = await fakeGateway((ws, url) => {
      urls.push(url)
      ws.send(JSON.stringify({ v: 1, type: 'redirect', url: address(), peer: 'self', handoff: true }))
      ws.close(4300, 'redirect')
    })
    const address = () => gateway.url
    const c = createRealmsyncClient({ url: gateway.url, token: await token('p'), WebSocket: WebSocket as unknown as WebSocketConstructor, baseMs: 60_000, capMs: 60_000 })
    clients.push(c)
    await waitFor(() => gateway.connections() === 4, 'the first connection and three quick redirects')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(gateway.connections()).toBe(4)
    expect(c.stats().redirects).toBe(4)
    // Every connection after a handoff redirect says so, so the target knows to wait for the record.
    expect(urls.slice(1).every((url) => new URL(url, 'ws://x').searchParams.get('handoff') === '1')).toBe(true)
    expect(new URL(urls[0] as string, 'ws://x').searchParams.get('handoff')).toBeNull()
  })
})
