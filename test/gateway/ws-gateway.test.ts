import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { createRandom, createSystemClock } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { defaultAuthenticate, encodeAwarenessEntries, grantsFrom, WS_MESSAGE_AWARENESS, signDevToken, startGateway, WS_MESSAGE_AUTH, WS_MESSAGE_SYNC, type Gateway, type GatewayOptions } from '../../gateway/index.js'

const secret = 'ws-gateway-test-secret-of-at-least-32-bytes'
const authenticate = defaultAuthenticate({ kind: 'secret', secret })

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 4000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const token = (player: string, read: string[], write: string[] = [], clock?: { now: () => number }) =>
  signDevToken({ player, read, write, ttlSeconds: 60, secret, ...(clock ? { clock } : {}) })

/** A raw `ws` client that records every frame and how it closed. */
const rawClient = (port: number, path: string, query = '', headers: Record<string, string> = {}) => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${path}${query}`, { headers })
  const frames: Uint8Array[] = []
  ws.on('message', (data: Buffer) => frames.push(new Uint8Array(data)))
  ws.on('error', () => {})
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const opened = new Promise<void>((resolve) => ws.on('open', () => resolve()))
  return { ws, frames, closed, opened }
}

/** A valid sync step 1 frame from an empty client. */
const syncStep1Probe = (): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, WS_MESSAGE_SYNC)
  syncProtocol.writeSyncStep1(encoder, new Y.Doc())
  return encoding.toUint8Array(encoder)
}

const isSyncStep2 = (frame: Uint8Array) => frame[0] === WS_MESSAGE_SYNC && frame[1] === syncProtocol.messageYjsSyncStep2

const providers: WebsocketProvider[] = []
const provider = (port: number, doc: string, authToken: string) => {
  const ydoc = new Y.Doc()
  const p = new WebsocketProvider(`ws://127.0.0.1:${port}`, doc, ydoc, { WebSocketPolyfill: WebSocket as never, params: { token: authToken }, disableBc: true })
  providers.push(p)
  return { provider: p, doc: ydoc }
}

const network = new MemoryNetwork()
const clock = createSystemClock()
const server = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(1) })
const replica = new Peer({ id: 'b', transport: network.endpoint('b'), clock, random: createRandom(2), acceptDocument: () => true })
const gateways: Gateway[] = []
const gatewayFor = async (options: Partial<GatewayOptions> = {}) => {
  const gateway = await startGateway({ peer: server, port: 0, host: '127.0.0.1', authenticate, closeGraceMs: 2000, ...options })
  gateways.push(gateway)
  return gateway
}
let gateway: Gateway

beforeAll(async () => {
  server.start()
  replica.start()
  network.connectAll()
  server.openDoc('world/1').getMap('m').set('hello', 'world')
  gateway = await gatewayFor()
})

afterAll(async () => {
  for (const p of providers) p.destroy()
  await Promise.all(gateways.map((g) => g.close()))
  server.close()
  replica.close()
})

describe('startGateway with a stock y-websocket provider', () => {
  it('syncs a world document read-only: server content and later server changes reach the client', async () => {
    const client = provider(gateway.port, 'world/1', await token('p1', ['world/*']))
    await waitFor(() => client.provider.synced, 'sync')
    expect(client.doc.getMap('m').get('hello')).toBe('world')
    server.getDoc('world/1')!.getMap('m').set('later', 42)
    await waitFor(() => client.doc.getMap('m').get('later') === 42, 'a server change to reach the client')
  })

  it('refuses writes to a world document with permission-denied and applies them nowhere', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      const client = provider(gateway.port, 'world/1', await token('p2', ['world/*']))
      await waitFor(() => client.provider.synced, 'sync')
      const denied: Uint8Array[] = []
      client.provider.ws!.addEventListener('message', (event) => {
        const bytes = new Uint8Array(event.data as ArrayBuffer)
        if (bytes[0] === WS_MESSAGE_AUTH) denied.push(bytes)
      })
      const before = Y.encodeStateVector(server.getDoc('world/1')!)
      const deniedBefore = gateway.stats().permissionDenied
      client.doc.getMap('m').set('hack', 1)
      client.doc.getMap('m').delete('hello')
      await waitFor(() => denied.length >= 2, 'permission-denied messages')
      expect(warn.mock.calls.some(([message]) => String(message).includes('Permission denied'))).toBe(true)
      expect(gateway.stats().permissionDenied - deniedBefore).toBe(2)
      expect(Y.encodeStateVector(server.getDoc('world/1')!)).toEqual(before)
      expect(server.getDoc('world/1')!.getMap('m').toJSON()).toEqual({ hello: 'world', later: 42 })
    } finally {
      warn.mockRestore()
    }
  })

  it('applies writes to a document wholly the player’s, replicates them, and fans them out to other clients', async () => {
    const writer = provider(gateway.port, 'player/p1/notes', await token('p1', [], ['player/p1/*']))
    const reader = provider(gateway.port, 'player/p1/notes', await token('coach', ['player/p1/*']))
    await waitFor(() => writer.provider.synced && reader.provider.synced, 'sync')
    writer.doc.getText('t').insert(0, 'remember the sword')
    await waitFor(() => server.getDoc('player/p1/notes')?.getText('t').toString() === 'remember the sword', 'the write on the server')
    await waitFor(() => replica.getDoc('player/p1/notes')?.getText('t').toString() === 'remember the sword', 'the write on the replica')
    await waitFor(() => reader.doc.getText('t').toString() === 'remember the sword', 'the write on the other client')
    // A change made on another peer reaches both clients.
    replica.getDoc('player/p1/notes')!.getText('t').insert(0, '!')
    await waitFor(() => writer.doc.getText('t').toString() === '!remember the sword' && reader.doc.getText('t').toString() === '!remember the sword', 'a replica change on both clients')
  })

  it('relays awareness among the clients of a document and removes a client’s states when it leaves', async () => {
    const one = provider(gateway.port, 'world/2', await token('p1', ['world/*']))
    const two = provider(gateway.port, 'world/2', await token('p2', ['world/*']))
    await waitFor(() => one.provider.synced && two.provider.synced, 'sync')
    one.provider.awareness.setLocalStateField('name', 'alice')
    const nameOf = (id: number) => (two.provider.awareness.getStates().get(id) as { name?: string } | undefined)?.name
    await waitFor(() => nameOf(one.doc.clientID) === 'alice', 'awareness relayed')
    // Another connection cannot overwrite a state it did not introduce; its own entries still count.
    const intruder = rawClient(gateway.port, 'world/2', `?token=${await token('p3', ['world/*'])}`)
    await intruder.opened
    const forged = encodeAwarenessEntries([
      { clientId: one.doc.clientID, clock: 1000, state: { name: 'mallory' } },
      { clientId: 77, clock: 1, state: { name: 'intruder' } },
    ])
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, WS_MESSAGE_AWARENESS)
    encoding.writeVarUint8Array(encoder, forged)
    intruder.ws.send(encoding.toUint8Array(encoder))
    await waitFor(() => nameOf(77) === 'intruder', 'the intruder’s own state relayed')
    expect(nameOf(one.doc.clientID)).toBe('alice')
    intruder.ws.close()
    await waitFor(() => !two.provider.awareness.getStates().has(77), 'the intruder’s state removed')
    one.provider.destroy()
    await waitFor(() => !two.provider.awareness.getStates().has(one.doc.clientID), 'awareness removed on disconnect')
  })

  it('lets the provider see an auth refusal as a terminal close', async () => {
    const client = provider(gateway.port, 'world/1', await token('p1', ['world/*'], [], { now: () => Date.now() - 3_600_000 }))
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => client.provider.once('closed', (event) => resolve(event)))
    expect(closed.code).toBe(4401)
    expect(closed.reason).toMatch(/^expired-token/)
  })
})

describe('startGateway refusals', () => {
  it('refuses missing, bad and expired tokens with 4401 and a forbidden document with 4403', async () => {
    const missing = rawClient(gateway.port, 'world/1')
    expect(await missing.closed).toEqual({ code: 4401, reason: expect.stringMatching(/^missing-token/) })
    const bad = rawClient(gateway.port, 'world/1', '?token=not.a.jwt')
    expect((await bad.closed).code).toBe(4401)
    const expired = rawClient(gateway.port, 'world/1', `?token=${await token('p1', ['world/*'], [], { now: () => Date.now() - 3_600_000 })}`)
    expect(await expired.closed).toEqual({ code: 4401, reason: expect.stringMatching(/^expired-token/) })
    const forbidden = rawClient(gateway.port, 'player/p2/notes', `?token=${await token('p1', ['world/*'], ['player/p1/*'])}`)
    expect(await forbidden.closed).toEqual({ code: 4403, reason: expect.stringMatching(/^forbidden-document/) })
    expect(server.getDoc('player/p2/notes')).toBeUndefined()
    // The Authorization header works as well as the query parameter.
    const header = rawClient(gateway.port, 'world/1', '', { authorization: `Bearer ${await token('p1', ['world/*'])}` })
    await waitFor(() => header.frames.length > 0, 'sync step 1 over a Bearer connection')
    header.ws.close()
    const badName = rawClient(gateway.port, '%E0%A4%A', `?token=${await token('p1', ['**'])}`)
    expect((await badName.closed).code).toBe(1008)
  })

  it('closes a connection when its token expires', async () => {
    const shortLived = await startGateway({
      peer: server,
      port: 0,
      host: '127.0.0.1',
      authenticate: async () => ({ ...grantsFrom({ player: 'p1', read: ['world/*'], write: [] }), expiresAt: Date.now() + 150 }),
    })
    gateways.push(shortLived)
    const client = rawClient(shortLived.port, 'world/1')
    expect(await client.closed).toEqual({ code: 4401, reason: 'expired-token: token expired' })
    expect(shortLived.stats().closedExpired).toBe(1)
  })
})

describe('startGateway edges', () => {
  it('answers plain HTTP with 426, refuses a path with no document, and cuts long reasons to fit a close frame', async () => {
    const response = await fetch(`http://127.0.0.1:${gateway.port}/world/1`)
    expect(response.status).toBe(426)
    const empty = rawClient(gateway.port, '', `?token=${await token('p1', ['**'])}`)
    expect((await empty.closed).code).toBe(1008)
    const longName = `world/${'é'.repeat(200)}`
    const forbidden = rawClient(gateway.port, encodeURIComponent(longName), `?token=${await token('p1', ['player/*'])}`)
    const closed = await forbidden.closed
    expect(closed.code).toBe(4403)
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123)
  })

  it('closes with 1011 when the auth hook fails unexpectedly, and closes clients with 1001 on shutdown', async () => {
    const failing = await startGateway({ peer: server, port: 0, host: '127.0.0.1', authenticate: () => Promise.reject(new Error('identity provider down')) })
    const refused = rawClient(failing.port, 'world/1')
    expect((await refused.closed).code).toBe(1011)
    await failing.close()
    const open = await startGateway({ peer: server, port: 0, host: '127.0.0.1', authenticate })
    const client = rawClient(open.port, 'world/1', `?token=${await token('p1', ['world/*'])}`)
    await waitFor(() => client.frames.length > 0, 'sync step 1')
    // A query-awareness message is answered with the (empty) awareness states.
    client.ws.send(Uint8Array.from([3]))
    await waitFor(() => client.frames.some((frame) => frame[0] === WS_MESSAGE_AWARENESS), 'awareness answer')
    await open.close()
    await open.close()
    expect(await client.closed).toEqual({ code: 1001, reason: 'server shutting down' })
  })
})

describe('startGateway under bad input', () => {
  it('survives fuzzed frames: they close only their own connection and never change the document', async () => {
    const writer = provider(gateway.port, 'player/p1/fuzz', await token('p1', [], ['player/p1/*']))
    await waitFor(() => writer.provider.synced, 'sync')
    writer.doc.getMap('m').set('before', 1)
    await waitFor(() => server.getDoc('player/p1/fuzz')?.getMap('m').get('before') === 1, 'first write')
    const before = Y.encodeStateAsUpdate(server.getDoc('player/p1/fuzz')!)
    const fuzzToken = await token('p1', [], ['player/p1/*'])
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.constantFrom(0, 1, 2, 3, 4, 0x80), fc.constantFrom(0, 1, 2, 3), fc.uint8Array({ maxLength: 64 })).map(([a, b, rest]) => Uint8Array.from([a, b, ...rest])),
      // A sync step 2 or update whose body length is right but whose Yjs update is garbage.
      fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ minLength: 1, maxLength: 60 })).map(([kind, body]) => Uint8Array.from([0, kind, body.length, ...body])),
    )
    const closedBefore = gateway.stats().closedMalformed
    let closedByFuzz = 0
    await fc.assert(
      fc.asyncProperty(frame, async (bytes) => {
        const client = rawClient(gateway.port, 'player/p1/fuzz', `?token=${fuzzToken}`)
        await client.opened
        client.ws.send(bytes)
        // Frames are handled in order: a step 2 answer to the probe means the fuzz frame was handled.
        client.ws.send(syncStep1Probe())
        const outcome = await Promise.race([client.closed, waitFor(() => client.frames.some(isSyncStep2), 'probe answer').then(() => 'open' as const)])
        if (outcome === 'open') client.ws.close()
        else {
          expect([1003, 1007, 1008]).toContain(outcome.code)
          closedByFuzz++
        }
        await client.closed
      }),
      { seed: 4242, numRuns: 80 },
    )
    expect(closedByFuzz).toBeGreaterThan(10)
    expect(gateway.stats().closedMalformed - closedBefore).toBe(closedByFuzz)
    expect(Y.encodeStateAsUpdate(server.getDoc('player/p1/fuzz')!)).toEqual(before)
    // The well-behaved client kept working throughout.
    writer.doc.getMap('m').set('after', 2)
    await waitFor(() => server.getDoc('player/p1/fuzz')?.getMap('m').get('after') === 2, 'a write after the fuzzing')
  })

  it('closes a text frame with 1003 and a flooding client with 1008, and no one else', async () => {
    const bystander = provider(gateway.port, 'world/3', await token('p3', ['world/*']))
    await waitFor(() => bystander.provider.synced, 'sync')
    const text = rawClient(gateway.port, 'world/3', `?token=${await token('p1', ['world/*'])}`)
    await text.opened
    text.ws.send('hello')
    expect((await text.closed).code).toBe(1003)
    const flood = rawClient(gateway.port, 'world/3', `?token=${await token('p1', ['world/*'])}`)
    await flood.opened
    const probe = syncStep1Probe()
    for (let i = 0; i < 1000; i++) flood.ws.send(probe)
    expect(await flood.closed).toEqual({ code: 1008, reason: expect.stringMatching(/^rate-limit/) })
    expect(gateway.stats().closedRateLimited).toBe(1)
    server.getDoc('world/3')!.getMap('m').set('still', 'here')
    await waitFor(() => bystander.doc.getMap('m').get('still') === 'here', 'the bystander still syncing')
  })

  it('closes a slow reader with 1013 once its send buffer passes the limit, and no one else', async () => {
    const limited = await gatewayFor({ maxBufferedBytes: 256 * 1024 })
    const reader = provider(limited.port, 'world/slow', await token('p1', ['world/*']))
    await waitFor(() => reader.provider.synced, 'sync')
    const slow = rawClient(limited.port, 'world/slow', `?token=${await token('p2', ['world/*'])}`)
    await waitFor(() => slow.frames.length > 0, 'sync step 1')
    slow.ws.pause()
    const doc = server.getDoc('world/slow')!
    const chunk = 'x'.repeat(1024 * 1024)
    for (let i = 0; i < 48 && limited.stats().closedSlowReaders === 0; i++) {
      doc.getArray<string>('log').push([chunk])
      // The healthy reader drains each chunk before the next, so only the paused one falls behind.
      await waitFor(() => reader.doc.getArray('log').length === i + 1, 'the healthy reader to keep up')
    }
    await waitFor(() => limited.stats().closedSlowReaders === 1, 'the slow reader closed')
    expect(limited.stats().connections).toBe(1)
    slow.ws.resume()
    expect(await slow.closed).toEqual({ code: 1013, reason: expect.stringMatching(/^slow-reader/) })
  })
})
