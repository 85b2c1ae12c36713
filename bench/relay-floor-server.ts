// The relay benchmark's measuring stick, "floor: bare ws forwarder, no Yjs": the least a
// y-websocket relay can do. Every update message a client sends goes to every other client of the
// document as the very bytes it came in (a client's `[sync, update, bytes]` message is what a
// server sends for an update too), without decoding the update or applying it anywhere. No auth, no
// validation, no rate limits, no slow-reader policy, no persistence. What a server with Yjs on the
// path costs beyond this is the price of being a real server; what this costs is the machine's.
//
// `corked`: every client's socket is corked from its first frame of an event-loop turn to the end
// of the turn, so the frames of a turn still go out verbatim, one WebSocket frame each, but in one
// socket write per client (what merging a turn's updates buys the gateway, without merging).
//
// The handshake is still answered correctly, so a stock provider (and the benchmark's raw clients)
// syncs: the document is the log of the updates forwarded so far, merged (`Y.mergeUpdates`, Yjs
// at handshake time only, not per forwarded update) into one update whenever a handshake needs it.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocketServer, type WebSocket } from 'ws'
import * as Y from 'yjs'

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const SYNC_STEP1 = 0
const SYNC_STEP2 = 1
const SYNC_UPDATE = 2
/** Past this many logged updates the log is merged into one, so it does not grow with every write. */
const COMPACT_EVERY = 4096

/** Which bytes a forwarder does what with: a sync update or step 2 is forwarded, step 1 answered, awareness forwarded. */
type Classified = { readonly kind: 'update'; readonly update: Uint8Array; readonly asUpdate: boolean } | { readonly kind: 'step1'; readonly stateVector: Uint8Array } | { readonly kind: 'forward' } | { readonly kind: 'ignore' }

/** Reads a client message's type and, for sync, its payload (a malformed one throws, and the client is cut). */
const classify = (bytes: Uint8Array): Classified => {
  const decoder = decoding.createDecoder(bytes)
  const type = decoding.readVarUint(decoder)
  if (type === MESSAGE_AWARENESS) return { kind: 'forward' }
  if (type !== MESSAGE_SYNC) return { kind: 'ignore' }
  const sync = decoding.readVarUint(decoder)
  const payload = decoding.readVarUint8Array(decoder)
  if (sync === SYNC_STEP1) return { kind: 'step1', stateVector: payload }
  if (sync === SYNC_UPDATE) return { kind: 'update', update: payload, asUpdate: true }
  if (sync === SYNC_STEP2) return { kind: 'update', update: payload, asUpdate: false }
  return { kind: 'ignore' }
}

const syncMessage = (kind: number, payload: Uint8Array): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  encoding.writeVarUint(encoder, kind)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

/** An update with no structs and no deletions: what a client with nothing new answers step 1 with. */
const isEmptyUpdate = (update: Uint8Array): boolean => update.length === 2 && update[0] === 0 && update[1] === 0

/** The TCP socket under a `ws` WebSocket (not public API: a benchmark's measuring stick may reach for it). */
const socketOf = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket

/** Sockets corked in this event-loop turn, uncorked together after it. */
class TurnCork {
  private corked: Socket[] = []

  send(ws: WebSocket, bytes: Uint8Array): void {
    const socket = socketOf(ws)
    if (socket.writableCorked === 0) {
      if (this.corked.length === 0) setImmediate(() => this.uncork())
      socket.cork()
      this.corked.push(socket)
    }
    ws.send(bytes)
  }

  private uncork(): void {
    const corked = this.corked
    this.corked = []
    for (const socket of corked) socket.uncork()
  }
}

/** One document: its clients and the log of what was forwarded. */
class FloorRoom {
  readonly clients = new Set<WebSocket>()
  private log: Uint8Array[] = []

  constructor(private readonly cork: TurnCork | undefined) {}

  /** The document's whole state as one update (merging the log, which then holds just that). */
  state(): Uint8Array {
    if (this.log.length !== 1) this.log = [this.log.length === 0 ? Y.encodeStateAsUpdate(new Y.Doc()) : Y.mergeUpdates(this.log)]
    return this.log[0] as Uint8Array
  }

  /** Sends `bytes` to every client but `from`, and logs the update. */
  forward(from: WebSocket, bytes: Uint8Array, update: Uint8Array | undefined): void {
    if (update !== undefined) {
      this.log.push(update)
      if (this.log.length >= COMPACT_EVERY) this.state()
    }
    const cork = this.cork
    for (const client of this.clients) {
      if (client === from) continue
      if (cork) cork.send(client, bytes)
      else client.send(bytes)
    }
  }
}

/** The floor server's WebSocket side: give it upgraded sockets of `/<document>`. */
export class FloorRelay {
  readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  private readonly rooms = new Map<string, FloorRoom>()
  private readonly cork: TurnCork | undefined

  constructor(options: { readonly corked?: boolean } = {}) {
    this.cork = options.corked === true ? new TurnCork() : undefined
    this.wss.on('connection', (ws: WebSocket, request: IncomingMessage) => this.admit(ws, request))
  }

  private admit(ws: WebSocket, request: IncomingMessage): void {
    const name = new URL(request.url ?? '/', 'http://floor.invalid').pathname.slice(1)
    let room = this.rooms.get(name)
    if (!room) {
      room = new FloorRoom(this.cork)
      this.rooms.set(name, room)
    }
    const joined = room
    joined.clients.add(ws)
    ws.on('close', () => joined.clients.delete(ws))
    ws.on('error', () => ws.terminate())
    ws.on('message', (data: Buffer) => {
      try {
        const message = classify(data)
        if (message.kind === 'step1') ws.send(syncMessage(SYNC_STEP2, Y.diffUpdate(joined.state(), message.stateVector)))
        else if (message.kind === 'forward') joined.forward(ws, data, undefined)
        else if (message.kind === 'update' && !isEmptyUpdate(message.update)) {
          // An update message goes out as it came; a step 2 with content is re-framed as an update.
          joined.forward(ws, message.asUpdate ? data : syncMessage(SYNC_UPDATE, message.update), message.update)
        }
      } catch {
        ws.terminate()
      }
    })
    // As y-websocket greets: its state vector, so a client holding more sends it (step 2).
    ws.send(syncMessage(SYNC_STEP1, Y.encodeStateVectorFromUpdate(joined.state())))
  }

  /** Open client connections. */
  get connections(): number {
    return this.wss.clients.size
  }
}
