// A cluster-bench node that does the least any Yjs replication between these processes can do: a
// bare WebSocket mesh (ws, one connection per pair) that sends each event-loop turn's local updates,
// merged, to every other node and applies what arrives. No store, no validation, no routing, no
// repair, no admission. It is the floor of the loopback cluster: what this machine's scheduler and
// sockets give a message that costs almost nothing, under the same load generator and tick pattern.
import { setImmediate as defer } from 'node:timers'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import * as Y from 'yjs'
import type { BenchNode, WorkerConfig } from './cluster-protocol.js'
import { portOfMultiaddr } from './free-port.js'

/** Transaction origin of updates that arrived from the mesh, so they are not sent on. */
const FROM_MESH = Symbol('mesh')

const bytesOf = (data: RawData): Uint8Array => (Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data)

/** Starts a mesh node listening on the worker's port; `dial` connects it to the nodes before it. */
export const startWsMeshNode = async (config: WorkerConfig): Promise<BenchNode> => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: portOfMultiaddr(config.listen) })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const doc = new Y.Doc({ gc: true })
  const sockets = new Set<WebSocket>()
  const counters = { framesSent: 0, framesReceived: 0, bytesSent: 0, applyErrors: 0 }
  const attach = (socket: WebSocket): void => {
    sockets.add(socket)
    socket.on('message', (data) => {
      counters.framesReceived++
      try {
        Y.applyUpdate(doc, bytesOf(data), FROM_MESH)
      } catch {
        counters.applyErrors++
      }
    })
    socket.on('close', () => sockets.delete(socket))
  }
  server.on('connection', attach)

  let pending: Uint8Array[] = []
  const flush = (): void => {
    const batch = pending
    pending = []
    const update = batch.length === 1 ? (batch[0] as Uint8Array) : Y.mergeUpdates(batch)
    for (const socket of sockets) {
      socket.send(update, { binary: true })
      counters.framesSent++
      counters.bytesSent += update.length
    }
  }
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin === FROM_MESH) return
    if (pending.push(update) === 1) defer(flush)
  })

  return {
    id: `mesh-${config.index}`,
    addresses: [config.listen],
    doc,
    dial: async (addresses) => {
      await Promise.all(
        addresses.map(
          (address) =>
            new Promise<void>((resolve, reject) => {
              const socket = new WebSocket(`ws://127.0.0.1:${portOfMultiaddr(address)}`)
              socket.once('open', () => {
                attach(socket)
                resolve()
              })
              socket.once('error', reject)
            }),
        ),
      )
    },
    readyPeers: () => sockets.size,
    counters: () => ({ ...counters }),
    gauges: () => ({ sockets: sockets.size }),
    close: async () => {
      for (const socket of sockets) socket.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      doc.destroy()
    },
  }
}
