import { createServer, connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * A loopback TCP proxy in front of a gateway, so a test can cut every live connection at once:
 * both the client's socket and the server-side socket die mid-stream, frames in flight are lost
 * in both directions, as when a player's network drops.
 */
export const startTcpProxy = async (targetPort: number) => {
  const live = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      live.add(socket)
      socket.on('close', () => live.delete(socket))
      socket.on('error', () => {})
    }
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    /** Destroys every proxied connection; returns how many sockets were cut. */
    cutAll: (): number => {
      const count = live.size
      for (const socket of [...live]) socket.destroy()
      return count
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
