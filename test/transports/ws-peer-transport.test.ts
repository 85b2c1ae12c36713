import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { createRandom, createSystemClock } from '../../core/index.js'
import { Peer } from '../../replication/index.js'
import {
  AdmissionHandshake,
  createWsPeerTransport,
  ephemeralIdentity,
  TransportConfigError,
  type WsPeerTransport,
  type WsPeerTransportOptions,
} from '../../transports/index.js'
import { capturingLogger, numbered, numberOf, record, waitFor } from '../helpers/network.js'

const SECRET = 'realmsync-test-cluster-secret'
const open: Array<{ close(): Promise<void> | void }> = []
const dirs: string[] = []

const start = async (options: Partial<WsPeerTransportOptions> = {}): Promise<WsPeerTransport> => {
  const transport = await createWsPeerTransport({ admission: { clusterSecret: SECRET }, backoff: { initialMs: 50, maxMs: 500 }, ...options })
  open.push(transport)
  return transport
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((each) => each.close()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A hand-driven WebSocket peer that runs the admission handshake itself, then sends whatever the test wants. */
const rawPeer = async (url: string, secret: string) => {
  const identity = await ephemeralIdentity()
  const socket = new WebSocket(url)
  const handshake = new AdmissionHandshake(identity, { clusterSecret: secret })
  let admitted = false
  socket.on('message', (data: Buffer) => {
    void handshake.receive(new Uint8Array(data)).then((step) => {
      for (const reply of step.send) socket.send(reply)
      if (step.outcome?.admitted) admitted = true
    })
  })
  await new Promise((resolve) => socket.once('open', resolve))
  socket.send(handshake.hello())
  open.push({ close: () => socket.terminate() })
  return { identity, socket, isAdmitted: () => admitted }
}

describe('WebSocket peer transport', () => {
  it('connects two peers, carries frames both ways in order, and reports the disconnect', async () => {
    const a = await start()
    const b = await start({ peers: [a.url()!] })
    const seenA = record(a)
    const seenB = record(b)
    await waitFor(() => seenA.connected.has(b.id) && seenB.connected.has(a.id))
    for (let i = 0; i < 50; i++) expect(a.send(b.id, numbered(i))).toBe(true)
    expect(b.send(a.id, numbered(9, 5000))).toBe(true)
    await waitFor(() => seenB.frames.length === 50 && seenA.frames.length === 1)
    expect(seenB.frames.map((f) => numberOf(f.frame))).toEqual([...Array(50).keys()])
    expect(seenA.frames[0]).toMatchObject({ from: b.id })
    await b.close()
    await waitFor(() => seenA.disconnected.includes(b.id))
    expect(a.connectedPeers()).toEqual([])
    expect(a.send(b.id, numbered(1))).toBe(false)
  })

  it('forms a full mesh of three from URL lists that include itself', async () => {
    const a = await start()
    const b = await start({ peers: [a.url()!] })
    const c = await start({ peers: [a.url()!, b.url()!] })
    const seen = [a, b, c].map(record)
    await waitFor(() => seen.every((s) => s.connected.size === 2), 5000, 'full mesh')
    await c.close()
    await waitFor(() => seen[0]!.disconnected.includes(c.id) && seen[1]!.disconnected.includes(c.id))
    expect(b.bootstrapStatus()[0]).toMatchObject({ peer: a.id })
  })

  it('exchanges ids in the handshake: the endpoint id is the persistent peer id', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'realmsync-ws-'))
    dirs.push(dataDir)
    const first = await start({ dataDir })
    const id = first.id
    await first.close()
    const again = await start({ dataDir })
    expect(again.id).toBe(id)
    const b = await start({ peers: [again.url()!] })
    const seen = record(b)
    await waitFor(() => seen.connected.has(id))
  })

  it('refuses a peer with the wrong secret; it never reaches onConnect; the reason is logged', async () => {
    const log = capturingLogger()
    const a = await start({ logger: log.logger })
    const seenA = record(a)
    const c = await start({ admission: { clusterSecret: 'another-cluster-secret!' }, peers: [a.url()!] })
    const seenC = record(c)
    await waitFor(() => a.stats.linksRefused >= 1 && c.stats.linksRefused >= 1, 5000, 'refused both ways')
    expect(seenA.everConnected).toEqual([])
    expect(seenC.everConnected).toEqual([])
    expect(log.lines.find((line) => line.msg === 'peer refused')).toMatchObject({ peer: c.id, reason: 'wrong cluster secret and not on the allow-list' })
  })

  it('admits by allow-list without a secret', async () => {
    const ia = await ephemeralIdentity()
    const ib = await ephemeralIdentity()
    const a = await start({ identity: ia, admission: { allowList: [ib.id] } })
    const b = await start({ identity: ib, admission: { allowList: [ia.id] }, peers: [a.url()!] })
    const seen = record(b)
    await waitFor(() => seen.connected.has(a.id))
  })

  it('drops oversized and malformed messages without crashing, and keeps serving others', async () => {
    const a = await start({ limits: { maxFrameBytes: 1024 } })
    const seenA = record(a)
    const good = await start({ peers: [a.url()!] })
    await waitFor(() => seenA.connected.has(good.id))
    expect(a.send(good.id, new Uint8Array(2000))).toBe(false)
    expect(a.stats.sendsTooLarge).toBe(1)

    const raw = await rawPeer(a.url()!, SECRET)
    await waitFor(() => raw.isAdmitted() && seenA.connected.has(raw.identity.id), 5000, 'raw peer admitted')
    raw.socket.send(new Uint8Array(5000)) // over the frame limit, within the ws slack: dropped
    raw.socket.send(numbered(77))
    await waitFor(() => seenA.frames.some((f) => f.from === raw.identity.id))
    expect(a.stats.oversizedFramesReceived).toBe(1)
    expect(seenA.frames.filter((f) => f.from === raw.identity.id).map((f) => numberOf(f.frame))).toEqual([77])
    raw.socket.send(new Uint8Array(200_000)) // far over: the ws layer closes the connection
    await waitFor(() => seenA.disconnected.includes(raw.identity.id), 5000, 'raw peer dropped')

    const chatty = await rawPeer(a.url()!, SECRET)
    await waitFor(() => chatty.isAdmitted())
    chatty.socket.send('text is not a frame')
    await waitFor(() => a.stats.malformedLinks === 1)

    const stranger = new WebSocket(a.url()!)
    await new Promise((resolve) => stranger.once('open', resolve))
    open.push({ close: () => stranger.terminate() })
    stranger.send(new Uint8Array([0xff, 0xff, 0xff]))
    await waitFor(() => stranger.readyState === WebSocket.CLOSED, 5000, 'stranger closed')

    expect(a.connectedPeers()).toEqual([good.id])
    expect(a.send(good.id, numbered(5))).toBe(true)
  })

  it('rejects bad configuration', async () => {
    await expect(createWsPeerTransport({ admission: {} })).rejects.toBeInstanceOf(TransportConfigError)
    await expect(createWsPeerTransport({ admission: { openCluster: true }, peers: ['http://x'] })).rejects.toBeInstanceOf(TransportConfigError)
  })

  it('converges a Yjs document between real Peers', async () => {
    const a = await start()
    const b = await start({ peers: [a.url()!] })
    const clock = createSystemClock()
    const peers = [a, b].map((transport, i) => new Peer({ id: transport.id, transport, clock, random: createRandom(7 + i), antiEntropyIntervalMs: 200, acceptDocument: () => true }))
    open.push(...peers.map((peer) => ({ close: () => peer.close() })))
    for (const peer of peers) peer.start()
    peers[0]!.openDoc('world/2/region/0_0').getMap('m').set('tree', 1)
    await waitFor(() => peers[1]!.getDoc('world/2/region/0_0')?.getMap('m').get('tree') === 1, 5000, 'b has the doc')
    peers[1]!.getDoc('world/2/region/0_0')!.getMap('m').set('rock', 2)
    await waitFor(() => peers[0]!.getDoc('world/2/region/0_0')!.getMap('m').get('rock') === 2)
    expect(Y.encodeStateVector(peers[0]!.getDoc('world/2/region/0_0')!)).toEqual(Y.encodeStateVector(peers[1]!.getDoc('world/2/region/0_0')!))
  })
})
