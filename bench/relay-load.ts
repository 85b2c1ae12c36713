// One load-generator process of the relay benchmarks: opens raw reader connections (relay-client.ts)
// to one or more servers and a few writer connections, then writes at a planned rate (open loop:
// a late tick writes everything due) and measures the fan-out delay of its own writes to its own
// readers, from the moment a writer hands an update to its socket to the moment a reader's socket
// delivers it. Writers and readers share this process's clock, so no clocks are compared across
// processes; several such processes split the readers when one process may not hold them all.
//
// usage: relay-load '<RelayLoadConfig as JSON>'
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import { signDevToken } from '../gateway/index.js'
import { wallNow } from './cluster-protocol.js'
import { LatencyHistogram } from './latency-histogram.js'
import { connectRelayClient, type RelayClient } from './relay-client.js'
import { createClockRanges } from './relay-clock-ranges.js'
import {
  RELAY_DOC,
  RELAY_WRITER,
  type ConnectReport,
  type RelayLoadAnswer,
  type RelayLoadCommand,
  type RelayLoadConfig,
  type RelayLoadReport,
  type RelayRunPlan,
} from './relay-protocol.js'

/** Keys a writer cycles through: bounded, so the document is overwritten as game state is. */
const KEYS_PER_WRITER = 64

/** A writer: its own document, and the send time of each of its updates by Yjs clock. */
interface Writer {
  readonly doc: Y.Doc
  readonly map: Y.Map<number>
  readonly sendTimes: number[]
  client: RelayClient | undefined
}

const answer = (value: RelayLoadAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const sleepUntil = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - wallNow())))

const config = JSON.parse(process.argv[2] ?? '{}') as RelayLoadConfig
const writers: Writer[] = []
const writerByClient = new Map<number, Writer>()
let readers = 0
let closedReaders = 0
let closedWriters = 0
let refusals = 0

/** The phase being measured, if any: what readers record into. */
let phase: { windowStart: number; windowEnd: number; histogram: LatencyHistogram; byServer: LatencyHistogram[]; windowDeliveries: number } | undefined

const clockRanges = createClockRanges()

/** Records what a reader of server `server` (its index in readerUrls) received. */
const onDelivered = (server: number, update: Uint8Array): void => {
  const now = wallNow()
  const current = phase
  if (!current) return
  // Servers may merge several updates into one (Hocuspocus coalesces per event-loop turn): every
  // struct range in it is one delivered write per clock, each map write being one struct.
  const inWindow = now >= current.windowStart && now < current.windowEnd
  for (const [client, from, to] of clockRanges(update)) {
    if (inWindow) current.windowDeliveries += to - from
    const writer = writerByClient.get(client)
    if (!writer) continue
    for (let clock = from; clock < to; clock++) {
      const sent = writer.sendTimes[clock]
      if (sent !== undefined && sent >= current.windowStart && sent < current.windowEnd) {
        current.histogram.record(now - sent)
        current.byServer[server]?.record(now - sent)
      }
    }
  }
}

const tokenFor = async (player: string, write: boolean): Promise<string | undefined> =>
  config.secret === undefined
    ? undefined
    : signDevToken({ player, read: ['player/w/*'], write: write ? ['player/w/*'] : [], ttlSeconds: 3600, secret: config.secret })

/** Opens every writer, then every reader, `connectConcurrency` at a time; times each reader's connection. */
const connectAll = async (): Promise<ConnectReport> => {
  const started = wallNow()
  const histogram = new LatencyHistogram()
  const failures: string[] = []
  let failed = 0
  const base = { flavour: config.flavour, docName: RELAY_DOC, timeoutMs: 60_000, ...(config.localAddress ? { localAddress: config.localAddress } : {}) }
  for (let index = 0; index < config.writers; index++) {
    const doc = new Y.Doc()
    const writer: Writer = { doc, map: doc.getMap<number>('kv'), sendTimes: [], client: undefined }
    const token = await tokenFor(RELAY_WRITER, true)
    writer.client = await connectRelayClient({ ...base, url: config.writerUrl, ...(token ? { token } : {}) }, {
      onClose: () => closedWriters++,
      onRefusal: () => refusals++,
    })
    doc.on('update', (update: Uint8Array) => writer.client?.sendUpdate(update))
    writers.push(writer)
    writerByClient.set(doc.clientID, writer)
  }
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < config.readers) {
      const index = next++
      const url = config.readerUrls[index % config.readerUrls.length] as string
      const token = await tokenFor(`r${config.index}-${index}`, false)
      const dialled = wallNow()
      try {
        await connectRelayClient({ ...base, url, ...(token ? { token } : {}) }, {
          onUpdate: (update) => onDelivered(index % config.readerUrls.length, update),
          onRefusal: () => refusals++,
          onClose: () => {
            readers--
            closedReaders++
          },
        })
        histogram.record(wallNow() - dialled)
        readers++
      } catch (error) {
        failed++
        if (failures.length < 5) failures.push(error instanceof Error ? error.message : String(error))
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, config.connectConcurrency) }, () => worker()))
  return {
    event: 'connected',
    connected: readers,
    failed,
    failures,
    connectHistogram: histogram.toJSON(),
    elapsedMs: wallNow() - started,
    rssBytes: process.memoryUsage().rss,
  }
}

/** Writes this process's share of `plan.rate`, spread over its writers, and measures the window. */
const runPhase = async (plan: RelayRunPlan): Promise<RelayLoadReport> => {
  const windowStart = plan.startAt + plan.warmupMs
  const windowEnd = windowStart + plan.measureMs
  const stopAt = windowEnd + plan.cooldownMs
  const histogram = new LatencyHistogram()
  phase = { windowStart, windowEnd, histogram, byServer: config.readerUrls.map(() => new LatencyHistogram()), windowDeliveries: 0 }
  const closedBefore = closedReaders
  let written = 0
  let windowWrites = 0
  let maxTickLateMs = 0
  let cpuStart: NodeJS.CpuUsage | undefined
  let cpuPercent = 0
  let windowMs = 0
  let meteredFrom = 0
  await sleepUntil(plan.startAt)
  await new Promise<void>((resolve) => {
    let plannedAt = wallNow()
    const tick = (): void => {
      const now = wallNow()
      if (now >= windowStart && now < windowEnd) maxTickLateMs = Math.max(maxTickLateMs, now - plannedAt)
      if (now >= windowStart && cpuStart === undefined) {
        cpuStart = process.cpuUsage()
        meteredFrom = now
      }
      if (now >= windowEnd && cpuStart !== undefined && windowMs === 0) {
        const cpu = process.cpuUsage(cpuStart)
        windowMs = now - meteredFrom
        cpuPercent = ((cpu.user + cpu.system) / 1000 / windowMs) * 100
      }
      if (now >= stopAt) return resolve()
      // Writes of every process are numbered n = 0, 1, 2... at n / rate; this one sends n = index, index + of...
      const slots = ((now - plan.startAt) * plan.rate) / 1000 - plan.share.index
      const due = slots < 0 ? 0 : Math.floor(slots / plan.share.of) + 1
      for (; written < due; written++) {
        const writer = writers[written % writers.length]
        if (!writer) break
        const clock = Y.getState(writer.doc.store, writer.doc.clientID)
        const sent = wallNow()
        writer.sendTimes[clock] = sent
        writer.map.set(`k${Math.floor(written / writers.length) % KEYS_PER_WRITER}`, written)
        if (sent >= windowStart && sent < windowEnd) windowWrites++
      }
      const wakeAt = Math.min(now + plan.tickMs, ...[windowStart, windowEnd, stopAt].filter((edge) => edge > now))
      plannedAt = Math.max(now + 1, wakeAt)
      setTimeout(tick, plannedAt - now)
    }
    tick()
  })
  // Updates written in the window may still be on their way.
  await sleepUntil(wallNow() + plan.drainMs)
  const measured = phase
  phase = undefined
  return {
    event: 'report',
    windowWrites,
    histogram: histogram.toJSON(),
    histogramsByServer: measured.byServer.map((byServer) => byServer.toJSON()),
    expected: windowWrites * readers,
    windowDeliveries: measured.windowDeliveries,
    windowMs,
    cpuPercent,
    maxTickLateMs,
    openReaders: readers,
    closedReaders: closedReaders - closedBefore,
    closedWriters,
    refusals,
  }
}

answer({ event: 'ready' })
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as RelayLoadCommand
  try {
    if (command.cmd === 'connect') answer(await connectAll())
    else if (command.cmd === 'run') answer(await runPhase(command.plan))
    else break
  } catch (error) {
    answer({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}
process.exit(0)
