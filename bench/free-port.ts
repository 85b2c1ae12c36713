import { createServer } from 'node:net'

/** A TCP port free on 127.0.0.1 right now (the OS picks it; a process started next can bind it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })

/** The TCP port of a loopback multiaddr such as `/ip4/127.0.0.1/tcp/4001` (the benches' listen addresses). */
export const portOfMultiaddr = (multiaddr: string): number => {
  const match = /\/tcp\/(\d+)/.exec(multiaddr)
  if (!match) throw new RangeError(`no tcp port in ${multiaddr}`)
  return Number(match[1])
}
