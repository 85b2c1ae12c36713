// The relay benchmark's floor (a bare ws forwarder) must still be a working relay for the load it
// measures, or its numbers mean nothing: a writer's update reaches the other clients as sent, not
// the writer itself, and a client joining later syncs the state forwarded so far.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebSocket } from 'ws'
import { FloorRelay } from '../../bench/relay-floor-server.js'
import { connectRelayClient } from '../../bench/relay-client.js'
import { RELAY_DOC } from '../../bench/relay-protocol.js'

const closers: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const close of closers.reverse()) await close()
})

const startFloor = async (corked = false): Promise<string> => {
  const relay = new FloorRelay({ corked })
  const http = createServer()
  http.on('upgrade', (request, socket, head) => relay.wss.handleUpgrade(request, socket, head, (ws) => relay.wss.emit('connection', ws, request)))
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  closers.push(async () => {
    for (const client of relay.wss.clients) client.terminate()
    await new Promise<void>((resolve) => http.close(() => resolve()))
  })
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`
}

const until = async (done: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('relay floor server', () => {
  it('forwards a writer update to the other clients only, and syncs a late joiner to the state so far', async () => {
    const url = await startFloor()
    const base = { flavour: 'y-websocket' as const, url, docName: RELAY_DOC, timeoutMs: 5000 }
    const toReader: Uint8Array[] = []
    const toWriter: Uint8Array[] = []
    const writer = await connectRelayClient(base, { onUpdate: (update) => toWriter.push(update) })
    const reader = await connectRelayClient(base, { onUpdate: (update) => toReader.push(update) })
    closers.push(() => writer.close(), () => reader.close())
    const doc = new Y.Doc()
    doc.on('update', (update: Uint8Array) => writer.sendUpdate(update))
    doc.getMap('kv').set('k0', 1)
    doc.getMap('kv').set('k1', 2)
    await until(() => toReader.length === 2)
    expect(toReader).toHaveLength(2)
    expect(toWriter).toHaveLength(0)

    // A stock provider syncs with a Y.Doc of its own: it must end up holding both writes.
    const late = new Y.Doc()
    const ws = new WebSocket(`${url}/${RELAY_DOC}`)
    closers.push(() => ws.close())
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => {
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.writeSyncStep1(encoder, late)
      ws.send(encoding.toUint8Array(encoder))
    })
    ws.on('message', (data: Buffer) => {
      const decoder = decoding.createDecoder(data)
      decoding.readVarUint(decoder)
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.readSyncMessage(decoder, encoder, late, 'server')
      if (encoding.length(encoder) > 1) ws.send(encoding.toUint8Array(encoder))
    })
    await until(() => late.getMap('kv').size === 2)
    expect(late.getMap('kv').toJSON()).toEqual({ k0: 1, k1: 2 })
  })

  it('corked, still forwards every update of a turn verbatim, in order', async () => {
    const url = await startFloor(true)
    const base = { flavour: 'y-websocket' as const, url, docName: RELAY_DOC, timeoutMs: 5000 }
    const heard: Uint8Array[] = []
    const writer = await connectRelayClient(base, {})
    const reader = await connectRelayClient(base, { onUpdate: (update) => heard.push(update) })
    closers.push(() => writer.close(), () => reader.close())
    const doc = new Y.Doc()
    const sent: Uint8Array[] = []
    doc.on('update', (update: Uint8Array) => {
      sent.push(update)
      writer.sendUpdate(update)
    })
    for (let index = 0; index < 20; index++) doc.getMap('kv').set(`k${index % 4}`, index)
    await until(() => heard.length === 20)
    expect(heard.map((update) => Buffer.from(update).toString('hex'))).toEqual(sent.map((update) => Buffer.from(update).toString('hex')))
  })
})
