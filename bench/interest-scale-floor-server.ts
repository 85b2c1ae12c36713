// The floor of the interest-scale benchmark: a bare `ws` server with no realmsync in it (no peer,
// engine, Yjs, sessions, auth, store, rate limits or send-buffer checks), speaking just enough of
// the intent channel for the benchmark's unchanged realmsync clients (bench/interest-scale-load.ts):
// a session greeting on connect (the clients wait for it before subscribing), their interest
// circles, their `move` intents. Each move's position lands in a uniform grid of the clients'
// areas (cell side `cellSize`, an area entered in every cell its bounding box touches, candidates
// exact-checked against the radius, as the gateway's grid does), and goes to every client whose
// circle covers it; answers and positions go out together, one batch frame (core's session-batch
// encoding, what the clients decode) per client per fan-out tick, a register encoded once for all
// its viewers, as the gateway batches. What it leaves out: `gone` notices for entities leaving an
// area, and a subscriber's first view of what is already inside. It measures what the machine
// allows any one process here: its CPU and socket writes per intent are a lower bound for a
// server doing this fan-out. JSON lines on stdio, the same commands and stats as
// bench/interest-scale-server.ts.
import { createInterface } from 'node:readline'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { decodeIntent, encodeIntentResult, encodeSessionBatchFrame, encodeSessionBatchRegister, type EncodedSessionBatchItem } from '../core/index.js'
import { serverStats } from './server-stats.js'
import { systemCalls } from './interest-scale-syscalls.js'
import type { InterestServerAnswer, InterestServerCommand, InterestServerConfig } from './interest-scale-protocol.js'

const answer = (value: InterestServerAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const config = JSON.parse(process.argv[2] ?? '{}') as InterestServerConfig

/** One connected client: its interest circle, and what waits for its next frame. */
interface FloorClient {
  readonly ws: WebSocket
  x: number
  y: number
  radius: number
  /** Grid cells its circle is entered in. */
  cells: number[]
  /** Encoded position registers for the next frame. */
  entries: Uint8Array[]
  /** Encoded answers for the next frame. */
  answers: Uint8Array[]
  dirty: boolean
}

/** A move waiting for the tick. */
interface Move {
  readonly x: number
  readonly y: number
  readonly register: () => Uint8Array
}

const cellSize = config.cellSize > 0 ? config.cellSize : 40
const cellOf = (v: number): number => Math.floor(v / cellSize)
// Worlds here are a few thousand units wide: cell coordinates fit in 16 bits each, negative ones folded by the offset.
const keyOf = (cx: number, cy: number): number => (cx + 32768) * 65536 + (cy + 32768)
const grid = new Map<number, FloorClient[]>()

const leaveGrid = (client: FloorClient): void => {
  for (const key of client.cells) {
    const list = grid.get(key)
    if (list === undefined) continue
    const at = list.indexOf(client)
    if (at >= 0) list.splice(at, 1)
    if (list.length === 0) grid.delete(key)
  }
  client.cells = []
}

const enterGrid = (client: FloorClient): void => {
  leaveGrid(client)
  for (let cx = cellOf(client.x - client.radius); cx <= cellOf(client.x + client.radius); cx++) {
    for (let cy = cellOf(client.y - client.radius); cy <= cellOf(client.y + client.radius); cy++) {
      const key = keyOf(cx, cy)
      let list = grid.get(key)
      if (list === undefined) grid.set(key, (list = []))
      list.push(client)
      client.cells.push(key)
    }
  }
}

const dirty: FloorClient[] = []
const markDirty = (client: FloorClient): void => {
  if (client.dirty) return
  client.dirty = true
  dirty.push(client)
}
/** Moves since the last tick, the latest per mover (a store keeps one register per entity and field). */
let moves = new Map<string, Move>()
let intents = 0
let frames = 0
let connections = 0

const finite = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0)
const ACK_NULL = (seq: number): Uint8Array => encodeIntentResult({ type: 'ack', seq, result: null })

const onMessage = (client: FloorClient, data: RawData, isBinary: boolean): void => {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data
  if (!isBinary) {
    // Control text: the interest circle; the clients' `acked` watermarks need nothing here.
    let message: { type?: unknown; x?: unknown; y?: unknown; radius?: unknown }
    try {
      message = JSON.parse(bytes.toString()) as typeof message
    } catch {
      return
    }
    if (message.type !== 'interest') return
    client.x = finite(message.x)
    client.y = finite(message.y)
    client.radius = Math.max(0, finite(message.radius))
    enterGrid(client)
    return
  }
  let intent
  try {
    intent = decodeIntent(bytes)
  } catch {
    client.ws.terminate()
    return
  }
  intents++
  const payload = (intent.payload ?? {}) as Record<string, unknown>
  const position = { x: finite(payload.x), y: finite(payload.y), t: finite(payload.t) }
  const entity = intent.player
  let encoded: Uint8Array | undefined
  moves.set(entity, { x: position.x, y: position.y, register: () => (encoded ??= encodeSessionBatchRegister({ entity, field: 'position', value: position })) })
  client.answers.push(ACK_NULL(intent.seq))
  markDirty(client)
}

const tick = (): void => {
  const now = moves
  moves = new Map()
  for (const move of now.values()) {
    const candidates = grid.get(keyOf(cellOf(move.x), cellOf(move.y)))
    if (candidates === undefined) continue
    for (const viewer of candidates) {
      if (Math.hypot(move.x - viewer.x, move.y - viewer.y) > viewer.radius) continue
      viewer.entries.push(move.register())
      markDirty(viewer)
    }
  }
  for (const client of dirty) {
    client.dirty = false
    // Positions before answers, as the gateway orders them.
    const items: EncodedSessionBatchItem[] = []
    if (client.entries.length > 0) items.push({ kind: 'ephemeral', entries: client.entries, gone: [] })
    for (const bytes of client.answers) items.push({ kind: 'answer', bytes })
    client.entries = []
    client.answers = []
    if (items.length === 0 || client.ws.readyState !== client.ws.OPEN) continue
    client.ws.send(encodeSessionBatchFrame(items, (size) => Buffer.allocUnsafe(size)))
    frames++
  }
  dirty.length = 0
}

const wss = new WebSocketServer({ host: config.host, port: 0, maxPayload: 16 * 2 ** 20 })
let nonce = 0
wss.on('connection', (ws, request) => {
  connections++
  const client: FloorClient = { ws, x: 0, y: 0, radius: -1, cells: [], entries: [], answers: [], dirty: false }
  const session = new URL(request.url ?? '/', 'ws://floor').searchParams.get('session') ?? `s${nonce}`
  ws.send(JSON.stringify({ v: 1, type: 'session', session, resumeToken: `floor-${nonce++}`, home: 'floor', lastAckedSeq: 0 }))
  ws.on('message', (data, isBinary) => onMessage(client, data, isBinary))
  ws.on('error', () => {})
  ws.on('close', () => {
    connections--
    leaveGrid(client)
  })
})
await new Promise<void>((resolve) => wss.once('listening', resolve))
const timer = setInterval(tick, config.intervalMs)
const address = wss.address()
answer({ event: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 })

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as InterestServerCommand
  if (command.cmd === 'stats') answer({ ...serverStats(connections, command.gc === true), intents, batches: frames, ...systemCalls(), userCpuMs: process.cpuUsage().user / 1000 })
  else if (command.cmd === 'peers') answer({ event: 'peers', peers: 0 })
  else break
}
clearInterval(timer)
for (const client of wss.clients) client.terminate()
wss.close()
process.exit(0)
