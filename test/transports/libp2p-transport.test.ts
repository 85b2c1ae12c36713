import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import * as Y from 'yjs'
import { createRandom, createSystemClock } from '../../core/index.js'
import { Peer } from '../../replication/index.js'
import {
  AdmissionHandshake,
  createLibp2pTransport,
  encodeLengthPrefixed,
  ephemeralIdentity,
  FRAMES_PROTOCOL,
  LengthPrefixedDecoder,
  loadOrCreateIdentity,
  PEER_KEY_FILE,
  PeerKeyFileError,
  TransportConfigError,
  type Libp2pTransport,
  type Libp2pTransportOptions,
} from '../../transports/index.js'
import { capturingLogger, numbered, numberOf, record, waitFor } from '../helpers/network.js'
import { freePort } from '../helpers/free-port.js'

const SECRET = 'realmsync-test-cluster-secret'
const open: Array<{ close(): Promise<void> | void }> = []
const dirs: string[] = []

const start = async (options: Partial<Libp2pTransportOptions> = {}): Promise<Libp2pTransport> => {
  const transport = await createLibp2pTransport({ admission: { clusterSecret: SECRET }, backoff: { initialMs: 50, maxMs: 500 }, ...options })
  open.push(transport)
  return transport
}

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-libp2p-'))
  dirs.push(dir)
  return dir
}


afterEach(async () => {
  await Promise.all(open.splice(0).map((each) => each.close()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('libp2p transport', () => {
  it('connects two peers on loopback, carries frames both ways in order, and reports the disconnect', async () => {
    const a = await start()
    const b = await start({ bootstrap: a.multiaddrs() })
    const seenA = record(a)
    const seenB = record(b)
    await waitFor(() => seenA.connected.has(b.id) && seenB.connected.has(a.id), 5000, 'a and b connected')
    expect(a.connectedPeers()).toEqual([b.id])
    for (let i = 0; i < 50; i++) expect(a.send(b.id, numbered(i))).toBe(true)
    expect(b.send(a.id, numbered(7, 1000))).toBe(true)
    await waitFor(() => seenB.frames.length === 50 && seenA.frames.length === 1)
    expect(seenB.frames.map((f) => numberOf(f.frame))).toEqual([...Array(50).keys()])
    expect(seenB.frames.every((f) => f.from === a.id)).toBe(true)
    expect(seenA.frames[0]!.frame.length).toBe(1000)
    expect(a.send('12D3KooWnotconnected', numbered(1))).toBe(false)
    await b.close()
    await waitFor(() => seenA.disconnected.includes(b.id), 5000, 'a sees b leave')
    expect(a.connectedPeers()).toEqual([])
    expect(a.send(b.id, numbered(1))).toBe(false)
    expect(b.send(a.id, numbered(1))).toBe(false)
    expect(a.stats.linksAdmitted).toBe(1)
  })

  it('forms a full mesh of three from bootstrap lists that include every peer, even itself', async () => {
    const a = await start()
    const b = await start({ bootstrap: a.multiaddrs() })
    const c = await start({ bootstrap: [...a.multiaddrs(), ...b.multiaddrs()] })
    // a learns of nobody but dials everyone listed, its own address included (skipped as self).
    const all = [a, b, c]
    const seen = all.map(record)
    await waitFor(() => seen.every((s) => s.connected.size === 2), 5000, 'full mesh')
    for (const [i, from] of all.entries()) {
      for (const to of all) if (to !== from) from.send(to.id, numbered(i))
    }
    await waitFor(() => seen.every((s) => s.frames.length === 2))
    expect(seen[2]!.frames.map((f) => numberOf(f.frame)).sort()).toEqual([0, 1])
    await c.close()
    await waitFor(() => seen[0]!.disconnected.includes(c.id) && seen[1]!.disconnected.includes(c.id))
    expect(a.connectedPeers()).toEqual([b.id])
    expect(b.bootstrapStatus()[0]!.peer).toBe(a.id)
  })

  it('resolves simultaneous dials to one link per peer when everyone bootstraps to everyone at once', async () => {
    const ports = await Promise.all([0, 1, 2, 3].map(() => freePort()))
    const addresses = ports.map((port) => `/ip4/127.0.0.1/tcp/${port}`)
    const all = await Promise.all(addresses.map((address) => start({ listen: [address], bootstrap: addresses })))
    const seen = all.map(record)
    await waitFor(() => all.every((t) => t.connectedPeers().length === 3), 8000, 'full mesh of four')
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (const [i, transport] of all.entries()) {
      expect(new Set(transport.connectedPeers()).size).toBe(3)
      // A duplicate never surfaces as a disconnect to the owner.
      expect(seen[i]!.disconnected).toEqual([])
    }
  })

  it('keeps its identity across restarts from the same data directory (key file mode 0600)', async () => {
    const dataDir = tempDir()
    const first = await start({ dataDir })
    const id = first.id
    expect(first.identity.created).toBe(true)
    await first.close()
    expect(statSync(join(dataDir, PEER_KEY_FILE)).mode & 0o777).toBe(0o600)
    const second = await start({ dataDir })
    expect(second.id).toBe(id)
    expect(second.identity.created).toBe(false)
    expect(second.multiaddrs()[0]).toContain(`/p2p/${id}`)
    const other = await start({ dataDir: tempDir() })
    expect(other.id).not.toBe(id)
  })

  it('refuses to replace an unreadable key file', async () => {
    const dataDir = tempDir()
    writeFileSync(join(dataDir, PEER_KEY_FILE), 'not a key')
    await expect(loadOrCreateIdentity(dataDir)).rejects.toBeInstanceOf(PeerKeyFileError)
  })

  it('refuses a peer with the wrong secret: it never reaches onConnect, and the reason is logged', async () => {
    const logA = capturingLogger()
    const logC = capturingLogger()
    const a = await start({ logger: logA.logger })
    const seenA = record(a)
    const c = await start({ admission: { clusterSecret: 'some-other-cluster-secret' }, bootstrap: a.multiaddrs(), logger: logC.logger })
    const seenC = record(c)
    await waitFor(() => a.stats.linksRefused >= 1 && c.stats.linksRefused >= 1, 5000, 'refusal on both sides')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(seenA.everConnected).toEqual([])
    expect(seenC.everConnected).toEqual([])
    expect(a.connectedPeers()).toEqual([])
    expect(c.send(a.id, numbered(1))).toBe(false)
    const refusals = logA.lines.filter((line) => line.msg === 'peer refused')
    expect(refusals[0]).toMatchObject({ peer: c.id, reason: 'wrong cluster secret and not on the allow-list' })
    expect(logC.lines.some((line) => line.msg === 'peer refused' && String(line.reason).includes('wrong cluster secret'))).toBe(true)
    // The refused peer keeps redialing with backoff and keeps being refused.
    await waitFor(() => c.bootstrapStatus()[0]!.failures >= 2, 5000, 'c retries')
    expect(seenA.everConnected).toEqual([])
  })

  it('admits a peer without the secret when it is on the allow-list, and refuses one that is not', async () => {
    const identityA = await ephemeralIdentity()
    const identityB = await ephemeralIdentity()
    const a = await start({ identity: identityA, admission: { clusterSecret: SECRET, allowList: [identityB.id] } })
    const seenA = record(a)
    const b = await start({ identity: identityB, admission: { allowList: [identityA.id] }, bootstrap: a.multiaddrs() })
    const seenB = record(b)
    await waitFor(() => seenA.connected.has(b.id) && seenB.connected.has(a.id))
    const stranger = await start({ admission: { allowList: [identityA.id] }, bootstrap: a.multiaddrs() })
    const seenStranger = record(stranger)
    await waitFor(() => a.stats.linksRefused >= 1)
    expect(seenStranger.everConnected).toEqual([])
    expect(seenA.everConnected).toEqual([b.id])
  })

  it('rejects configurations nobody could join and bad multiaddrs', async () => {
    await expect(createLibp2pTransport({ admission: {} })).rejects.toBeInstanceOf(TransportConfigError)
    await expect(createLibp2pTransport({ admission: { clusterSecret: 'short' } })).rejects.toThrow(/at least 16 bytes/)
    await expect(createLibp2pTransport({ admission: { openCluster: true }, bootstrap: ['not-a-multiaddr'] })).rejects.toBeInstanceOf(TransportConfigError)
  })

  it('drops oversized frames without dropping the link, and refuses to send frames over its own limit', async () => {
    const a = await start({ limits: { maxFrameBytes: 1024 } })
    const b = await start({ bootstrap: a.multiaddrs(), limits: { maxFrameBytes: 1 << 20 } })
    const seenA = record(a)
    record(b)
    await waitFor(() => a.connectedPeers().length === 1 && b.connectedPeers().length === 1)
    expect(b.send(a.id, numbered(1, 200_000))).toBe(true)
    expect(b.send(a.id, numbered(2, 1024))).toBe(true)
    await waitFor(() => seenA.frames.length === 1)
    expect(numberOf(seenA.frames[0]!.frame)).toBe(2)
    expect(a.stats.oversizedFramesReceived).toBe(1)
    expect(a.send(b.id, numbered(3, 1025))).toBe(false)
    expect(a.stats.sendsTooLarge).toBe(1)
    expect(a.connectedPeers()).toEqual([b.id])
  })

  it('drops a link whose byte stream is garbage, before or after admission, and keeps serving others', async () => {
    const a = await start()
    const seenA = record(a)
    const good = await start({ bootstrap: a.multiaddrs() })
    await waitFor(() => seenA.connected.has(good.id))
    const identity = await ephemeralIdentity()
    const raw = await createLibp2p({ privateKey: identity.privateKey, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    open.push({ close: () => raw.stop() })
    const connection = await raw.dial(multiaddr(a.multiaddrs()[0]!))

    // Before admission: a length prefix that is not a safe integer.
    const garbage = await connection.newStream(FRAMES_PROTOCOL)
    garbage.send(new Uint8Array(9).fill(0xff))
    await waitFor(() => a.stats.malformedLinks === 1, 5000, 'garbage link dropped')
    await waitFor(() => raw.getConnections().length === 0, 5000, 'garbage connection closed')
    expect(seenA.everConnected).toEqual([good.id])

    // After admission: a real handshake, a good frame, then garbage.
    const stream = await (await raw.dial(multiaddr(a.multiaddrs()[0]!))).newStream(FRAMES_PROTOCOL)
    const handshake = new AdmissionHandshake(identity, { clusterSecret: SECRET }, a.id)
    let admitted = false
    const decoder = new LengthPrefixedDecoder(
      {
        frame: (message) => {
          void handshake.receive(message).then((step) => {
            for (const reply of step.send) stream.send(encodeLengthPrefixed(reply))
            if (step.outcome?.admitted) admitted = true
          })
        },
        oversized: () => {},
      },
      () => 4096,
    )
    stream.addEventListener('message', (event) => {
      const data = event.data
      if (data instanceof Uint8Array) decoder.push(data)
      else for (const chunk of data) decoder.push(chunk)
    })
    stream.send(encodeLengthPrefixed(handshake.hello()))
    await waitFor(() => admitted && seenA.connected.has(identity.id), 5000, 'raw peer admitted')
    stream.send(encodeLengthPrefixed(numbered(42)))
    await waitFor(() => seenA.frames.some((f) => f.from === identity.id))
    stream.send(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]))
    await waitFor(() => a.stats.malformedLinks === 2 && seenA.disconnected.includes(identity.id), 5000, 'admitted garbage link dropped')
    expect(a.connectedPeers()).toEqual([good.id])
    expect(a.send(good.id, numbered(5))).toBe(true)
  })

  it('bounds the outgoing queue under backpressure: excess frames are refused, accepted ones arrive in order', async () => {
    const a = await start({ limits: { maxQueuedFrames: 8 } })
    const b = await start({ bootstrap: a.multiaddrs() })
    const seenB = record(b)
    record(a)
    await waitFor(() => a.connectedPeers().length === 1)
    const accepted: number[] = []
    for (let i = 0; i < 400; i++) if (a.send(b.id, numbered(i, 256 * 1024))) accepted.push(i)
    expect(a.stats.sendsQueueFull).toBeGreaterThan(0)
    expect(accepted.length).toBeLessThan(400)
    await waitFor(() => seenB.frames.length === accepted.length, 10_000, 'accepted frames delivered')
    expect(seenB.frames.map((f) => numberOf(f.frame))).toEqual(accepted)
    // Once drained, sends flow again.
    expect(a.send(b.id, numbered(1000))).toBe(true)
    await waitFor(() => seenB.frames.length === accepted.length + 1)
  })

  it('converges a Yjs document between real Peers', async () => {
    const a = await start()
    const b = await start({ bootstrap: a.multiaddrs() })
    const c = await start({ bootstrap: [...a.multiaddrs(), ...b.multiaddrs()] })
    const clock = createSystemClock()
    const peers = [a, b, c].map(
      (transport, i) => new Peer({ id: transport.id, transport, clock, random: createRandom(100 + i), antiEntropyIntervalMs: 200, acceptDocument: () => true }),
    )
    open.push(...peers.map((peer) => ({ close: () => peer.close() })))
    peers[0]!.openDoc('world/1/economy').getMap('prices').set('sword', 10)
    for (const peer of peers) peer.start()
    await waitFor(() => peers.every((peer) => peer.connectedPeers().length === 2), 5000, 'peers connected')
    peers[1]!.getDoc('world/1/economy')?.getMap('prices').set('shield', 7)
    peers[2]!.openDoc('world/1/economy').getMap('prices').set('potion', 2)
    const prices = (peer: Peer) => peer.getDoc('world/1/economy')?.getMap('prices').toJSON()
    await waitFor(() => peers.every((peer) => JSON.stringify(prices(peer)) === JSON.stringify({ sword: 10, shield: 7, potion: 2 }) || Object.keys(prices(peer) ?? {}).length === 3), 5000, 'convergence')
    const states = peers.map((peer) => Y.encodeStateVector(peer.getDoc('world/1/economy')!))
    expect(states[1]).toEqual(states[0])
    expect(states[2]).toEqual(states[0])
    expect(prices(peers[2]!)).toEqual({ sword: 10, shield: 7, potion: 2 })
  })
})
