// The relay benchmarks' raw clients must speak each server's protocol for real, or the benchmark
// measures nothing: a writer's update reaches a reader through realmsync's gateway and through
// Hocuspocus, and a reader holding no write grant is refused by realmsync when it writes.
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Server } from '@hocuspocus/server'
import { createRandom, createSystemClock } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { defaultAuthenticate, signDevToken, startGateway } from '../../gateway/index.js'
import { connectRelayClient, type RelayClient } from '../../bench/relay-client.js'
import { RELAY_DOC, type RelayFlavour } from '../../bench/relay-protocol.js'

const secret = 'relay-client-test-secret-of-at-least-32-bytes'
const closers: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const close of closers.reverse()) await close()
})

/** Connects a writer and a reader, writes one map entry, and returns what the reader heard. */
const roundTrip = async (flavour: RelayFlavour, url: string, tokens: { writer?: string; reader?: string }): Promise<{ value: unknown; writerClient: number; heardFrom: number[] }> => {
  const heard: Uint8Array[] = []
  const base = { flavour, url, docName: RELAY_DOC, timeoutMs: 5000 }
  const writer: RelayClient = await connectRelayClient({ ...base, ...(tokens.writer ? { token: tokens.writer } : {}) }, {})
  const reader = await connectRelayClient({ ...base, ...(tokens.reader ? { token: tokens.reader } : {}) }, { onUpdate: (update) => heard.push(update) })
  closers.push(() => writer.close(), () => reader.close())
  const doc = new Y.Doc()
  doc.on('update', (update: Uint8Array) => writer.sendUpdate(update))
  doc.getMap('kv').set('k0', 42)
  const deadline = Date.now() + 5000
  while (heard.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  const replica = new Y.Doc()
  for (const update of heard) Y.applyUpdate(replica, update)
  return { value: replica.getMap('kv').get('k0'), writerClient: doc.clientID, heardFrom: heard.flatMap((update) => [...Y.parseUpdateMeta(update).from.keys()]) }
}

describe('relay benchmark raw clients', () => {
  it('carry a writer update to a reader through the realmsync gateway, and are refused writes without a grant', async () => {
    const network = new MemoryNetwork()
    const peer = new Peer({ id: 'relay-test', transport: network.endpoint('relay-test'), clock: createSystemClock(), random: createRandom(7) })
    const gateway = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate: defaultAuthenticate({ kind: 'secret', secret }) })
    closers.push(() => peer.close(), () => gateway.close())
    const url = `ws://127.0.0.1:${gateway.port}`
    const writer = await signDevToken({ player: 'w', read: ['player/w/*'], write: ['player/w/*'], ttlSeconds: 60, secret })
    const reader = await signDevToken({ player: 'r1', read: ['player/w/*'], write: [], ttlSeconds: 60, secret })
    const result = await roundTrip('y-websocket', url, { writer, reader })
    expect(result.value).toBe(42)
    expect(result.heardFrom).toContain(result.writerClient)

    const refusals: string[] = []
    const intruder = await connectRelayClient({ flavour: 'y-websocket', url, docName: RELAY_DOC, token: reader, timeoutMs: 5000 }, { onRefusal: (reason) => refusals.push(reason) })
    closers.push(() => intruder.close())
    const doc = new Y.Doc()
    doc.getMap('kv').set('k0', 1)
    intruder.sendUpdate(Y.encodeStateAsUpdate(doc))
    const deadline = Date.now() + 5000
    while (refusals.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(refusals[0]).toMatch(/read-only/)
  })

  it('speak Hocuspocus framing: authenticate, sync, and hear a writer update', async () => {
    const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false })
    await server.listen()
    closers.push(() => server.destroy())
    const result = await roundTrip('hocuspocus', `ws://127.0.0.1:${server.address.port}`, {})
    expect(result.value).toBe(42)
    expect(result.heardFrom).toContain(result.writerClient)
  })

  it('fail to connect when the realmsync gateway refuses the token', async () => {
    const network = new MemoryNetwork()
    const peer = new Peer({ id: 'relay-test-2', transport: network.endpoint('relay-test-2'), clock: createSystemClock(), random: createRandom(8) })
    const gateway = await startGateway({ peer, port: 0, host: '127.0.0.1', authenticate: defaultAuthenticate({ kind: 'secret', secret }) })
    closers.push(() => peer.close(), () => gateway.close())
    await expect(connectRelayClient({ flavour: 'y-websocket', url: `ws://127.0.0.1:${gateway.port}`, docName: RELAY_DOC, token: 'not-a-token', timeoutMs: 5000 }, {})).rejects.toThrow(/4401/)
  })
})
