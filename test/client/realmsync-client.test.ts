import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { WebSocket } from 'ws'
import { createRandom, openWorldDoc, type IntentResult } from '../../core/index.js'
import { createRealmsyncClient, IntentChannelClosedError, isFinalClose, reconnectDelay, RealmsyncClientError, tokenSubject, type RealmsyncClient, type WebSocketConstructor } from '../../client/index.js'
import { startIntentWorld, stepHook, stepsOf, token } from '../gateway/intent-fixture.js'
import { startTcpProxy } from './tcp-proxy.js'

type World = Awaited<ReturnType<typeof startIntentWorld>>
let world: World
const clients: RealmsyncClient[] = []

beforeAll(async () => {
  world = await startIntentWorld()
  world.peer.getDoc('world/1')!.getMap('notice').set('motd', 'welcome')
})
afterAll(async () => {
  for (const client of clients) client.close()
  await world.close()
})

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const seeded = createRandom(11)
const client = (port: number, authToken: string, documents: string[] = [], extra: { baseMs?: number; capMs?: number; session?: string } = {}) => {
  const c = createRealmsyncClient({ url: `ws://127.0.0.1:${port}`, token: authToken, WebSocket: WebSocket as unknown as WebSocketConstructor, random: () => seeded.next(), documents, ...extra })
  clients.push(c)
  return c
}

describe('reconnectDelay', () => {
  it('grows exponentially from 250 ms to a 10 s cap, with the jittered half inside the step', () => {
    expect(reconnectDelay(0, 0)).toBe(125)
    expect(reconnectDelay(0, 1)).toBe(250)
    expect(reconnectDelay(3, 0.5)).toBe(1500)
    expect(reconnectDelay(1000, 1)).toBe(10_000)
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const step = Math.min(10_000, 250 * 2 ** attempt)
        const delay = reconnectDelay(attempt, r)
        return delay >= step / 2 && delay <= step && delay <= reconnectDelay(attempt + 1, r)
      }),
    )
  })

  it('treats auth refusals and policy closes as final, drops as retryable', () => {
    expect([4401, 4403, 1008].map(isFinalClose)).toEqual([true, true, true])
    expect([1000, 1001, 1006, 1011, 1013, 4000].map(isFinalClose)).toEqual([false, false, false, false, false, false])
  })
})

describe('createRealmsyncClient', () => {
  it('reads the player from the token and refuses a token without a subject or a missing WebSocket', async () => {
    expect(tokenSubject(await token('alice'))).toBe('alice')
    expect(() => tokenSubject('not-a-jwt')).toThrow(RealmsyncClientError)
    expect(() => createRealmsyncClient({ url: 'ws://127.0.0.1:1', token: 'x.e30.y' })).toThrow(RealmsyncClientError)
  })

  it('syncs documents and sends intents: acks with results, rejects with reasons', async () => {
    const c = client(world.gateway.port, await token('p1', ['world/*'], ['player/p1/*']), ['world/1', 'player/p1/notes'])
    await c.whenSynced('world/1')
    expect(c.doc('world/1').getMap('notice').get('motd')).toBe('welcome')
    expect(() => c.doc('world/2')).toThrow(RealmsyncClientError)
    const results = await Promise.all([c.send('step', {}), c.send('fly', {}), c.send('step', {}), c.send('move', { x: 'nowhere' })])
    expect(results).toEqual([
      { type: 'ack', seq: 1, result: 1 },
      expect.objectContaining({ type: 'reject', seq: 2, reason: 'unknown-action' }),
      { type: 'ack', seq: 3, result: 2 },
      expect.objectContaining({ type: 'reject', seq: 4, reason: 'invalid-intent' }),
    ])
    // Intent effects reach the client's replica of the world document.
    const replica = openWorldDoc(c.doc('world/1'))
    await waitFor(() => stepsOf(replica, 'p1') === 2, 'the world change on the client')
    // A document wholly the player's is writable from the client.
    await c.whenSynced('player/p1/notes')
    c.doc('player/p1/notes').getText('t').insert(0, 'hi')
    await waitFor(() => world.peer.getDoc('player/p1/notes')?.getText('t').toString() === 'hi', 'the write on the server')
    expect(c.stats()).toMatchObject({ intentsSent: 4, acks: 2, rejects: 2 })
    expect(c.pendingIntents).toBe(0)
  })

  it('survives a forced disconnect mid-stream: reconnects, resends, no intent lost or applied twice', async () => {
    const proxy = await startTcpProxy(world.gateway.port)
    try {
      const c = client(proxy.port, await token('runner7'), ['world/1'], { baseMs: 20, capMs: 200 })
      await c.whenSynced('world/1')
      const acceptedBefore = world.engine.stats.accepted
      const duplicatesBefore = world.engine.stats.duplicates
      const answers: Array<Promise<IntentResult>> = []
      let cut = 0
      // The cut happens inside the engine, right after intent 40 is applied: its ack and the
      // intents behind it on the wire are lost, so the client must resend what the engine has
      // already applied, and the engine must answer those from memory rather than apply them again.
      stepHook.current = (player, steps) => {
        if (player === 'runner7' && steps === 40) cut = proxy.cutAll()
      }
      for (let i = 0; i < 150; i++) answers.push(c.send('step', {}))
      await waitFor(() => cut > 0, 'the cut')
      // Intents sent while disconnected wait and go out after the reconnect.
      for (let i = 0; i < 150; i++) answers.push(c.send('step', {}))
      const results = await Promise.all(answers)
      expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1))
      expect(results.every((r) => r.type === 'ack')).toBe(true)
      // Each step's result is the counter after it: exactly 1..300, none twice, none skipped.
      expect(results.map((r) => (r.type === 'ack' ? r.result : -1))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1))
      expect(world.engine.stats.accepted - acceptedBefore).toBe(300)
      expect(stepsOf(world.world, 'runner7')).toBe(300)
      expect(c.stats().reconnects).toBeGreaterThanOrEqual(1)
      expect(c.stats().intentsSent).toBe(300)
      expect(c.stats().intentsResent).toBeGreaterThan(0)
      // At least intent 40 was applied before its ack was lost: its resend is a duplicate.
      expect(world.engine.stats.duplicates - duplicatesBefore).toBeGreaterThanOrEqual(1)
      // The world document resynced after the reconnect too.
      await c.whenSynced('world/1')
      const replica = openWorldDoc(c.doc('world/1'))
      await waitFor(() => stepsOf(replica, 'runner7') === 300, 'the final world state on the client')
    } finally {
      stepHook.current = undefined
      await proxy.close()
    }
  })

  it('resends after a client-side reconnect; duplicates are answered from the engine’s memory', async () => {
    const c = client(world.gateway.port, await token('p5'), [], { baseMs: 10, capMs: 50 })
    const first = await c.send('step', {})
    const duplicatesBefore = world.engine.stats.duplicates
    const pending = [c.send('step', {}), c.send('step', {})]
    c.reconnect()
    const later = await Promise.all(pending)
    expect([first, ...later].map((r) => (r.type === 'ack' ? r.result : -1))).toEqual([1, 2, 3])
    expect(stepsOf(world.world, 'p5')).toBe(3)
    expect(world.engine.stats.duplicates).toBeGreaterThanOrEqual(duplicatesBefore)
  })

  it('a second client with the same session nonce continues the session', async () => {
    const tok = await token('p6')
    const one = client(world.gateway.port, tok)
    expect(await one.send('step', {})).toMatchObject({ type: 'ack', seq: 1, result: 1 })
    one.close()
    const two = client(world.gateway.port, tok, [], { session: one.session })
    // Its own seq 1 is the same (session, seq): the original answer comes back, nothing applied.
    expect(await two.send('step', {})).toEqual({ type: 'ack', seq: 1, result: 1 })
    expect(stepsOf(world.world, 'p6')).toBe(1)
  })

  it('reports a refused write to a read-only document through onError; the server applies nothing', async () => {
    const errors: Error[] = []
    const c = createRealmsyncClient({ url: `ws://127.0.0.1:${world.gateway.port}/`, token: await token('p8'), WebSocket: WebSocket as unknown as WebSocketConstructor, documents: ['world/1'], onError: (error) => errors.push(error) })
    clients.push(c)
    await c.whenSynced('world/1')
    c.doc('world/1').getMap('notice').set('motd', 'hacked')
    await waitFor(() => errors.length > 0, 'the refusal')
    expect(errors[0]?.message).toMatch(/write to 'world\/1' refused/)
    expect(world.peer.getDoc('world/1')!.getMap('notice').get('motd')).toBe('welcome')
  })

  it('fails pending intents when closed or refused for good', async () => {
    const c = client(world.gateway.port, await token('p7'))
    const pending = c.send('step', {})
    c.close()
    await expect(pending).rejects.toBeInstanceOf(IntentChannelClosedError)
    await expect(c.send('step', {})).rejects.toBeInstanceOf(IntentChannelClosedError)
    const refused = client(world.gateway.port, 'x.eyJzdWIiOiJwOCJ9.y')
    await expect(refused.send('step', {})).rejects.toThrow(/4401/)
  })
})
