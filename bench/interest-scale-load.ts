// One load generator of the interest-scale benchmark: `clients` realmsync clients (intent channel
// only, no documents), each placed at its seeded home, subscribed to the area around it, sending
// `move` intents that jitter around home. Every move carries its send time; every client that sees
// the move in an ephemeral batch records send-to-visible delay. Sockets leave from this process's
// own loopback address so ephemeral ports do not run short. JSON lines on stdio.
import { createInterface } from 'node:readline'
import { WebSocket } from 'ws'
import { createRealmsyncClient, type RealmsyncClient, type WebSocketConstructor } from '../client/index.js'
import { signDevToken } from '../gateway/index.js'
import { LatencyHistogram } from './latency-histogram.js'
import { machineNow } from './cluster-protocol.js'
import { homeOf, type InterestLoadAnswer, type InterestLoadCommand, type InterestLoadConfig, type InterestPlan } from './interest-scale-protocol.js'

const answer = (value: InterestLoadAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const config = JSON.parse(process.argv[2] ?? '{}') as InterestLoadConfig
const localAddress = config.localAddress
/** `ws` bound to this process's loopback address. */
class BoundWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { localAddress })
  }
}

interface Measure {
  /** Moves sent from `from` to `to` (wall ms) are measured. */
  from: number
  to: number
  histogram: LatencyHistogram
  acks: LatencyHistogram
  deliveries: number
}
let measure: Measure | undefined
let closed = 0
let rejects = 0
let seed = config.index * 7919 + 1
const random = (): number => {
  // xorshift: jitter and client nonces, seeded per process.
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 2 ** 32
}

const clients: RealmsyncClient[] = []
const homes: Array<{ x: number; y: number }> = []

const connectAll = async (): Promise<void> => {
  const started = Date.now()
  const failures: string[] = []
  let next = 0
  let connected = 0
  const connectOne = async (local: number): Promise<void> => {
    const global = config.first + local
    const player = `c${global}`
    const token = await signDevToken({ player, read: [], write: [], ttlSeconds: 24 * 3600, secret: config.secret })
    const home = homeOf(global, config.worldSize)
    homes[local] = home
    const client = createRealmsyncClient({
      url: config.urls[global % config.urls.length] as string,
      token,
      WebSocket: BoundWebSocket as unknown as WebSocketConstructor,
      random,
      onEphemeral: (batch) => {
        const m = measure
        if (m === undefined) return
        const now = machineNow()
        for (const entry of batch.entries) {
          if (entry.field !== 'position') continue
          const t = (entry.value as { t?: unknown } | null)?.t
          if (typeof t !== 'number' || t < m.from || t >= m.to) continue
          m.histogram.record(now - t)
          m.deliveries++
        }
      },
      onError: () => {},
    })
    clients[local] = client
    const deadline = Date.now() + 60_000
    while (client.home === undefined) {
      if (Date.now() > deadline) throw new Error(`${player}: no session greeting within 60 s`)
      await sleep(20)
    }
    client.subscribe({ x: home.x, y: home.y, radius: config.radius })
    connected++
  }
  const worker = async (): Promise<void> => {
    while (next < config.clients) {
      const local = next++
      try {
        await connectOne(local)
      } catch (error) {
        if (failures.length < 5) failures.push(error instanceof Error ? error.message : String(error))
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, config.connectConcurrency) }, () => worker()))
  answer({ event: 'connected', connected, failed: config.clients - connected, elapsedMs: Date.now() - started, failures })
}

const run = async (plan: InterestPlan): Promise<void> => {
  const m: Measure = { from: plan.startAt + plan.warmupMs, to: plan.startAt + plan.warmupMs + plan.measureMs, histogram: new LatencyHistogram(), acks: new LatencyHistogram(), deliveries: 0 }
  measure = m
  let windowIntents = 0
  let windowAcks = 0
  await sleep(Math.max(0, plan.startAt - machineNow()))
  const cpuStart = process.cpuUsage()
  const started = machineNow()
  let sent = 0
  let cursor = 0
  const end = plan.startAt + plan.warmupMs + plan.measureMs
  // CPU over the measured window alone: what receiving and decoding the deliveries costs a client process.
  let windowCpuStart: NodeJS.CpuUsage | undefined
  while (machineNow() < end) {
    if (windowCpuStart === undefined && machineNow() >= m.from) windowCpuStart = process.cpuUsage()
    const due = Math.floor(((machineNow() - started) * plan.intentsPerSecond) / 1000)
    for (; sent < due; sent++) {
      const local = cursor++ % clients.length
      const client = clients[local]
      const home = homes[local]
      if (client === undefined || home === undefined) continue
      const t = machineNow()
      const inWindow = t >= m.from && t < m.to
      if (inWindow) windowIntents++
      client.send('move', { x: home.x + (random() - 0.5), y: home.y + (random() - 0.5), t }).then(
        (result) => {
          if (result.type === 'reject') rejects++
          if (inWindow) {
            windowAcks++
            m.acks.record(machineNow() - t)
          }
        },
        () => closed++,
      )
    }
    await sleep(5)
  }
  const windowCpu = process.cpuUsage(windowCpuStart)
  await sleep(plan.drainMs)
  const cpu = process.cpuUsage(cpuStart)
  measure = undefined
  answer({
    event: 'report',
    histogram: m.histogram.toJSON(),
    ackHistogram: m.acks.toJSON(),
    windowIntents,
    windowAcks,
    windowDeliveries: m.deliveries,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / Math.max(1, machineNow() - started)) * 100,
    windowCpuMs: (windowCpu.user + windowCpu.system) / 1000,
    closed,
    rejects,
  })
}

answer({ event: 'ready' })
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as InterestLoadCommand
  try {
    if (command.cmd === 'connect') await connectAll()
    else if (command.cmd === 'run') await run(command.plan)
    else break
  } catch (error) {
    answer({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}
for (const client of clients) client?.close()
process.exit(0)
