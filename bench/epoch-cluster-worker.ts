// One peer of the epoch cluster benchmark (bench/epoch-cluster-bench.ts starts three): a realmsync
// Peer set up as `realmsync serve` sets it up (libp2p transport with cluster admission, a SQLite
// store, the latency router), with document epochs on or off, a metered clock (metered-clock.ts)
// for the CPU of each cut, and this process's share of the load on one shared document. Every write
// puts its creation time (wall clock, sub-ms) into the value, so a peer applying a remote update
// reads how long it took to arrive. Start it with --expose-gc: heap samples are of live data.
//
// usage: epoch-cluster-worker '<EpochWorkerConfig as JSON>'
import { createHash, randomInt } from 'node:crypto'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { writeHeapSnapshot } from 'node:v8'
import pino from 'pino'
import * as Y from 'yjs'
import { createRandom, rebuildContent } from '../core/index.js'
import { Peer, type EpochSwitch, type RouterKind } from '../replication/index.js'
import { openSqliteStore, type SqliteStoreOptions } from '../storage/index.js'
import { createLibp2pTransport } from '../transports/index.js'
import type { BenchStoreMode } from './cluster-protocol.js'
import { CutWindowLatency } from './cut-window-latency.js'
import { EPOCH_BENCH_DOC, type EpochRunPlan, type EpochWorkerAnswer, type EpochWorkerCommand, type EpochWorkerConfig, type EpochWorkerReport, type EpochWorkerSample } from './epoch-cluster-protocol.js'
import { LatencyHistogram } from './latency-histogram.js'
import { createMeteredClock } from './metered-clock.js'

// The cluster bench's settings (realmsync-bench-node.ts), repeated: that file starts a whole server.
const STORE_SETTINGS: Record<BenchStoreMode, SqliteStoreOptions> = {
  lean: { durability: 'memory', snapshotEvery: 0, validateAppends: false },
  memory: { durability: 'memory' },
  'file-normal': { durability: 'group', synchronous: 'normal' },
}
const TICK_MS = 10
/** Most backlog one tick writes, in seconds of load (as in epoch-bench.ts). */
const MAX_BURST_S = 0.1

const answer = (value: EpochWorkerAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const wallNow = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
const collectGarbage = (globalThis as { gc?: () => void }).gc
if (collectGarbage === undefined) throw new Error('epoch-cluster-worker needs --expose-gc')

// EPOCH_CLUSTER_HEAP_SNAPSHOTS="60,300" with EPOCH_CLUSTER_HEAP_DIR=<dir> writes heap snapshots at
// those seconds of load (after the sample's forced GC), to diff what a long run accumulates.
const heapSnapshotDir = process.env.EPOCH_CLUSTER_HEAP_DIR
const heapSnapshotTimes = (process.env.EPOCH_CLUSTER_HEAP_SNAPSHOTS ?? '').split(',').filter((at) => at !== '').map(Number)
const heapSnapshotsTaken = new Set<number>()

const config = JSON.parse(process.argv[2] ?? '{}') as EpochWorkerConfig
const logger = pino({ level: 'warn' }, pino.destination(2))
const transport = await createLibp2pTransport({
  listen: [config.listen],
  bootstrap: config.bootstrap,
  dataDir: config.dataDir,
  admission: { clusterSecret: config.secret },
  logger,
  backoff: { initialMs: 100, maxMs: 1000 },
})
const store = openSqliteStore(config.dataDir, STORE_SETTINGS[config.store])
const cutCpu = new LatencyHistogram()
let cutWallMaxMs = 0
let peerRef: Peer | undefined
const peer: Peer = new Peer({
  id: transport.id,
  transport,
  clock: createMeteredClock(
    () => peerRef?.epochStats()?.cuts ?? 0,
    (cost) => {
      cutCpu.record(cost.cpuMs)
      cutWallMaxMs = Math.max(cutWallMaxMs, cost.wallMs)
    },
  ),
  random: createRandom(randomInt(1, 2 ** 31)),
  store,
  logger,
  acceptDocument: () => true,
  // EPOCH_CLUSTER_ROUTER=flood|random compares routers (resolveRouterSettings refuses unknown kinds).
  router: { kind: (process.env.EPOCH_CLUSTER_ROUTER ?? 'latency') as RouterKind },
  // EPOCH_CLUSTER_MAX_AGE_MS=<ms> also cuts by age: many cuts at a low rate, to look for per-cut costs.
  ...(config.epochs ? { epochs: process.env.EPOCH_CLUSTER_MAX_AGE_MS ? { maxAgeMs: Number(process.env.EPOCH_CLUSTER_MAX_AGE_MS) } : {} } : {}),
})
peerRef = peer
peer.start()
peer.openDoc(EPOCH_BENCH_DOC)
answer({ event: 'ready', id: peer.id, addresses: transport.multiaddrs() })

const currentDoc = (): Y.Doc => peer.getDoc(EPOCH_BENCH_DOC) as Y.Doc

/** The current epoch as `n.coordinator.hash`: replicas agree only if they are in the same epoch. */
const epochName = (): string => {
  const epoch = peer.epochOf(EPOCH_BENCH_DOC)
  return epoch === undefined ? '0' : `${epoch.n}.${epoch.coordinator.slice(-6)}.${epoch.hash.slice(0, 8)}`
}

const contentHash = (doc: Y.Doc): string => {
  const entries = [...doc.getMap<number>('kv').entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16)
}

/** Writes this worker's share at `plan.rate` (open loop, each write its own transaction) and samples. */
const runLoad = async (plan: EpochRunPlan): Promise<EpochWorkerReport> => {
  const latency = new CutWindowLatency()
  let sinceSample = new LatencyHistogram()
  const watch = (doc: Y.Doc): void => {
    doc.getMap<number>('kv').observe((event) => {
      // Own writes and what a switch rebuilds or carries here are local: only remote writes count.
      if (event.transaction.local) return
      const now = wallNow()
      for (const key of event.keysChanged) {
        const created = event.target.get(key) as number | undefined
        if (typeof created !== 'number' || created < plan.startAt) continue
        latency.record(created, now - created)
        sinceSample.record(now - created)
      }
    })
  }
  watch(currentDoc())
  const stopWatching = peer.onEpochSwitch((event: EpochSwitch) => {
    latency.cut(wallNow())
    watch(event.ydoc)
  })
  const loop = monitorEventLoopDelay({ resolution: 5 })
  const keysHere = Math.ceil(plan.keys / config.workers)
  const samples: EpochWorkerSample[] = []
  let written = 0
  let skipped = 0
  let samplingMs = 0
  await sleep(plan.startAt - wallNow())
  loop.enable()
  const cpuStart = process.cpuUsage()
  let cpuLast = process.cpuUsage()
  let lastSampleAt = performance.now()
  const started = performance.now()
  let nextSample = 0
  for (;;) {
    const elapsed = performance.now() - started
    if (elapsed >= plan.seconds * 1000) break
    const due = Math.floor((elapsed * plan.rate) / 1000)
    // A starved process must not spiral (epoch-bench.ts, MAX_BURST_S): backlog past it is skipped and counted.
    skipped += Math.max(0, due - written - skipped - Math.ceil(plan.rate * MAX_BURST_S))
    const doc = currentDoc()
    const map = doc.getMap<number>('kv')
    for (; written + skipped < due; written++) {
      const key = `w${config.index}:${written % keysHere}`
      const created = wallNow()
      doc.transact(() => map.set(key, created))
    }
    if (elapsed >= nextSample) {
      nextSample += plan.sampleEveryS * 1000
      const sampling = performance.now()
      const cpu = process.cpuUsage(cpuLast)
      cpuLast = process.cpuUsage()
      collectGarbage()
      const memory = process.memoryUsage()
      samples.push({
        atS: Math.round(elapsed / 100) / 10,
        heapMiB: memory.heapUsed / 2 ** 20,
        rssMiB: memory.rss / 2 ** 20,
        encodedKiB: Y.encodeStateAsUpdate(doc).length / 1024,
        epoch: peer.epochOf(EPOCH_BENCH_DOC)?.n ?? 0,
        cpuPercent: ((cpu.user + cpu.system) / 1000 / Math.max(1, sampling - lastSampleAt)) * 100,
        p99Ms: sinceSample.size > 0 ? sinceSample.percentile(99) : null,
      })
      sinceSample = new LatencyHistogram()
      lastSampleAt = sampling
      const snapshotAt = heapSnapshotTimes.find((at) => at * 1000 <= elapsed && !heapSnapshotsTaken.has(at))
      if (snapshotAt !== undefined && heapSnapshotDir !== undefined) {
        heapSnapshotsTaken.add(snapshotAt)
        writeHeapSnapshot(join(heapSnapshotDir, `worker${config.index}-${snapshotAt}s.heapsnapshot`))
      }
      samplingMs += performance.now() - sampling
      latency.settle(wallNow())
    }
    await sleep(TICK_MS)
  }
  const phaseMs = performance.now() - started
  const cpu = process.cpuUsage(cpuStart)
  loop.disable()
  // Updates still in flight land during the drain; then every replica should hold the same content.
  await sleep(plan.drainMs)
  stopWatching()
  latency.settle(wallNow(), true)
  const doc = currentDoc()
  const stats = peer.epochStats()
  return {
    event: 'report',
    id: peer.id,
    writes: written,
    skipped,
    samples,
    latency: latency.summary(),
    cuts: stats?.cuts ?? 0,
    switches: stats?.switches ?? 0,
    carriedWrites: stats?.carriedWrites ?? 0,
    staleFrames: stats?.staleFrames ?? 0,
    cutCpu: cutCpu.toJSON(),
    cutWallMaxMs,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / phaseMs) * 100,
    samplingPercent: (samplingMs / phaseMs) * 100,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
    contentKiB: rebuildContent(doc).update.length / 1024,
    contentHash: contentHash(doc),
    finalEncodedKiB: Y.encodeStateAsUpdate(doc).length / 1024,
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as EpochWorkerCommand
  try {
    if (command.cmd === 'peers') answer({ event: 'peers', peers: peer.connectedPeers().length })
    else if (command.cmd === 'run') answer(await runLoad(command.plan))
    else if (command.cmd === 'content') {
      const stats = peer.epochStats()
      answer({ event: 'content', hash: contentHash(currentDoc()), epoch: epochName(), cuts: stats?.cuts ?? 0, switches: stats?.switches ?? 0 })
    }
    else break
  } catch (error) {
    answer({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}
peer.close()
await transport.close()
await peer.flushed()
await store.close()
process.exit(0)
