import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Registry } from 'prom-client'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { canonicalJson, contentJson, createRandom, createSystemClock } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { CLOSE_EPOCH_CHANGED, CLOSE_FORBIDDEN, CLOSE_POLICY_VIOLATION, defaultAuthenticate, signDevToken, SPECTATE_PATH_PREFIX, startGateway, type Gateway } from '../../gateway/index.js'
import { filterContent, registerSpectatorMetrics, SpectatorHub, type SpectatorFilter } from '../../spectator/index.js'

// End to end over real sockets: a peer with epochs churns a world document through several cuts
// while stock y-websocket providers watch it delayed and filtered through the gateway.

const secret = 'spectator-test-secret-of-at-least-32-bytes!'
const WORLD = 'world/1'
const MARKER = 'TOPSECRET'
const publicView: SpectatorFilter = { roots: ['hp', 'events', 'players'], hiddenKeys: ['secret'] }
/** Without the ever-growing events, so the projection's history soon outweighs its content. */
const churnView: SpectatorFilter = { roots: ['hp', 'players'], hiddenKeys: ['secret'] }
const network = new MemoryNetwork()
const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock: createSystemClock(), random: createRandom(11), epochs: { checkIntervalMs: 40, minBytes: 2048 } })
// Two gateways on one peer: one whose projections are never rebuilt (so any reconnect would be the
// source cuts' doing), one that rebuilds its projections often.
const steadyHub = new SpectatorHub({ peer, clock: createSystemClock(), minDelayMs: 200, tickMs: 20, filters: { public: publicView, all: {} }, rebuildRatio: 1e9, lingerMs: 500 })
const churnHub = new SpectatorHub({ peer, clock: createSystemClock(), minDelayMs: 200, tickMs: 20, filters: { churn: churnView }, defaultFilter: 'churn', rebuildMinBytes: 1024, rebuildRatio: 2 })
let steady: Gateway
let churn: Gateway
const providers: WebsocketProvider[] = []

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 8000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const token = (player: string, read: string[]): Promise<string> => signDevToken({ player, read, write: [], ttlSeconds: 300, secret })
const world = (): Y.Doc => peer.getDoc(WORLD) as Y.Doc
const filtered = (filter = publicView): string => canonicalJson(filterContent(contentJson(world()), filter))
const shown = (doc: Y.Doc): string => canonicalJson(contentJson(doc))
const holdsMarker = (doc: Y.Doc): boolean => Buffer.from(Y.encodeStateAsUpdate(doc)).includes(MARKER)

let writes = 0
/** The peer churns hit points, adds unique events, and keeps secrets (a root, and a field of every player). */
const peerWrite = (): void => {
  const doc = world()
  doc.transact(() => {
    doc.getMap('hp').set(`e${writes % 20}`, writes)
    doc.getMap('events').set(`ev${writes}`, writes)
    doc.getMap('admin').set('password', `${MARKER}${writes}`)
    doc.getMap('players').set(`p${writes % 3}`, { x: writes, secret: `${MARKER}${writes}` })
  })
  writes++
}

const spectate = (gateway: Gateway, params: Record<string, string>): { doc: Y.Doc; provider: WebsocketProvider; closes: number[] } => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://127.0.0.1:${gateway.port}${SPECTATE_PATH_PREFIX.slice(0, -1)}`, WORLD, doc, { WebSocketPolyfill: WebSocket as never, params, disableBc: true, maxBackoffTime: 100 })
  providers.push(provider)
  const closes: number[] = []
  provider.on('connection-close', (event) => {
    if (event) closes.push(event.code)
  })
  return { doc, provider, closes }
}

/** A raw connection's close code (refusals come as a close right after the upgrade). */
const closeCodeOf = async (gateway: Gateway, path: string): Promise<[number, string]> => {
  const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}${path}`)
  return new Promise((resolve) => ws.on('close', (code, reason) => resolve([code, reason.toString()])))
}

beforeAll(async () => {
  peer.start()
  peer.openDoc(WORLD)
  for (let i = 0; i < 20; i++) peerWrite()
  const authenticate = defaultAuthenticate({ kind: 'secret', secret })
  steady = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate, closeGraceMs: 500, spectators: steadyHub })
  churn = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate, closeGraceMs: 500, spectators: churnHub })
})

afterAll(async () => {
  for (const provider of providers) provider.destroy()
  await steady.close()
  await churn.close()
  steadyHub.close()
  churnHub.close()
  peer.close()
})

describe('spectators through the gateway', () => {
  it('a stock provider watches a delayed, filtered world through several epoch cuts without a reconnect', async () => {
    const watcher = spectate(steady, { token: await token('s1', ['world/*']), delay: '300', filter: 'public' })
    await waitFor(() => watcher.provider.synced, 'the spectator to sync')
    const epochBefore = peer.epochOf(WORLD)?.n ?? 0
    const sourceEpochsBefore = steadyHub.stats().sourceEpochs
    for (let i = 0; i < 400; i++) {
      peerWrite()
      if (i % 100 === 50) expect(peer.cutEpoch(WORLD)).toBe(true)
      if (i % 10 === 0) await sleep(2)
    }
    // Nothing is shown before it is 300 ms old: the last writes are not there yet.
    expect(watcher.doc.getMap('events').has(`ev${writes - 1}`)).toBe(false)
    await waitFor(() => shown(watcher.doc) === filtered(), 'the spectator to hold the filtered content')
    expect(peer.epochOf(WORLD)!.n).toBeGreaterThanOrEqual(epochBefore + 3)
    // The view followed every cut of the source (the ones after the first sync at least), and nobody was sent away.
    expect(steadyHub.stats().sourceEpochs - sourceEpochsBefore).toBeGreaterThanOrEqual(3)
    expect(watcher.closes).toEqual([])
    expect(steady.stats().closedEpoch).toBe(0)
    expect(holdsMarker(watcher.doc)).toBe(false)
    expect((watcher.doc.getMap('players').get('p0') as Y.Map<unknown>).toJSON()).toEqual({ x: expect.any(Number) })
    // And live changes keep coming, still delayed.
    peerWrite()
    await waitFor(() => shown(watcher.doc) === filtered(), 'a later write')
  })

  it('spectators of the same document, delay and filter share one view; others get their own', async () => {
    const viewsBefore = steadyHub.stats().views
    const a = spectate(steady, { token: await token('s2', ['world/**']), delay: '250', filter: 'public' })
    const b = spectate(steady, { token: await token('s3', ['world/**']), delay: '250', filter: 'public' })
    const c = spectate(steady, { token: await token('s4', ['world/**']), delay: '250', filter: 'all' })
    await waitFor(() => a.provider.synced && b.provider.synced && c.provider.synced, 'three spectators to sync')
    expect(steadyHub.stats().views).toBe(viewsBefore + 2)
    expect(steadyHub.stats().spectators).toBeGreaterThanOrEqual(3)
    peerWrite()
    await waitFor(() => shown(a.doc) === filtered() && shown(b.doc) === filtered(), 'the shared view to catch up')
    await waitFor(() => shown(c.doc) === canonicalJson(contentJson(world())), 'the unfiltered view to catch up')
    expect(holdsMarker(c.doc)).toBe(true)
    // A spectator's write is refused on the gateway's read-only path and reaches nothing.
    const deniedBefore = steady.stats().permissionDenied
    a.doc.getMap('hp').set('cheat', 1)
    await waitFor(() => steady.stats().permissionDenied > deniedBefore, 'the write to be refused')
    expect(world().getMap('hp').has('cheat')).toBe(false)
    for (const spectator of [a, b, c]) spectator.provider.destroy()
    await waitFor(() => steadyHub.stats().views === viewsBefore, 'the views to close after their linger')
  })

  it('a rebuilt projection sends its spectators to resync (4100); a provider that restarts ends with the filtered content', async () => {
    const state = { doc: new Y.Doc(), provider: undefined as WebsocketProvider | undefined, restarts: 0 }
    const authToken = await token('s5', ['world/*'])
    const attach = (): void => {
      const provider = new WebsocketProvider(`ws://127.0.0.1:${churn.port}/.realmsync/spectate`, WORLD, state.doc, { WebSocketPolyfill: WebSocket as never, params: { token: authToken, delay: '200' }, disableBc: true })
      providers.push(provider)
      state.provider = provider
      provider.on('connection-close', (event) => {
        if (event?.code !== CLOSE_EPOCH_CHANGED) return
        queueMicrotask(() => {
          provider.destroy()
          state.doc.destroy()
          state.doc = new Y.Doc()
          state.restarts++
          attach()
        })
      })
    }
    attach()
    await waitFor(() => state.provider?.synced === true, 'the spectator to sync')
    // The projection changes at most once per key per tick, so the writes are spread over many ticks.
    for (let i = 0; i < 400 && churnHub.stats().rebuilds < 2; i++) {
      peerWrite()
      if (i % 2 === 0) await sleep(4)
    }
    await waitFor(() => churnHub.stats().rebuilds >= 2, 'projection rebuilds')
    await waitFor(() => state.provider?.synced === true && shown(state.doc) === filtered(churnView), 'the restarted spectator to hold the filtered content')
    expect(state.restarts).toBeGreaterThanOrEqual(1)
    expect(churn.stats().closedEpoch).toBeGreaterThanOrEqual(1)
    expect(holdsMarker(state.doc)).toBe(false)
  })

  it('a provider that keeps the old projection is refused again with 4100', async () => {
    const stubborn = spectate(churn, { token: await token('s6', ['world/*']), delay: '200' })
    await waitFor(() => stubborn.provider.synced, 'sync')
    const rebuilds = churnHub.stats().rebuilds
    for (let i = 0; i < 200 && churnHub.stats().rebuilds === rebuilds; i++) {
      peerWrite()
      await sleep(5)
    }
    await waitFor(() => stubborn.closes.filter((code) => code === CLOSE_EPOCH_CHANGED).length >= 2, 'the stale provider to be refused on reconnect')
    stubborn.provider.destroy()
  })

  it('refuses spectators it must not serve', async () => {
    const read = await token('s7', ['world/*'])
    const base = `${SPECTATE_PATH_PREFIX}${encodeURIComponent(WORLD)}?token=${read}`
    expect(await closeCodeOf(steady, `${base}&delay=100&filter=public`)).toEqual([CLOSE_POLICY_VIOLATION, expect.stringMatching(/^spectator-delay/)])
    expect(await closeCodeOf(steady, `${base}&delay=abc&filter=public`)).toEqual([CLOSE_POLICY_VIOLATION, expect.stringMatching(/^spectator-delay/)])
    expect(await closeCodeOf(steady, `${base}&filter=nope`)).toEqual([CLOSE_POLICY_VIOLATION, expect.stringMatching(/^spectator-filter/)])
    expect(await closeCodeOf(steady, base)).toEqual([CLOSE_POLICY_VIOLATION, expect.stringMatching(/name a filter/)])
    expect((await closeCodeOf(steady, `${SPECTATE_PATH_PREFIX}${encodeURIComponent('player/x/state')}?token=${read}&filter=all`))[0]).toBe(CLOSE_FORBIDDEN)
    expect((await closeCodeOf(steady, `${SPECTATE_PATH_PREFIX}?token=${read}`))[0]).toBe(CLOSE_POLICY_VIOLATION)
    expect((await closeCodeOf(steady, `${SPECTATE_PATH_PREFIX}%E0%A4%A?token=${read}`))[0]).toBe(CLOSE_POLICY_VIOLATION)
  })

  it('a hub closed under its spectators sends them away (1001)', async () => {
    const hub = new SpectatorHub({ peer, clock: createSystemClock(), minDelayMs: 200 })
    const gateway = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate: defaultAuthenticate({ kind: 'secret', secret }), closeGraceMs: 500, spectators: hub })
    try {
      const watcher = spectate(gateway, { token: await token('s8', ['world/*']) })
      await waitFor(() => watcher.provider.synced, 'sync')
      hub.close()
      await waitFor(() => watcher.closes.includes(1001), 'the spectator to be sent away')
      watcher.provider.destroy()
    } finally {
      await gateway.close()
    }
  })

  it('a view that cannot be opened costs the connection (1011), never the gateway', async () => {
    const broken = new SpectatorHub({ peer: { getDoc: () => { throw new Error('store gone') }, onEpochSwitch: () => () => {} }, clock: createSystemClock(), minDelayMs: 200 })
    const gateway = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate: defaultAuthenticate({ kind: 'secret', secret }), spectators: broken })
    try {
      expect(await closeCodeOf(gateway, `${SPECTATE_PATH_PREFIX}${encodeURIComponent(WORLD)}?token=${await token('s9', ['world/*'])}`)).toEqual([1011, 'internal-error: spectator view unavailable'])
      expect(gateway.stats().refused).toBe(1)
    } finally {
      await gateway.close()
      broken.close()
    }
  })

  it('exports spectator metrics', async () => {
    const registry = new Registry()
    registerSpectatorMetrics(steadyHub, registry, peer.id)
    const text = await registry.metrics()
    for (const name of ['spectators_connected', 'spectator_views', 'spectator_queue_entries', 'spectator_queue_bytes', 'spectator_projection_writes_total', 'spectator_projection_rebuilds_total', 'spectator_source_epochs_total']) {
      expect(text).toContain(`realmsync_${name}{peer="a"}`)
    }
    expect(text).toMatch(/realmsync_spectator_projection_writes_total\{peer="a"\} [1-9]/)
  })
})
