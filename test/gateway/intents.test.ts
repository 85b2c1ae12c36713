import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { WebSocket } from 'ws'
import { decodeIntent, decodeIntentResult, encodeIntent, type Intent, type IntentResult } from '../../core/index.js'
import { speedGuard } from '../../resolvers/index.js'
import { INTENT_CHANNEL_PATH, intentSessionId, isSessionNonce, withValidators, worldPosition } from '../../gateway/index.js'
import { openWorldDoc } from '../../core/index.js'
import * as Y from 'yjs'
import { handlers, startIntentWorld, stepsOf, token } from './intent-fixture.js'

type World = Awaited<ReturnType<typeof startIntentWorld>>
let world: World

beforeAll(async () => {
  world = await startIntentWorld()
})
afterAll(async () => {
  await world.close()
})

/** A raw `ws` client on the intent channel that collects decoded answers and how it closed. */
const intentSocket = (port: number, query: string) => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${INTENT_CHANNEL_PATH}${query}`)
  const answers: IntentResult[] = []
  ws.on('message', (data: Buffer) => answers.push(decodeIntentResult(new Uint8Array(data))))
  ws.on('error', () => {})
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const opened = new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve())
    ws.on('close', () => reject(new Error('closed before open')))
  })
  opened.catch(() => {})
  return { ws, answers, closed, opened }
}

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 4000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const intent = (seq: number, action: string, player: string, payload: Intent['payload'] = {}): Intent => ({ seq, action, player, payload })

let nonce = 0
const session = () => `s${++nonce}`

describe('intent channel', () => {
  it('answers intents with acks and rejects carrying reasons, and a resent intent with its original answer', async () => {
    const c = intentSocket(world.gateway.port, `?session=${session()}&token=${await token('p1')}`)
    await c.opened
    c.ws.send(encodeIntent(intent(1, 'step', 'p1')))
    c.ws.send(encodeIntent(intent(2, 'fly', 'p1')))
    c.ws.send(encodeIntent(intent(1, 'step', 'p1')))
    await waitFor(() => c.answers.length === 3, 'three answers')
    expect(c.answers[0]).toEqual({ type: 'ack', seq: 1, result: 1 })
    expect(c.answers[1]).toMatchObject({ type: 'reject', seq: 2, reason: 'unknown-action' })
    expect(c.answers[2]).toEqual({ type: 'ack', seq: 1, result: 1 })
    expect(stepsOf(world.world, 'p1')).toBe(1)
    expect(world.engine.stats.duplicates).toBeGreaterThanOrEqual(1)
    c.ws.close()
  })

  it('continues a session across connections with the same nonce, and keeps sessions apart by nonce', async () => {
    const nonceA = session()
    const tok = await token('p9')
    const first = intentSocket(world.gateway.port, `?session=${nonceA}&token=${tok}`)
    await first.opened
    first.ws.send(encodeIntent(intent(1, 'step', 'p9')))
    await waitFor(() => first.answers.length === 1, 'first answer')
    first.ws.close()
    const again = intentSocket(world.gateway.port, `?session=${nonceA}&token=${tok}`)
    const other = intentSocket(world.gateway.port, `?session=${session()}&token=${tok}`)
    await Promise.all([again.opened, other.opened])
    again.ws.send(encodeIntent(intent(1, 'step', 'p9')))
    other.ws.send(encodeIntent(intent(1, 'step', 'p9')))
    await waitFor(() => again.answers.length === 1 && other.answers.length === 1, 'answers')
    // Same session: the original answer, no second application. New session: a fresh intent.
    expect(again.answers[0]).toEqual({ type: 'ack', seq: 1, result: 1 })
    expect(other.answers[0]).toEqual({ type: 'ack', seq: 1, result: 2 })
    expect(stepsOf(world.world, 'p9')).toBe(2)
    again.ws.close()
    other.ws.close()
  })

  it('refuses an intent for another player with not-permitted, without reaching the engine', async () => {
    const c = intentSocket(world.gateway.port, `?session=${session()}&token=${await token('p2')}`)
    await c.opened
    const before = { ...world.engine.stats }
    const refusedBefore = world.gateway.stats().intentsRefused
    c.ws.send(encodeIntent(intent(1, 'step', 'p1')))
    await waitFor(() => c.answers.length === 1, 'an answer')
    expect(c.answers[0]).toMatchObject({ type: 'reject', seq: 1, reason: 'not-permitted' })
    expect(world.engine.stats).toEqual(before)
    expect(world.gateway.stats().intentsRefused - refusedBefore).toBe(1)
    expect(stepsOf(world.world, 'p2')).toBe(0)
    c.ws.close()
  })

  it('runs the validation hook: a move faster than the limit is rejected as cheat-suspected', async () => {
    const c = intentSocket(world.gateway.port, `?session=${session()}&token=${await token('runner')}`)
    await c.opened
    c.ws.send(encodeIntent(intent(1, 'move', 'runner', { x: 0, y: 0 })))
    await waitFor(() => c.answers.length === 1, 'spawn move')
    await world.clock.advance(1000)
    c.ws.send(encodeIntent(intent(2, 'move', 'runner', { x: 6, y: 8 })))
    c.ws.send(encodeIntent(intent(3, 'move', 'runner', { x: 20, y: 8 })))
    c.ws.send(encodeIntent(intent(4, 'move', 'runner', { x: 'far' })))
    await waitFor(() => c.answers.length === 4, 'moves answered')
    expect(c.answers.map((a) => a.type)).toEqual(['ack', 'ack', 'reject', 'reject'])
    expect(c.answers[2]).toMatchObject({ reason: 'cheat-suspected' })
    expect(c.answers[3]).toMatchObject({ reason: 'invalid-intent' })
    expect(world.world.getComponent('runner', 'position')).toMatchObject({ x: 6, y: 8 })
    c.ws.close()
  })

  it('refuses connections without a token, without a valid session nonce, or when the gateway takes no intents', async () => {
    expect((await intentSocket(world.gateway.port, `?session=${session()}`).closed).code).toBe(4401)
    const noSession = await intentSocket(world.gateway.port, `?token=${await token('p1')}`).closed
    expect(noSession).toMatchObject({ code: 1008, reason: expect.stringMatching(/^bad-session/) })
    const plain = await startIntentWorld({ intents: undefined })
    try {
      const refused = await intentSocket(plain.gateway.port, `?session=x&token=${await token('p1')}`).closed
      expect(refused).toMatchObject({ code: 1008, reason: expect.stringMatching(/^no-intent-channel/) })
    } finally {
      await plain.close()
    }
  })

  it('picks the engine per connection when given a function of the grants', async () => {
    const other = openWorldDoc(new Y.Doc())
    const { IntentEngine } = await import('../../resolvers/index.js')
    const zoneEngine = await IntentEngine.start({ world: other, worldName: 'zone', clock: world.clock, seed: 1, handlers })
    const zoned = await startIntentWorld({ intents: { engine: (grants) => (grants.player === 'z1' ? zoneEngine : world.engine) } })
    try {
      const c = intentSocket(zoned.gateway.port, `?session=a&token=${await token('z1')}`)
      await c.opened
      c.ws.send(encodeIntent(intent(1, 'step', 'z1')))
      await waitFor(() => c.answers.length === 1, 'answer')
      expect(stepsOf(other, 'z1')).toBe(1)
      c.ws.close()
    } finally {
      await zoned.close()
    }
  })

  it('closes only the connection that sends a fuzzed frame (1007), text (1003); others keep working', async () => {
    const tok = await token('f1')
    const bystander = intentSocket(world.gateway.port, `?session=${session()}&token=${tok}`)
    await bystander.opened
    const valid = encodeIntent(intent(1, 'step', 'f1'))
    const frames = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Valid frames cut short or with bytes flipped: the hard cases for a decoder.
      fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.slice(0, n)),
      fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
        const copy = valid.slice()
        copy[at] = (copy[at] as number) ^ x
        return copy
      }),
      fc.uint8Array({ maxLength: 40 }).map((tail) => new Uint8Array([...valid, ...tail, 0])),
    )
    const isBad = (bytes: Uint8Array) => {
      try {
        decodeIntent(bytes)
        return false
      } catch {
        return true
      }
    }
    await fc.assert(
      fc.asyncProperty(frames, async (bytes) => {
        fc.pre(isBad(bytes))
        const c = intentSocket(world.gateway.port, `?session=${session()}&token=${tok}`)
        await c.opened
        c.ws.send(bytes)
        const { code } = await c.closed
        expect(code).toBe(1007)
        expect(c.answers).toEqual([])
      }),
      { numRuns: 40, seed: 42 },
    )
    const text = intentSocket(world.gateway.port, `?session=${session()}&token=${tok}`)
    await text.opened
    text.ws.send('hello')
    expect((await text.closed).code).toBe(1003)
    bystander.ws.send(valid)
    await waitFor(() => bystander.answers.length === 1, 'the bystander answered')
    expect(bystander.answers[0]).toMatchObject({ type: 'ack', seq: 1 })
    expect(world.gateway.stats().closedMalformed).toBeGreaterThanOrEqual(41)
    bystander.ws.close()
  })

  it('closes with 1011 when the engine picker throws, and keeps serving others', async () => {
    const broken = await startIntentWorld({ intents: { engine: () => { throw new Error('no zone') } } })
    try {
      const c = intentSocket(broken.gateway.port, `?session=a&token=${await token('p1')}`)
      expect((await c.closed).code).toBe(1011)
    } finally {
      await broken.close()
    }
  })

  it('names sessions by player and nonce', () => {
    expect(intentSessionId('p1', 'abc')).toBe('p1/abc')
    expect(isSessionNonce('a-Z_9')).toBe(true)
    expect(isSessionNonce('')).toBe(false)
    expect(isSessionNonce('x'.repeat(65))).toBe(false)
    expect(isSessionNonce('a/b')).toBe(false)
  })
})

describe('withValidators and worldPosition', () => {
  it('leaves actions without validators untouched, runs anti-cheat before the handler’s own check, and reads positions from the world', () => {
    const own = { validate: () => ({ ok: false as const, reason: 'conflict', message: 'own' }), apply: () => 1 }
    const wrapped = withValidators({ a: own, b: own }, { a: [speedGuard({ maxSpeed: 1, lastPosition: worldPosition() })] })
    expect(wrapped.b).toBe(own)
    const w = openWorldDoc(new Y.Doc())
    expect(wrapped.a?.validate?.({ world: w, intent: intent(1, 'a', 'p', { x: 1 }), session: 's', nowMs: 0 })).toMatchObject({ reason: 'conflict' })
    expect(wrapped.a?.validate?.({ world: w, intent: intent(1, 'a', 'p', { x: 'far' }), session: 's', nowMs: 0 })).toMatchObject({ reason: 'invalid-intent' })
    const read = worldPosition()
    const context = (nowMs: number) => ({ world: w, intent: intent(1, 'a', 'p', {}), session: 's', nowMs })
    expect(read(context(0))).toBeUndefined()
    w.createEntity('p', 'player', { position: { y: 2 } })
    expect(read(context(0))).toBeUndefined()
    w.setComponent('p', 'position', { x: 1, y: 'n/a' })
    expect(read(context(7))).toEqual({ position: { x: 1, y: 0 }, atMs: 7 })
    w.setComponent('p', 'position', { x: 1, y: 2, at: 3 })
    expect(read(context(7))).toEqual({ position: { x: 1, y: 2 }, atMs: 3 })
  })
})
