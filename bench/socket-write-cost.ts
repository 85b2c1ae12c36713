// What one small WebSocket frame to one client costs on this machine, apart from any server logic:
// a bare `ws` server sends frames of `frameBytes` bytes round-robin over `sockets` connections at
// each target rate (a 16 ms tick, as the interest fan-out sends, each frame to another socket), and
// a receiver process holding the connections counts them. Measured per rate: writes/s achieved,
// the sender's CPU (user and kernel) per write, its write system calls per frame, and the
// receiver's CPU per frame. CPU time, not latency, so it holds on a shared machine. The interest
// workload sends about 9 such frames per intent (8 viewers and the mover's answer), so this bounds
// the intents/s any single-process server can fan out here.
//
//   npx tsx bench/socket-write-cost.ts [sockets=2000] [rates=10000,30000,100000] [seconds=5] [frameBytes=60]
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'
import { JsonLineChild } from './json-line-child.js'

/** Configuration of the receiver child. */
interface ReceiverConfig {
  readonly role: 'receiver'
  readonly url: string
  readonly sockets: number
}
type ReceiverCommand = { readonly cmd: 'connect' } | { readonly cmd: 'count' } | { readonly cmd: 'quit' }
type ReceiverAnswer = { readonly event: 'ready' } | { readonly event: 'connected'; readonly sockets: number } | { readonly event: 'count'; readonly frames: number; readonly cpuMs: number }

/** One measured rate. */
export interface WriteCostResult {
  readonly targetWritesPerSecond: number
  readonly writesPerSecond: number
  readonly senderCpuPercent: number
  readonly senderCpuUsPerWrite: number
  readonly senderUserUsPerWrite: number
  readonly writeCallsPerFrame: number
  readonly receivedPerSecond: number
  readonly receiverCpuUsPerFrame: number
}

const writeCalls = (): number => {
  try {
    return Number(/^syscw: (\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const receiver = async (config: ReceiverConfig): Promise<void> => {
  const reply = (value: ReceiverAnswer): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`)
  }
  const sockets: WebSocket[] = []
  let frames = 0
  reply({ event: 'ready' })
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue
    const command = JSON.parse(line) as ReceiverCommand
    if (command.cmd === 'connect') {
      for (let i = 0; i < config.sockets; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, config.sockets - i) }, () => {
            const ws = new WebSocket(config.url)
            ws.on('message', () => frames++)
            ws.on('error', () => {})
            sockets.push(ws)
            return new Promise((resolve) => ws.once('open', resolve))
          }),
        )
      }
      reply({ event: 'connected', sockets: sockets.length })
    } else if (command.cmd === 'count') {
      const cpu = process.cpuUsage()
      reply({ event: 'count', frames, cpuMs: (cpu.user + cpu.system) / 1000 })
    } else break
  }
  for (const ws of sockets) ws.terminate()
  process.exit(0)
}

/** Measures each rate in turn over the same connections. */
export const runSocketWriteCost = async (sockets: number, rates: readonly number[], seconds: number, frameBytes: number, log: (line: string) => void): Promise<WriteCostResult[]> => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  const clients: WebSocket[] = []
  wss.on('connection', (ws) => clients.push(ws))
  const address = wss.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const child = new JsonLineChild<ReceiverCommand, ReceiverAnswer>('socket-write-cost receiver', fileURLToPath(import.meta.url), { role: 'receiver', url: `ws://127.0.0.1:${port}`, sockets } satisfies ReceiverConfig)
  const count = async (): Promise<{ frames: number; cpuMs: number }> => {
    const answer = await child.ask({ cmd: 'count' })
    if (answer.event !== 'count') throw new Error(JSON.stringify(answer))
    return answer
  }
  const results: WriteCostResult[] = []
  try {
    await child.ready
    await child.ask({ cmd: 'connect' })
    while (clients.length < sockets) await sleep(10)
    const frame = Buffer.alloc(frameBytes, 7)
    let cursor = 0
    let sent = 0
    let due = 0
    let skipped = 0
    let timer: ReturnType<typeof setInterval> | undefined
    for (const rate of [rates[0] ?? 1000, ...rates]) {
      // The first rate runs twice: the first time, unreported, warms the send path up.
      const warm = results.length === 0 && timer === undefined
      const started = performance.now()
      sent = 0
      due = 0
      timer = setInterval(() => {
        due = ((performance.now() - started) * rate) / 1000
        // At most two ticks' worth at once: a starved sender shows as a lower rate, not as one long burst.
        const limit = sent + Math.ceil((rate * 32) / 1000)
        for (; sent < due && sent < limit; sent++) {
          const ws = clients[cursor++ % clients.length] as WebSocket
          // A receiver that falls behind is skipped rather than buffered without bound.
          if (ws.bufferedAmount > 65_536) skipped++
          else ws.send(frame)
        }
      }, 16)
      await sleep(1000)
      const cpu0 = process.cpuUsage()
      const calls0 = writeCalls()
      const sent0 = sent
      skipped = 0
      const recv0 = await count()
      const t0 = performance.now()
      await sleep(seconds * 1000)
      const cpu1 = process.cpuUsage(cpu0)
      const writes = sent - sent0 - skipped
      const calls = writeCalls() - calls0
      const elapsed = (performance.now() - t0) / 1000
      const recv1 = await count()
      clearInterval(timer)
      await sleep(500)
      if (warm) continue
      const result: WriteCostResult = {
        targetWritesPerSecond: rate,
        writesPerSecond: writes / elapsed,
        senderCpuPercent: ((cpu1.user + cpu1.system) / 1000 / (elapsed * 1000)) * 100,
        senderCpuUsPerWrite: (cpu1.user + cpu1.system) / Math.max(1, writes),
        senderUserUsPerWrite: cpu1.user / Math.max(1, writes),
        writeCallsPerFrame: calls / Math.max(1, writes),
        receivedPerSecond: (recv1.frames - recv0.frames) / elapsed,
        receiverCpuUsPerFrame: ((recv1.cpuMs - recv0.cpuMs) * 1000) / Math.max(1, recv1.frames - recv0.frames),
      }
      results.push(result)
      log(
        `socket-write-cost: ${sockets} sockets, target ${rate} writes/s: ${Math.round(result.writesPerSecond)} writes/s sent, ${Math.round(result.receivedPerSecond)}/s received; sender CPU ${result.senderCpuPercent.toFixed(0)}%, ${result.senderCpuUsPerWrite.toFixed(1)} us/write (${result.senderUserUsPerWrite.toFixed(1)} user), ${result.writeCallsPerFrame.toFixed(2)} write calls/frame; receiver ${result.receiverCpuUsPerFrame.toFixed(1)} us/frame`,
      )
    }
  } finally {
    await child.quit(15_000)
    for (const ws of clients) ws.terminate()
    wss.close()
  }
  return results
}

const config = process.argv[2]?.startsWith('{') ? (JSON.parse(process.argv[2]) as ReceiverConfig) : undefined
if (config?.role === 'receiver') {
  await receiver(config)
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [sockets, rates, seconds, frameBytes] = process.argv.slice(2)
  const results = await runSocketWriteCost(Number(sockets ?? 2000), (rates ?? '10000,30000,100000').split(',').map(Number), Number(seconds ?? 5), Number(frameBytes ?? 60), (line) => process.stderr.write(`${line}\n`))
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`)
}
