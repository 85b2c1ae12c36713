import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { decodeIntentResult, decodeSessionBatch, encodeIntent, type IntentResult, type SessionBatchItem } from '../../core/index.js'
import { INTENT_CHANNEL_PATH } from '../../gateway/index.js'
import { startIntentWorld, stepHook, token } from './intent-fixture.js'

// The intent channel's two framings on one gateway: a client that asks for batch frames (`batch=1`)
// gets each flush as one binary frame, its move's answer folded in with the change it made; a
// client that does not gets one frame per answer and JSON ephemeral batches, as before.

type World = Awaited<ReturnType<typeof startIntentWorld>>
let world: World
let immediate: World

beforeAll(async () => {
  world = await startIntentWorld({ sessions: {}, ephemeralIntervalMs: 20, answerFlush: 'tick' })
  // A tick that never comes within a test: answers must not wait for it in immediate mode (the default).
  immediate = await startIntentWorld({ sessions: {}, ephemeralIntervalMs: 60_000 })
})
afterAll(async () => {
  await world.close()
  await immediate.close()
})
afterEach(() => {
  stepHook.current = undefined
})

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A raw intent socket: greeting and other text frames, and each binary frame as the items it holds. */
const rawSession = async (port: number, player: string, batch: boolean) => {
  const query = new URLSearchParams({ session: `${player}-s`, token: await token(player), ...(batch ? { batch: '1' } : {}) })
  const ws = new WebSocket(`ws://127.0.0.1:${port}${INTENT_CHANNEL_PATH}?${query}`)
  const texts: Array<Record<string, unknown>> = []
  const frames: SessionBatchItem[][] = []
  const singles: IntentResult[] = []
  ws.on('message', (data, isBinary) => {
    const bytes = new Uint8Array(data as Buffer)
    if (!isBinary) texts.push(JSON.parse(String(data)) as Record<string, unknown>)
    else if (batch) frames.push(decodeSessionBatch(bytes))
    else singles.push(decodeIntentResult(bytes))
  })
  await waitFor(() => texts.some((text) => text.type === 'session'), 'session greeting')
  const step = (seq: number) => ws.send(encodeIntent({ action: 'step', seq, player, payload: null }))
  return { ws, texts, frames, singles, step, answers: () => frames.flat().filter((item) => item.kind === 'answer').map((item) => item.result) }
}

describe('batch frames on the intent channel', () => {
  it('folds an answer into the frame that carries the change its intent made, the change first', async () => {
    stepHook.current = (player, steps) => world.peer.setEphemeral(player, 'position', { x: steps, y: 0 })
    const raw = await rawSession(world.gateway.port, 'folder', true)
    raw.ws.send(JSON.stringify({ v: 1, type: 'interest', x: 0, y: 0, radius: 50 }))
    raw.step(1)
    await waitFor(() => raw.answers().length === 1, 'answer')
    const frame = raw.frames.find((items) => items.some((item) => item.kind === 'answer'))
    expect(frame).toEqual([
      { kind: 'ephemeral', entries: [{ entity: 'folder', field: 'position', value: { x: 1, y: 0 } }], gone: [] },
      { kind: 'answer', result: { type: 'ack', seq: 1, result: 1 } },
    ])
    // Several answers of one tick share a frame too.
    raw.step(2)
    raw.step(3)
    await waitFor(() => raw.answers().length === 3, 'answers')
    expect(raw.answers().map((answer) => answer.seq)).toEqual([1, 2, 3])
    expect(world.gateway.stats().batchFrames).toBeGreaterThanOrEqual(2)
    expect(raw.texts.filter((text) => text.type === 'ephemeral')).toEqual([])
    raw.ws.close()
  })

  it('keeps the older framing for a client that did not ask for batches: one frame per answer, JSON ephemeral batches', async () => {
    stepHook.current = (player, steps) => world.peer.setEphemeral(player, 'position', { x: steps, y: 1 })
    const raw = await rawSession(world.gateway.port, 'legacy', false)
    raw.ws.send(JSON.stringify({ v: 1, type: 'interest', x: 0, y: 0, radius: 50 }))
    raw.step(1)
    raw.step(2)
    await waitFor(() => raw.singles.length === 2 && raw.texts.some((text) => JSON.stringify(text).includes('"legacy"')), 'answers and the ephemeral batch')
    expect(raw.singles).toEqual([{ type: 'ack', seq: 1, result: 1 }, { type: 'ack', seq: 2, result: 2 }])
    const ephemeral = raw.texts.find((text) => text.type === 'ephemeral' && JSON.stringify(text).includes('"legacy"'))
    // No stamps or other store internals in the JSON: entity, field and value only.
    expect((ephemeral?.entries as unknown[]).every((entry) => Object.keys(entry as object).sort().join() === 'entity,field,value')).toBe(true)
    expect(raw.frames).toEqual([])
    raw.ws.close()
  })

  it('sends answers at the end of the turn in immediate mode, without waiting for the tick', async () => {
    const raw = await rawSession(immediate.gateway.port, 'quick', true)
    raw.step(1)
    await waitFor(() => raw.answers().length === 1, 'answer before any tick')
    expect(raw.answers()).toEqual([{ type: 'ack', seq: 1, result: 1 }])
    raw.ws.close()
  })

  it('closes a batching client that sends a frame which does not decode (1007), like any other', async () => {
    const raw = await rawSession(world.gateway.port, 'garbage', true)
    const closed = new Promise<number>((resolve) => raw.ws.on('close', (code) => resolve(code)))
    raw.ws.send(Uint8Array.from([2, 1, 0]))
    expect(await closed).toBe(1007)
  })
})
