// The floor of the resolution benchmark: the same three processes and the same messages as a
// realmsync round, over a bare WebSocket mesh (ws, one connection per pair) with no realmsync code
// at all. A claimant sends a tiny claim to the item's owner; the owner waits the settlement window
// (a real timer, from the first claim it sees), picks the earliest-stamped claim (ties by player id),
// takes the outcome as visible itself, answers both claimants and sends the outcome to every other
// process, which takes it as visible. Like the resolver, the owner remembers who holds each item, so
// a claim arriving after its item was settled (a late claimant) is refused in its own window and
// changes nothing. No CRDT, store, validation, routing, admission or resends:
// what this machine's scheduler and sockets charge for the message pattern itself.
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { monotonicNow } from './resolution-protocol.js'
import type { ResolutionNode, ResolutionWorkerConfig, VisibleListener } from './resolution-protocol.js'
import { portOfMultiaddr } from './free-port.js'

/** A frame on the mesh, JSON: hello (the dialer's index), claim, answer, outcome. */
type FloorFrame =
  | { readonly t: 'hello'; readonly from: number }
  | { readonly t: 'claim'; readonly item: string; readonly player: string; readonly stamp: number; readonly from: number }
  | { readonly t: 'answer'; readonly item: string; readonly player: string; readonly granted: boolean }
  | { readonly t: 'outcome'; readonly item: string; readonly holder: string }

interface PendingClaim {
  readonly player: string
  readonly stamp: number
  /** The claimant's process index. */
  readonly from: number
}

const textOf = (data: RawData): string => (Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data).toString()

/** Starts a floor node: listens on its port and dials every process before it in the list (retrying until they listen). */
export const startFloorResolutionNode = async (config: ResolutionWorkerConfig, onVisible: VisibleListener): Promise<ResolutionNode> => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: portOfMultiaddr(config.listen), perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const peers = new Map<number, WebSocket>()
  const counters = { framesSent: 0, framesReceived: 0, claimsSettled: 0, claimsRefusedHeld: 0, badFrames: 0 }
  const pending = new Map<string, PendingClaim[]>()
  /** Items this process owns and has settled, and their holder. */
  const holders = new Map<string, string>()
  const answers = new Map<string, (granted: boolean) => void>()
  let windowMs = 2
  let closed = false

  const send = (to: number, frame: FloorFrame): void => {
    const socket = peers.get(to)
    if (socket === undefined) return
    socket.send(JSON.stringify(frame))
    counters.framesSent++
  }

  const settle = (item: string): void => {
    const claims = pending.get(item) ?? []
    pending.delete(item)
    counters.claimsSettled += claims.length
    const held = holders.has(item)
    const winner = held ? undefined : [...claims].sort((a, b) => a.stamp - b.stamp || (a.player < b.player ? -1 : a.player > b.player ? 1 : 0))[0]
    if (winner !== undefined) {
      holders.set(item, winner.player)
      onVisible(item, winner.player)
    } else counters.claimsRefusedHeld += claims.length
    for (const claim of claims) {
      const granted = claim === winner
      if (claim.from === config.index) {
        answers.get(claim.player)?.(granted)
        answers.delete(claim.player)
      } else send(claim.from, { t: 'answer', item, player: claim.player, granted })
    }
    if (winner !== undefined) for (const index of peers.keys()) send(index, { t: 'outcome', item, holder: winner.player })
  }

  const receiveClaim = (item: string, claim: PendingClaim): void => {
    const claims = pending.get(item)
    if (claims !== undefined) {
      claims.push(claim)
      return
    }
    pending.set(item, [claim])
    setTimeout(() => settle(item), windowMs)
  }

  const attach = (socket: WebSocket, known?: number): void => {
    let from = known
    if (from !== undefined) peers.set(from, socket)
    socket.on('message', (data) => {
      counters.framesReceived++
      let frame: FloorFrame
      try {
        frame = JSON.parse(textOf(data)) as FloorFrame
      } catch {
        counters.badFrames++
        return
      }
      switch (frame.t) {
        case 'hello':
          from = frame.from
          peers.set(from, socket)
          break
        case 'claim':
          receiveClaim(frame.item, { player: frame.player, stamp: frame.stamp, from: frame.from })
          break
        case 'answer':
          answers.get(frame.player)?.(frame.granted)
          answers.delete(frame.player)
          break
        case 'outcome':
          onVisible(frame.item, frame.holder)
          break
      }
    })
    socket.on('close', () => {
      if (from !== undefined && peers.get(from) === socket) peers.delete(from)
    })
  }
  server.on('connection', (socket) => attach(socket))

  const dial = (index: number, address: string): void => {
    if (closed) return
    const socket = new WebSocket(`ws://127.0.0.1:${portOfMultiaddr(address)}`, { perMessageDeflate: false })
    socket.once('open', () => {
      attach(socket, index)
      socket.send(JSON.stringify({ t: 'hello', from: config.index } satisfies FloorFrame))
    })
    // Not listening yet: try again shortly.
    socket.once('error', () => setTimeout(() => dial(index, address), 100))
  }
  config.bootstrap.forEach((address, index) => {
    if (index < config.index) dial(index, address)
  })

  return {
    id: `floor-${config.index}`,
    addresses: [config.listen],
    connectedPeers: () => peers.size,
    setup: (_members, window) => {
      if (window === 'auto') throw new RangeError('the floor takes a fixed settlement window in ms')
      windowMs = window
    },
    claim: (item, player, owner, answer) => {
      if (owner === undefined) throw new RangeError('a floor claim needs its owner')
      answers.set(player, answer)
      const claim = { player, stamp: monotonicNow(), from: config.index }
      if (owner === config.index) receiveClaim(item, claim)
      else send(owner, { t: 'claim', item, ...claim })
    },
    stats: () => ({ ...counters }),
    close: async () => {
      closed = true
      for (const socket of peers.values()) socket.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
