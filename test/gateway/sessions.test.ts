import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WebSocket } from 'ws'
import { decodeIntentResult, encodeIntent, type IntentResult } from '../../core/index.js'
import { createRealmsyncClient, type RealmsyncClient, type WebSocketConstructor } from '../../client/index.js'
import { CLOSE_REDIRECT, INTENT_CHANNEL_PATH, NoHandoffTargetError, SESSION_REGISTRY_DOC } from '../../gateway/index.js'
import { stepsOf, token } from './intent-fixture.js'
import { startSessionCluster } from './session-fixture.js'

type Cluster = Awaited<ReturnType<typeof startSessionCluster>>
let cluster: Cluster
const clients: RealmsyncClient[] = []

beforeAll(async () => {
  cluster = await startSessionCluster()
  await waitFor(() => cluster.a.gateway.registry?.gateway('b') !== undefined && cluster.b.gateway.registry?.gateway('a') !== undefined, 'gateways announced')
})
afterAll(async () => {
  for (const client of clients) client.close()
  await cluster.close()
})

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const client = (url: string, authToken: string, extra: Partial<Parameters<typeof createRealmsyncClient>[0]> = {}) => {
  const c = createRealmsyncClient({ url, token: authToken, WebSocket: WebSocket as unknown as WebSocketConstructor, documents: ['world/1'], baseMs: 20, capMs: 200, ...extra })
  clients.push(c)
  return c
}

/** A raw intent socket: its text frames (session control), its binary answers, and its close. */
const rawSession = (url: string, query: Record<string, string>) => {
  const target = new URL(`${url}${INTENT_CHANNEL_PATH}`)
  for (const [key, value] of Object.entries(query)) target.searchParams.set(key, value)
  const ws = new WebSocket(target)
  const texts: Array<Record<string, unknown>> = []
  const answers: IntentResult[] = []
  let closed: { code: number; reason: string } | undefined
  ws.on('message', (data, isBinary) => {
    if (isBinary) answers.push(decodeIntentResult(new Uint8Array(data as Buffer)))
    else texts.push(JSON.parse(String(data)) as Record<string, unknown>)
  })
  ws.on('close', (code, reason) => (closed = { code, reason: reason.toString() }))
  return {
    ws,
    texts,
    answers,
    get closed() {
      return closed
    },
  }
}

describe('session registry and affinity', () => {
  it('records the player’s home in a replicated document, with a hash of the resume token, never the token', async () => {
    const c = client(cluster.a.url, await token('reg'))
    await waitFor(() => c.home !== undefined, 'greeting')
    expect(c.home).toBe('a')
    expect(c.resumeToken).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    await waitFor(() => cluster.b.gateway.registry?.get('reg') !== undefined, 'record replicated to b')
    const record = cluster.b.gateway.registry?.get('reg')
    expect(record).toMatchObject({ player: 'reg', session: c.session, home: 'a', state: 'active' })
    expect(record?.resumeHash).not.toBe(c.resumeToken)
    expect(JSON.stringify(cluster.b.peer.getDoc(SESSION_REGISTRY_DOC)?.getMap('sessions').toJSON())).not.toContain(c.resumeToken)
  })

  it('redirects a player who reaches another peer to its home, and the client follows with its documents', async () => {
    const first = client(cluster.a.url, await token('aff'))
    await waitFor(() => first.home === 'a' && cluster.b.gateway.registry?.get('aff')?.home === 'a', 'home recorded everywhere')
    const resumeToken = first.resumeToken as string
    first.close()
    const redirectsBefore = cluster.b.gateway.stats().redirects
    const again = client(cluster.b.url, await token('aff'), { session: first.session, resumeToken })
    await waitFor(() => again.home === 'a', 'greeting from the home peer')
    expect(again.url).toBe(cluster.a.url)
    expect(again.stats().redirects).toBe(1)
    expect(cluster.b.gateway.stats().redirects).toBe(redirectsBefore + 1)
    const answer = await again.send('step', null)
    expect(answer.type).toBe('ack')
    await again.whenSynced('world/1')
    await waitFor(() => stepsOf(cluster.a.world, 'aff') === 1, 'step applied at home')
  })

  it('refuses a session nonce presented without its resume token (4401) and never serves internal documents (4403)', async () => {
    const owner = client(cluster.a.url, await token('thief'))
    await waitFor(() => owner.home === 'a', 'greeting')
    const stolen = rawSession(cluster.a.url, { session: owner.session, token: await token('thief') })
    await waitFor(() => stolen.closed !== undefined, 'refusal')
    expect(stolen.closed?.code).toBe(4401)
    expect(stolen.closed?.reason).toMatch(/^bad-resume-token/)
    const wrong = rawSession(cluster.a.url, { session: owner.session, resume: 'not-the-token', token: await token('thief') })
    await waitFor(() => wrong.closed !== undefined, 'refusal')
    expect(wrong.closed?.code).toBe(4401)

    const registry = new WebSocket(`${cluster.a.url}/${encodeURIComponent(SESSION_REGISTRY_DOC)}?token=${await token('thief', ['**'])}`)
    const code = await new Promise<number>((resolve) => registry.on('close', (c) => resolve(c)))
    expect(code).toBe(4403)
  })

  it('resumes after a dropped connection on the same peer: resent intents get their first answers', async () => {
    const c = client(cluster.a.url, await token('resume'))
    await waitFor(() => c.home === 'a', 'greeting')
    const results = await Promise.all([1, 2, 3].map(() => c.send('step', null)))
    expect(results.map((r) => (r.type === 'ack' ? r.result : r.reason))).toEqual([1, 2, 3])
    const raw = rawSession(cluster.a.url, { session: c.session, resume: c.resumeToken as string, token: await token('resume') })
    await waitFor(() => raw.texts.length > 0, 'greeting on resume')
    expect(raw.texts[0]).toMatchObject({ v: 1, type: 'session', home: 'a', lastAckedSeq: 3, resumeToken: c.resumeToken })
    raw.ws.send(encodeIntent({ seq: 2, action: 'step', player: 'resume', payload: null }))
    await waitFor(() => raw.answers.length === 1, 'answer from memory')
    expect(raw.answers[0]).toEqual({ type: 'ack', seq: 2, result: 2 })
    expect(stepsOf(cluster.a.world, 'resume')).toBe(3)
    raw.ws.close()
  })

  it('keeps one answer cache (the engine’s): the client’s acks let it forget answers, and a resend of a forgotten one is refused as expired', async () => {
    const c = client(cluster.a.url, await token('acker'))
    await waitFor(() => c.home === 'a', 'greeting')
    const id = `acker/${c.session}`
    await Promise.all(Array.from({ length: 70 }, () => c.send('step', null)))
    // Acks go out every 32 answers: 64 of 70 are acked and forgotten.
    await waitFor(() => cluster.a.engine.answersOf(id).floor === 65, 'acks applied')
    expect(cluster.a.engine.answersOf(id)).toMatchObject({ floor: 65 })
    expect(cluster.a.engine.answersOf(id).answers.map((answer) => answer.seq)).toEqual([65, 66, 67, 68, 69, 70])
    const raw = rawSession(cluster.a.url, { session: c.session, resume: c.resumeToken as string, token: await token('acker') })
    await waitFor(() => raw.texts.length > 0, 'greeting on resume')
    raw.ws.send(encodeIntent({ seq: 10, action: 'step', player: 'acker', payload: null }))
    raw.ws.send(encodeIntent({ seq: 70, action: 'step', player: 'acker', payload: null }))
    await waitFor(() => raw.answers.length === 2, 'answers')
    expect(raw.answers[0]).toMatchObject({ type: 'reject', seq: 10, reason: 'answer-expired' })
    expect(raw.answers[1]).toEqual({ type: 'ack', seq: 70, result: 70 })
    expect(stepsOf(cluster.a.world, 'acker')).toBe(70)
    raw.ws.close()
  })

  it('forgets a disconnected session’s answers after the resume window, keeping the session resumable', async () => {
    const small = await startSessionCluster({ sessions: { resumeWindowMs: 50 } })
    try {
      const c = createRealmsyncClient({ url: small.a.url, token: await token('brief'), WebSocket: WebSocket as unknown as WebSocketConstructor })
      await waitFor(() => c.home === 'a', 'greeting')
      await c.send('step', null)
      const resumeToken = c.resumeToken as string
      c.close()
      await waitFor(() => small.a.gateway.stats().connections === 0, 'disconnected')
      await new Promise((resolve) => setTimeout(resolve, 150))
      const raw = rawSession(small.a.url, { session: c.session, resume: resumeToken, token: await token('brief') })
      await waitFor(() => raw.texts.length === 1, 'greeting on resume')
      // The record still carries what was acked; the resend is answered by the engine's own memory, not applied again.
      expect(raw.texts[0]).toMatchObject({ type: 'session', home: 'a', resumeToken, lastAckedSeq: 1 })
      expect(small.a.gateway.registry?.get('brief')?.lastAckedSeq).toBe(1)
      raw.ws.send(encodeIntent({ seq: 1, action: 'step', player: 'brief', payload: null }))
      await waitFor(() => raw.answers.length === 1, 'answer')
      expect(raw.answers[0]).toEqual({ type: 'ack', seq: 1, result: 1 })
      expect(stepsOf(small.a.world, 'brief')).toBe(1)
      raw.ws.close()
    } finally {
      await small.close()
    }
  })
})

describe('handoff admission and takeover', () => {
  it('a handoff target waits for the record, then for the documents, before it serves the session with the carried answers', async () => {
    const owner = client(cluster.a.url, await token('hw'), { documents: [] })
    await waitFor(() => owner.home === 'a' && cluster.b.gateway.registry?.get('hw')?.home === 'a', 'home recorded everywhere')
    const resume = owner.resumeToken as string
    owner.close()
    const moved = rawSession(cluster.b.url, { session: owner.session, resume, handoff: '1', token: await token('hw') })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(moved.texts).toEqual([])
    // What a drain writes: the new home, the answers, and a document state the target does not hold yet.
    const source = new Y.Doc()
    source.getMap('m').set('k', 1)
    const record = cluster.a.gateway.registry?.get('hw')
    cluster.a.gateway.registry?.put({ ...record!, home: 'b', state: 'handed-off', from: 'a', answers: [{ type: 'ack', seq: 1, result: 42 }], answersFloor: 0, lastAckedSeq: 1, docs: { 'world/slow': Y.encodeStateVector(source) }, updatedAt: Date.now() })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(moved.texts).toEqual([])
    Y.applyUpdate(cluster.a.peer.openDoc('world/slow'), Y.encodeStateAsUpdate(source))
    await waitFor(() => moved.texts.length === 1, 'greeting once the document arrived')
    expect(moved.texts[0]).toMatchObject({ type: 'session', home: 'b', lastAckedSeq: 1 })
    expect(cluster.b.peer.getDoc('world/slow')?.getMap('m').get('k')).toBe(1)
    moved.ws.send(encodeIntent({ seq: 1, action: 'step', player: 'hw', payload: null }))
    await waitFor(() => moved.answers.length === 1, 'carried answer')
    expect(moved.answers[0]).toEqual({ type: 'ack', seq: 1, result: 42 })
    expect(stepsOf(cluster.b.world, 'hw')).toBe(0)
    moved.ws.close()
    await waitFor(() => cluster.b.gateway.registry?.get('hw')?.state === 'active', 'record active at b')
  })

  it('takes over a session whose home is unreachable, and a newer nonce of a player replaces its older session', async () => {
    const first = client(cluster.a.url, await token('orphan'), { documents: [] })
    await waitFor(() => first.home === 'a' && cluster.b.gateway.registry?.get('orphan')?.home === 'a', 'home recorded everywhere')
    const resumeToken = first.resumeToken as string
    first.close()
    cluster.network.disconnect('a', 'b')
    try {
      const again = client(cluster.b.url, await token('orphan'), { documents: [], session: first.session, resumeToken })
      await waitFor(() => again.home === 'b', 'served by b')
      expect(again.stats().redirects).toBe(0)
      expect(cluster.b.gateway.registry?.get('orphan')).toMatchObject({ home: 'b', session: first.session })
      const other = client(cluster.b.url, await token('orphan'), { documents: [] })
      await waitFor(() => other.home === 'b', 'second session')
      expect(other.session).not.toBe(first.session)
      expect(cluster.b.gateway.registry?.get('orphan')?.session).toBe(other.session)
    } finally {
      cluster.network.connect('a', 'b')
    }
    await waitFor(() => cluster.a.gateway.registry?.get('orphan')?.home === 'b', 'registry heals')
  })
})

describe('handoff of one session (a zone change)', () => {
  it('moves one player to another peer while it plays; other sessions stay', async () => {
    const stays = client(cluster.a.url, await token('stayer'), { documents: [] })
    const c = client(cluster.a.url, await token('zoner'))
    await waitFor(() => c.home === 'a' && stays.home === 'a', 'greetings')
    await expect(cluster.a.gateway.handOff('zoner', 'nobody')).rejects.toBeInstanceOf(NoHandoffTargetError)
    await expect(cluster.a.gateway.handOff('nobody', 'b')).rejects.toThrow(/no session homed/)
    const first = await Promise.all([c.send('step', null), c.send('step', null)])
    const moved = await cluster.a.gateway.handOff('zoner', 'b')
    expect(moved).toMatchObject({ player: 'zoner', to: 'b', session: c.session })
    const after = await Promise.all([c.send('step', null), c.send('step', null)])
    expect([...first, ...after].map((r) => (r.type === 'ack' ? r.result : r.reason))).toEqual([1, 2, 3, 4])
    expect(c.home).toBe('b')
    expect(stays.home).toBe('a')
    expect(await stays.send('step', null)).toMatchObject({ type: 'ack', result: 1 })
  })
})

describe('interest-filtered ephemeral state', () => {
  it('sends a subscriber only the entities near its area, follows movement in and out, and resubscribes after a reconnect', async () => {
    const batches: number[] = []
    const c = client(cluster.a.url, await token('watcher'), { documents: [], onEphemeral: () => batches.push(1) })
    expect(() => c.subscribe({ x: 0, y: 0, radius: -1 })).toThrow()
    cluster.a.peer.setEphemeral('orc', 'position', { x: 3, y: 4 })
    cluster.a.peer.setEphemeral('orc', 'hp', 7)
    cluster.a.peer.setEphemeral('dragon', 'position', { x: 500, y: 500 })
    c.subscribe({ x: 0, y: 0, radius: 10 })
    await waitFor(() => c.home === 'a' && c.ephemeral.has('orc'), 'orc visible')
    expect(c.ephemeral.get('orc')).toEqual({ position: { x: 3, y: 4 }, hp: 7 })
    expect(c.ephemeral.has('dragon')).toBe(false)
    // b writes; replication carries it to a, whose gateway filters it for this subscriber.
    cluster.b.peer.setEphemeral('dragon', 'position', { x: 1, y: 1 })
    await waitFor(() => c.ephemeral.has('dragon'), 'dragon flew in')
    cluster.a.peer.setEphemeral('orc', 'position', { x: 90, y: 0 })
    await waitFor(() => !c.ephemeral.has('orc'), 'orc walked away')
    cluster.a.peer.setEphemeral('dragon', 'hp', 1000)
    await waitFor(() => c.ephemeral.get('dragon')?.hp === 1000, 'dragon hp')
    c.reconnect()
    cluster.a.peer.setEphemeral('orc', 'position', { x: 1, y: 0 })
    await waitFor(() => c.ephemeral.has('orc') && c.stats().reconnects === 1, 'interest restored after reconnect')
    expect(batches.length).toBeGreaterThan(3)
    expect(cluster.a.gateway.stats().ephemeralBatches).toBeGreaterThan(3)
  })

  it('closes an older connection of a session when it connects again (1001), and a control flood with 1008', async () => {
    const first = rawSession(cluster.a.url, { session: 'twice', token: await token('twice') })
    await waitFor(() => first.texts.length === 1, 'greeting')
    const second = rawSession(cluster.a.url, { session: 'twice', resume: first.texts[0]?.resumeToken as string, token: await token('twice') })
    await waitFor(() => second.texts.length === 1 && first.closed !== undefined, 'second greeting, first closed')
    expect(first.closed).toMatchObject({ code: 1001, reason: 'session continued on a newer connection' })
    for (let i = 0; i < 500; i++) second.ws.send(JSON.stringify({ v: 1, type: 'interest', x: 0, y: 0, radius: 1 }))
    await waitFor(() => second.closed !== undefined, 'rate limit')
    expect(second.closed?.code).toBe(1008)
  })

  it('closes a session connection that sends a malformed control message (1007)', async () => {
    const raw = rawSession(cluster.a.url, { session: 'ctl', token: await token('ctl') })
    await waitFor(() => raw.texts.length === 1, 'greeting')
    raw.ws.send('{"v":1,"type":"interest"}')
    await waitFor(() => raw.closed !== undefined, 'close')
    expect(raw.closed?.code).toBe(1007)
  })
})

describe('handoff on drain', () => {
  it('refuses to drain with no live target, then hands every session over with no lost or duplicated intent and no document gap', async () => {
    await expect(cluster.a.gateway.drain('nobody')).rejects.toBeInstanceOf(NoHandoffTargetError)

    const player = 'walker'
    const c = client(cluster.a.url, await token(player))
    await waitFor(() => c.home === 'a', 'greeting')
    await c.whenSynced('world/1')
    // A raw session too: it will resend an intent answered by a before the drain, to b after it.
    const rawPlayer = 'resender'
    const raw = rawSession(cluster.a.url, { session: 'raw-1', token: await token(rawPlayer) })
    await waitFor(() => raw.texts.length === 1, 'raw greeting')
    const rawResume = raw.texts[0]?.resumeToken as string
    raw.ws.send(encodeIntent({ seq: 1, action: 'step', player: rawPlayer, payload: null }))
    await waitFor(() => raw.answers.length === 1, 'raw answer')

    const total = 60
    const answers: Array<Promise<IntentResult>> = []
    let drained: Promise<unknown> | undefined
    for (let i = 1; i <= total; i++) {
      answers.push(c.send('step', null))
      if (i === 20) drained = cluster.a.gateway.drain()
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const report = (await drained) as { handedOff: Array<{ player: string; to: string }> }
    expect(report.handedOff.map((h) => h.player).sort()).toEqual(expect.arrayContaining([player, rawPlayer]))
    expect(report.handedOff.every((h) => h.to === 'b')).toBe(true)
    const results = await Promise.all(answers)
    // Each `step` adds one and answers the new count: exactly once means the answers are 1..N.
    expect(results.map((r) => (r.type === 'ack' ? r.result : r.reason))).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(c.home).toBe('b')
    expect(c.url).toBe(cluster.b.url)
    expect(stepsOf(cluster.b.world, player)).toBe(total)
    await waitFor(() => stepsOf(cluster.a.world, player) === total, 'a converges too')
    // The client's replica ends equal to its new home's: nothing it saw is missing there, nothing there is missing from it.
    await waitFor(
      () => Buffer.from(Y.encodeStateVector(c.doc('world/1'))).equals(Buffer.from(Y.encodeStateVector(cluster.b.peer.getDoc('world/1') as Y.Doc))),
      'client replica equals the new home',
    )

    await waitFor(() => raw.closed !== undefined, 'raw session redirected')
    expect(raw.closed?.code).toBe(CLOSE_REDIRECT)
    expect(raw.texts[1]).toMatchObject({ v: 1, type: 'redirect', url: cluster.b.url, peer: 'b', handoff: true })
    const moved = rawSession(cluster.b.url, { session: 'raw-1', resume: rawResume, handoff: '1', token: await token(rawPlayer) })
    await waitFor(() => moved.texts.length === 1, 'greeting from b')
    expect(moved.texts[0]).toMatchObject({ type: 'session', home: 'b', lastAckedSeq: 1 })
    const acceptedBefore = cluster.b.engine.stats.accepted
    moved.ws.send(encodeIntent({ seq: 1, action: 'step', player: rawPlayer, payload: null }))
    await waitFor(() => moved.answers.length === 1, 'answer on b')
    expect(moved.answers[0]).toEqual(raw.answers[0])
    expect(cluster.b.engine.stats.accepted).toBe(acceptedBefore)
    moved.ws.close()

    // A draining peer sends new sessions on, and sessions of players homed elsewhere to their home.
    const late = client(cluster.a.url, await token('late'))
    await waitFor(() => late.home === 'b', 'late session served by b')
    expect(cluster.b.gateway.registry?.gateway('a')?.draining).toBe(true)

    // With no peer to send it to, a draining peer refuses new sessions with 1013 (try again later).
    cluster.network.disconnect('a', 'b')
    try {
      const stranded = rawSession(cluster.a.url, { session: 'stranded', token: await token('stranded') })
      await waitFor(() => stranded.closed !== undefined, 'refusal')
      expect(stranded.closed).toMatchObject({ code: 1013, reason: expect.stringMatching(/^draining/) })
    } finally {
      cluster.network.connect('a', 'b')
    }
  })
})
