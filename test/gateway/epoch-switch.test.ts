import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { contentJson, createRandom, createSystemClock } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { CLOSE_EPOCH_CHANGED, defaultAuthenticate, isStaleEpochState, signDevToken, startGateway, WS_MESSAGE_SYNC, type Gateway } from '../../gateway/index.js'
import { Command } from 'commander'
import { registerServeCommand, serveOptionsFrom, type ServeFlags, type ServerOptions } from '../../cli/index.js'
import { createRealmsyncClient, type DocumentEpochChange, type RealmsyncClient, type WebSocketConstructor } from '../../client/index.js'

// End to end over real sockets: a peer with epochs cuts a world document (and a player document)
// while stock y-websocket providers and realmsync clients are connected and writing.

const secret = 'epoch-switch-test-secret-of-at-least-32-bytes'
const WORLD = 'world/1'
const network = new MemoryNetwork()
const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock: createSystemClock(), random: createRandom(7), epochs: { checkIntervalMs: 50, minBytes: 2048 } })
let gateway: Gateway
const providers: WebsocketProvider[] = []
const clients: RealmsyncClient[] = []

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 6000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const token = (player: string, read: string[], write: string[] = []) => signDevToken({ player, read, write, ttlSeconds: 300, secret })
const world = (): Y.Doc => peer.getDoc(WORLD) as Y.Doc
const same = (a: Y.Doc, b: Y.Doc): boolean => JSON.stringify(contentJson(a)) === JSON.stringify(contentJson(b))

/** The peer writes: an overwritten hit-point table (churn) and unique event keys (nothing may go missing). */
let peerWrites = 0
const peerWrite = (): void => {
  const doc = world()
  doc.transact(() => {
    doc.getMap('hp').set(`e${peerWrites % 20}`, peerWrites)
    doc.getMap('events').set(`ev${peerWrites}`, peerWrites)
  })
  peerWrites++
}

/**
 * A stock provider the way docs/gateway.md tells an app to run one with epochs: on close
 * `CLOSE_EPOCH_CHANGED` it drops the provider and its `Y.Doc` and starts over with fresh ones.
 */
const followingProvider = (port: number, name: string, authToken: string) => {
  const state = { doc: new Y.Doc(), provider: undefined as WebsocketProvider | undefined, restarts: 0 }
  const attach = (): void => {
    const provider = new WebsocketProvider(`ws://127.0.0.1:${port}`, name, state.doc, { WebSocketPolyfill: WebSocket as never, params: { token: authToken }, disableBc: true })
    providers.push(provider)
    state.provider = provider
    provider.on('connection-close', (event) => {
      if (event?.code !== CLOSE_EPOCH_CHANGED) return
      // Not inside the provider's own close handling: it is still tearing the socket down.
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
  return state
}

beforeAll(async () => {
  peer.start()
  peer.openDoc(WORLD)
  for (let i = 0; i < 50; i++) peerWrite()
  gateway = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate: defaultAuthenticate({ kind: 'secret', secret }), closeGraceMs: 1000 })
})

afterAll(async () => {
  for (const client of clients) client.close()
  for (const provider of providers) provider.destroy()
  await gateway.close()
  peer.close()
})

describe('gateway across document epochs', () => {
  it('a stock provider that restarts on the epoch close ends with the current content, through forced and bound cuts', async () => {
    const follower = followingProvider(gateway.port, WORLD, await token('p1', ['world/*']))
    await waitFor(() => follower.provider?.synced === true, 'first sync')
    const epochBefore = peer.epochOf(WORLD)?.n ?? 0
    // The peer keeps writing through two forced cuts and whatever cuts its bound makes.
    for (let i = 0; i < 300; i++) {
      peerWrite()
      // The second cut comes once the follower has restarted for the first (one during a restart just restarts it again).
      if (i === 150) await waitFor(() => follower.restarts >= 1 && follower.provider?.synced === true, 'the first restart')
      if (i === 60 || i === 150) expect(peer.cutEpoch(WORLD)).toBe(true)
      if (i % 10 === 0) await turn()
    }
    expect(peer.epochOf(WORLD)!.n).toBeGreaterThanOrEqual(epochBefore + 2)
    await waitFor(() => follower.provider?.synced === true && same(follower.doc, world()), 'the follower to hold the current epoch content')
    expect(follower.restarts).toBeGreaterThanOrEqual(2)
    const events = follower.doc.getMap('events')
    for (let i = 0; i < peerWrites; i++) expect(events.get(`ev${i}`)).toBe(i)
    // And it keeps following live updates of the new epoch.
    peerWrite()
    await waitFor(() => same(follower.doc, world()), 'a later write to reach the follower')
    expect(gateway.stats().closedEpoch).toBeGreaterThanOrEqual(2)
  })

  it('a stock provider that keeps its old Y.Doc is refused again (same close code) and never pollutes the epoch', async () => {
    const doc = new Y.Doc()
    const stubborn = new WebsocketProvider(`ws://127.0.0.1:${gateway.port}`, WORLD, doc, { WebSocketPolyfill: WebSocket as never, params: { token: await token('p2', ['world/*']) }, disableBc: true, maxBackoffTime: 50 })
    providers.push(stubborn)
    const closes: number[] = []
    stubborn.on('connection-close', (event) => {
      if (event) closes.push(event.code)
    })
    await waitFor(() => stubborn.synced, 'sync')
    const closedBefore = gateway.stats().closedEpoch
    expect(peer.cutEpoch(WORLD)).toBe(true)
    const current = JSON.stringify(contentJson(world()))
    const vector = Y.encodeStateVector(world())
    await waitFor(() => closes.filter((code) => code === CLOSE_EPOCH_CHANGED).length >= 3, 'the stale provider to be refused on its reconnects')
    stubborn.destroy()
    expect(gateway.stats().closedEpoch - closedBefore).toBeGreaterThanOrEqual(3)
    // Nothing of the old epoch reached the new replica.
    expect(Y.encodeStateVector(world())).toEqual(vector)
    expect(JSON.stringify(contentJson(world()))).toBe(current)
  })

  it('the realmsync client swaps in a fresh Y.Doc per epoch, tells the app, and loses none of its writes', async () => {
    const changes: DocumentEpochChange[] = []
    let written = 0
    /** For each player-document change: client writes made between the cut and the change. */
    const writtenSinceCut: number[] = []
    let writtenAtCut = 0
    const player = 'player/p3/state'
    peer.openDoc(player)
    const client = createRealmsyncClient({
      url: `ws://127.0.0.1:${gateway.port}`,
      token: await token('p3', ['world/*', 'player/p3/*'], ['player/p3/*']),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      random: (() => { const r = createRandom(3); return () => r.next() })(),
      documents: [WORLD, player],
      onDocumentEpoch: (change) => {
        changes.push(change)
        if (change.name === player) writtenSinceCut.push(written - writtenAtCut)
      },
      onError: () => {},
    })
    clients.push(client)
    await client.whenSynced(WORLD)
    await client.whenSynced(player)
    const firstWorld = client.doc(WORLD)
    // The client writes its own document (unique keys plus one overwritten key) while the peer
    // writes the world and cuts both documents under it.
    for (let i = 0; i < 200; i++) {
      client.doc(player).transact(() => {
        client.doc(player).getMap('inv').set(`item${i}`, i)
        client.doc(player).getMap('inv').set('last', i)
      })
      written++
      peerWrite()
      // Before the second cut, the client has followed the first (a cut during a swap just restarts it).
      if (i === 120) await waitFor(() => new Set(changes.map((change) => change.name)).size === 2, 'the first swap of both documents')
      // ... and the peer has its writes, the carried ones included (else the second cut rightly misses them and they are carried again).
      if (i === 120) await waitFor(() => (peer.getDoc(player) as Y.Doc).getMap('inv').get('last') === written - 1, 'the carried writes to reach the peer')
      if (i === 40 || i === 120) {
        expect(peer.cutEpoch(WORLD)).toBe(true)
        expect(peer.cutEpoch(player)).toBe(true)
        writtenAtCut = written
      }
      if (i % 3 === 0) await turn()
    }
    const inv = (): Y.Map<unknown> => (peer.getDoc(player) as Y.Doc).getMap('inv')
    await waitFor(() => inv().get('last') === written - 1 && same(client.doc(WORLD), world()) && same(client.doc(player), peer.getDoc(player) as Y.Doc), 'client and peer to agree')
    for (let i = 0; i < written; i++) expect(inv().get(`item${i}`)).toBe(i)
    expect(client.doc(WORLD)).not.toBe(firstWorld)
    expect(changes.filter((change) => change.name === WORLD).length).toBeGreaterThanOrEqual(2)
    expect(changes.filter((change) => change.name === player).length).toBeGreaterThanOrEqual(2)
    // Where this peer cut, the notice is exact: only writes the old replica lacked are carried, not the whole log.
    // (paths: one per item plus 'last'; a few frames may still have been in flight at the cut, since the loop yields every third write).
    changes.filter((c) => c.name === player).forEach((change, i) => expect(change.carried).toBeLessThanOrEqual((writtenSinceCut[i] ?? 0) + 4))
    const last = changes.filter((change) => change.name === WORLD).at(-1)!
    expect(last.doc).toBe(client.doc(WORLD))
    expect(last.epoch).toBe(peer.epochOf(WORLD)!.n)
    const events = client.doc(WORLD).getMap('events')
    for (let i = 0; i < peerWrites; i++) expect(events.get(`ev${i}`)).toBe(i)
    // A write on the replica the app still holds from before is carried into the current one.
    changes.filter((change) => change.name === player).at(-1)!.previous.getMap('inv').set('late', 'kept')
    await waitFor(() => inv().get('late') === 'kept', 'a stale-handle write to reach the peer')
  })
})

describe('a realmsync client away during a switch', () => {
  it('names the epoch it holds on reconnect, is refused as stale, and carries what it wrote while away', async () => {
    const name = 'player/p6/state'
    peer.openDoc(name).getMap('inv').set('seed', 1)
    const changes: DocumentEpochChange[] = []
    const client = createRealmsyncClient({
      url: `ws://127.0.0.1:${gateway.port}`,
      token: await token('p6', ['player/p6/*'], ['player/p6/*']),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      random: () => 0.5,
      baseMs: 400,
      documents: [name],
      onDocumentEpoch: (change) => changes.push(change),
      onError: () => {},
    })
    clients.push(client)
    await client.whenSynced(name)
    client.doc(name).getMap('inv').set('before', 1)
    const inv = (): Y.Map<unknown> => (peer.getDoc(name) as Y.Doc).getMap('inv')
    await waitFor(() => inv().get('before') === 1, 'the first write')
    // Epoch 1, followed while connected. Its base and the next one both hold two keys: equal client-0
    // clocks, so only the epoch the client names tells its replica is stale.
    expect(peer.cutEpoch(name)).toBe(true)
    await waitFor(() => changes.length === 1, 'the first swap')
    const refusedBefore = gateway.stats().closedEpoch
    // Dropped (it reconnects after 300 ms); meanwhile the document is cut again and the client writes.
    client.reconnect()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(peer.cutEpoch(name)).toBe(true)
    client.doc(name).getMap('inv').set('away', 2)
    await waitFor(() => changes.length === 2 && inv().get('away') === 2, 'the second swap and the carried write')
    expect(gateway.stats().closedEpoch - refusedBefore).toBe(1)
    expect(changes[1]!.epoch).toBe(2)
    expect(inv().toJSON()).toEqual({ seed: 1, before: 1, away: 2 })
    expect(same(client.doc(name), peer.getDoc(name) as Y.Doc)).toBe(true)
  })
})

/**
 * Peers 'a' (the lower id: it coordinates cuts) and 'b' on a memory network, a player document
 * made on 'b' and seen on 'a', a gateway on 'b' and a realmsync client of `player` syncing it.
 */
const gatewayOnNonCutter = async (player: string, seed: number) => {
  const net = new MemoryNetwork()
  const options = { clock: createSystemClock(), epochs: { checkIntervalMs: 1_000_000 }, acceptDocument: () => true }
  const a = new Peer({ id: 'a', transport: net.endpoint('a'), random: createRandom(seed), ...options })
  const b = new Peer({ id: 'b', transport: net.endpoint('b'), random: createRandom(seed + 1), ...options })
  a.start()
  b.start()
  net.connectAll()
  const name = `player/${player}/state`
  b.openDoc(name).getMap('inv').set('seed', 0)
  await waitFor(() => a.getDoc(name)?.getMap('inv').get('seed') === 0, 'the document to reach the coordinator')
  const gw = await startGateway({ peer: b, port: 0, host: '127.0.0.1', authenticate: defaultAuthenticate({ kind: 'secret', secret }), closeGraceMs: 1000 })
  const changes: DocumentEpochChange[] = []
  const client = createRealmsyncClient({
    url: `ws://127.0.0.1:${gw.port}`,
    token: await token(player, [`player/${player}/*`], [`player/${player}/*`]),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    random: (() => {
      const r = createRandom(seed % 10)
      return () => r.next()
    })(),
    documents: [name],
    onDocumentEpoch: (change) => changes.push(change),
    onError: () => {},
  })
  return { net, a, b, gw, client, changes, name }
}

describe('gateway on a peer that did not cut', () => {
  it('the realmsync client carries its writes when another peer cut the document: none is lost', async () => {
    // 'a' has the lower id: it coordinates; the gateway runs on 'b'.
    const { net, a, b, gw, client, changes, name } = await gatewayOnNonCutter('p5', 21)
    try {
      await client.whenSynced(name)
      for (let i = 0; i < 120; i++) {
        client.doc(name).getMap('inv').set(`item${i}`, i)
        if (i === 30) {
          // 'a' cuts while cut off from 'b': the writes 'b' applies meanwhile are past the cut, in no epoch.
          net.disconnect('a', 'b')
          expect(a.cutEpoch(name)).toBe(true)
        }
        if (i === 60) {
          await waitFor(() => b.getDoc(name)?.getMap('inv').get('item60') === 60, "'b' to apply the writes past the cut")
          net.connect('a', 'b')
          await waitFor(() => changes.length >= 1, 'the first swap')
        }
        if (i === 80) expect(a.cutEpoch(name)).toBe(true)
        if (i % 4 === 0) await turn()
      }
      const all = (doc: Y.Doc | undefined): boolean => {
        const inv = doc?.getMap('inv')
        for (let i = 0; i < 120; i++) if (inv?.get(`item${i}`) !== i) return false
        return true
      }
      await waitFor(() => all(a.getDoc(name)) && all(b.getDoc(name)) && b.epochOf(name)?.n === 2, 'every client write on both peers, in epoch 2')
      expect(changes.length).toBeGreaterThanOrEqual(2)
      expect(same(client.doc(name), b.getDoc(name) as Y.Doc)).toBe(true)
    } finally {
      client.close()
      await gw.close()
      a.close()
      b.close()
    }
  })
})

describe('gateway on a peer that did not cut: the cut state vector', () => {
  it("does not carry a client's write the base holds over another writer's later value, and carries one past the cut once", async () => {
    const { net, a, b, gw, client, changes, name } = await gatewayOnNonCutter('p7', 31)
    const cuts: Array<Uint8Array | undefined> = []
    b.onEpochSwitch((event) => cuts.push(event.cut))
    const inv = (doc: Y.Doc | undefined) => doc?.getMap<unknown>('inv')
    try {
      await client.whenSynced(name)
      // W1 (the client, on b) writes k; it reaches the coordinator before the cut, so the base holds it.
      client.doc(name).getMap('inv').set('k', 'w1')
      await waitFor(() => inv(a.getDoc(name))?.get('k') === 'w1', "W1's write to reach the coordinator")
      net.disconnect('a', 'b')
      expect(a.cutEpoch(name)).toBe(true)
      // W2 (the coordinator's own writer) overwrites k in the new epoch; W1 writes past the cut on b.
      inv(a.getDoc(name))!.set('k', 'w2')
      client.doc(name).getMap('inv').set('past', 'w1-after-cut')
      await waitFor(() => inv(b.getDoc(name))?.get('past') === 'w1-after-cut', "b to apply W1's write past the cut")
      net.connect('a', 'b')
      await waitFor(() => changes.length >= 1 && inv(a.getDoc(name))?.get('past') === 'w1-after-cut', 'the swap and the carried write')
      await waitFor(() => same(client.doc(name), a.getDoc(name) as Y.Doc) && same(b.getDoc(name) as Y.Doc, a.getDoc(name) as Y.Doc), 'everyone to agree')
      expect(cuts).toHaveLength(1)
      expect(cuts[0]).toBeInstanceOf(Uint8Array)
      expect(changes[0]!.carried).toBe(1)
      for (const doc of [a.getDoc(name), b.getDoc(name), client.doc(name)]) expect(inv(doc)?.toJSON()).toEqual({ seed: 0, k: 'w2', past: 'w1-after-cut' })
    } finally {
      client.close()
      await gw.close()
      a.close()
      b.close()
    }
  })
})

describe('isStaleEpochState', () => {
  const stateVectorOf = (doc: Y.Doc): Uint8Array => Y.encodeStateVector(doc)
  it('flags documents of another epoch and passes fresh and current ones', () => {
    const base = new Y.Doc()
    base.clientID = 0
    base.getMap('m').set('a', 1)
    const current = new Y.Doc()
    Y.applyUpdate(current, Y.encodeStateAsUpdate(base))
    current.getMap('m').set('b', 2)
    const upToDate = new Y.Doc()
    Y.applyUpdate(upToDate, Y.encodeStateAsUpdate(current))
    const old = new Y.Doc()
    old.getMap('m').set('a', 0)
    const otherBase = new Y.Doc()
    otherBase.clientID = 0
    otherBase.getMap('m').set('a', 1)
    otherBase.getMap('m').set('c', 1)
    expect(isStaleEpochState(stateVectorOf(new Y.Doc()), current, 1, false)).toBe(false)
    expect(isStaleEpochState(stateVectorOf(upToDate), current, 1, false)).toBe(false)
    expect(isStaleEpochState(stateVectorOf(old), current, 0, false)).toBe(false)
    expect(isStaleEpochState(stateVectorOf(old), current, 1, false)).toBe(true)
    expect(isStaleEpochState(stateVectorOf(otherBase), current, 2, true)).toBe(true)
    // Read-only: holding structs this epoch never had (an older epoch's, with a base of equal length).
    const sameLengthBase = new Y.Doc()
    Y.applyUpdate(sameLengthBase, Y.encodeStateAsUpdate(base))
    sameLengthBase.getMap('m').set('x', 1)
    expect(isStaleEpochState(stateVectorOf(sameLengthBase), current, 1, false)).toBe(true)
    expect(isStaleEpochState(stateVectorOf(sameLengthBase), current, 1, true)).toBe(false)
  })

  it('a raw client whose first frame is a stale step 1 is closed before it is sent anything', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/${encodeURIComponent(WORLD)}?token=${await token('p4', ['world/*'])}`)
    const frames: Uint8Array[] = []
    ws.on('message', (data: Buffer) => frames.push(new Uint8Array(data)))
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
    await new Promise<void>((resolve) => ws.on('open', () => resolve()))
    const old = new Y.Doc()
    old.getMap('hp').set('e0', -1)
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, WS_MESSAGE_SYNC)
    syncProtocol.writeSyncStep1(encoder, old)
    ws.send(encoding.toUint8Array(encoder))
    expect(await closed).toBe(CLOSE_EPOCH_CHANGED)
    expect(frames).toEqual([])
  })
})

describe('realmsync serve --epochs', () => {
  const flags = (extra: Partial<ServeFlags>): ServeFlags => ({ listen: '/ip4/127.0.0.1/tcp/0', data: '/tmp/x', logLevel: 'silent', transport: 'libp2p', clusterSecret: 'serve-epochs-test-secret', ...extra })
  it('turns epochs on for the peer, with the bound options, and refuses bound options without it', () => {
    expect(serveOptionsFrom(flags({})).peer).toEqual({ router: { kind: 'latency' } })
    expect(serveOptionsFrom(flags({ epochs: true })).peer?.epochs).toEqual({})
    expect(serveOptionsFrom(flags({ epochs: true, epochRatio: 8, epochMinBytes: 65536 })).peer?.epochs).toEqual({ maxSizeRatio: 8, minBytes: 65536 })
    expect(() => serveOptionsFrom(flags({ epochRatio: 8 }))).toThrow(/need --epochs/)
  })

  it('parses the flags', async () => {
    const program = new Command().exitOverride()
    let seen: ServerOptions | undefined
    registerServeCommand(program)
    const serve = program.commands.find((command) => command.name() === 'serve')!
    serve.action((parsed: ServeFlags) => {
      seen = serveOptionsFrom(parsed)
    })
    await program.parseAsync(['serve', '--listen', '/ip4/127.0.0.1/tcp/0', '--data', '/tmp/x', '--cluster-secret', 'serve-epochs-test-secret', '--epochs', '--epoch-ratio', '6', '--epoch-min-bytes', '1024'], { from: 'user' })
    expect(seen?.peer?.epochs).toEqual({ maxSizeRatio: 6, minBytes: 1024 })
    await expect(program.parseAsync(['serve', '--listen', 'x', '--data', 'y', '--epochs', '--epoch-ratio', '1'], { from: 'user' })).rejects.toThrow(/above 1/)
  })
})
