import { Writable } from 'node:stream'
import pino, { type Logger } from 'pino'
import type { EndpointId, Transport } from '../../transports/index.js'

/** Polls `check` until it holds or `timeoutMs` passes (real time: network tests). */
export const waitFor = async (check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** What a transport's owner saw: connects, disconnects and frames, in order. */
export interface Recorded {
  readonly connected: Set<EndpointId>
  readonly everConnected: EndpointId[]
  readonly disconnected: EndpointId[]
  readonly frames: Array<{ from: EndpointId; frame: Uint8Array }>
}

/** Listens on a transport and records everything its handlers see. */
export const record = (transport: Transport): Recorded => {
  const seen: Recorded = { connected: new Set(), everConnected: [], disconnected: [], frames: [] }
  transport.listen({
    onConnect: (peer) => {
      seen.connected.add(peer)
      seen.everConnected.push(peer)
    },
    onDisconnect: (peer) => {
      seen.connected.delete(peer)
      seen.disconnected.push(peer)
    },
    onFrame: (from, frame) => seen.frames.push({ from, frame }),
  })
  return seen
}

/** A pino logger at `debug` whose JSON lines land in `lines`. */
export const capturingLogger = (): { logger: Logger; lines: Array<Record<string, unknown>> } => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, sink), lines }
}

/** A frame whose bytes spell a number, to check order. */
export const numbered = (n: number, size = 8): Uint8Array => {
  const frame = new Uint8Array(size)
  new DataView(frame.buffer).setUint32(0, n)
  return frame
}

/** The number `numbered` wrote. */
export const numberOf = (frame: Uint8Array): number => new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0)
