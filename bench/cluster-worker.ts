// One node of the loopback cluster benchmark (bench/cluster-bench.ts starts five): a realmsync peer
// or a gossipsub node holding one shared Yjs document, plus this node's share of the load. Every
// write puts its creation time (wall clock, sub-ms) into the value, so a node applying a remote
// update reads how long it took to arrive. Commands arrive on stdin and answers leave on stdout, one
// JSON object per line (cluster-protocol.ts); logs go to stderr.
//
// usage: cluster-worker '<WorkerConfig as JSON>'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { createInterface } from 'node:readline'
import type * as Y from 'yjs'
import { KEYS_PER_WORKER, machineNow, type BenchNode, type RunPlan, type WorkerAnswer, type WorkerCommand, type WorkerConfig, type WorkerReport } from './cluster-protocol.js'
import { LatencyHistogram } from './latency-histogram.js'

const answer = (value: WorkerAnswer): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const sleepUntil = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - machineNow())))

const startNode = async (config: WorkerConfig): Promise<BenchNode> => {
  // Loaded on demand, so a gossipsub process carries no realmsync replication code and vice versa.
  switch (config.system) {
    case 'realmsync-latency':
    case 'realmsync-flood':
    case 'realmsync-latency-1tree':
    case 'realmsync-latency-normal':
    case 'realmsync-latency-coalesced':
    case 'realmsync-latency-per-update':
    case 'realmsync-latency-ws': {
      const { startRealmsyncNode } = await import('./realmsync-bench-node.js')
      if (config.system === 'realmsync-flood') return startRealmsyncNode(config, { router: { kind: 'flood' } })
      if (config.system === 'realmsync-latency-1tree') return startRealmsyncNode(config, { router: { kind: 'latency', redundancy: 1 } })
      if (config.system === 'realmsync-latency-per-update') return startRealmsyncNode(config, { router: { kind: 'latency' }, coalesceCritical: false })
      if (config.system === 'realmsync-latency-coalesced') return startRealmsyncNode(config, { router: { kind: 'latency' }, coalesceCritical: true })
      if (config.system === 'realmsync-latency-ws') return startRealmsyncNode(config, { router: { kind: 'latency' }, transport: 'ws' })
      if (config.system === 'realmsync-latency-normal') return startRealmsyncNode(config, { router: { kind: 'latency' }, lane: 'normal' })
      return startRealmsyncNode(config, { router: { kind: 'latency' } })
    }
    case 'ws-mesh': {
      const { startWsMeshNode } = await import('./ws-mesh-bench-node.js')
      return startWsMeshNode(config)
    }
    case 'gossipsub':
    case 'gossipsub-signed': {
      const { startGossipsubNode } = await import('./gossipsub-bench-node.js')
      return startGossipsubNode(config, config.system === 'gossipsub-signed')
    }
  }
}

const difference = (after: Record<string, number>, before: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - (before[key] ?? 0)]))

/** CPU, event loop and counters between two moments of this process. */
// CLUSTER_BENCH_PROFILE_DIR=<dir>: a CPU profile of each measured window (not of start-up) per worker.
const PROFILE_DIR = process.env.CLUSTER_BENCH_PROFILE_DIR

const startWindowProfile = (): Session | undefined => {
  if (!PROFILE_DIR) return undefined
  const session = new Session()
  session.connect()
  session.post('Profiler.enable', () => session.post('Profiler.start'))
  return session
}

const stopWindowProfile = (session: Session | undefined, name: string): void => {
  session?.post('Profiler.stop', (error, result) => {
    if (!error && PROFILE_DIR) writeFileSync(`${PROFILE_DIR}/${name}-${process.pid}-${Date.now()}.cpuprofile`, JSON.stringify(result.profile))
    session.disconnect()
  })
}

class WindowMeter {
  private readonly profile: Session | undefined
  private readonly cpu = process.cpuUsage()
  private readonly loop = performance.eventLoopUtilization()
  private readonly counters: Record<string, number>
  private readonly wall = machineNow()

  constructor(
    private readonly node: BenchNode,
    profiled = false,
  ) {
    this.counters = node.counters()
    this.profile = profiled ? startWindowProfile() : undefined
  }

  /** What happened since construction. */
  close(): Pick<WorkerReport, 'cpuPercent' | 'eventLoopPercent' | 'counters' | 'windowMs'> {
    const cpu = process.cpuUsage(this.cpu)
    const windowMs = machineNow() - this.wall
    stopWindowProfile(this.profile, 'window')
    return {
      // process.cpuUsage counts every thread of the process (GC helpers, libuv pool) as well.
      cpuPercent: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
      eventLoopPercent: performance.eventLoopUtilization(this.loop).utilization * 100,
      counters: difference(this.node.counters(), this.counters),
      windowMs,
    }
  }
}

/**
 * Writes at `plan.rate` (open loop: a tick that comes late writes everything due, as players do not
 * wait for a busy server), records the delay of every remote write created inside the window, and
 * meters the window from the same ticks that write, so counters and writes cover the same span.
 */
const runLoad = async (node: BenchNode, index: number, plan: RunPlan): Promise<WorkerReport> => {
  const map = node.doc.getMap<number>('kv')
  const histogram = new LatencyHistogram()
  const windowStart = plan.startAt + plan.warmupMs
  const windowEnd = windowStart + plan.measureMs
  const stopAt = windowEnd + plan.cooldownMs
  const onChange = (event: Y.YMapEvent<number>): void => {
    // Updates applied from the network run in non-local transactions; own writes are local.
    if (event.transaction.local) return
    const now = machineNow()
    for (const key of event.keysChanged) {
      const created = map.get(key)
      if (typeof created === 'number' && created >= windowStart && created < windowEnd) histogram.record(now - created)
    }
  }
  map.observe(onChange)

  let written = 0
  let windowWrites = 0
  let maxTickLateMs = 0
  let meter: WindowMeter | undefined
  let measured: ReturnType<WindowMeter['close']> | undefined
  const ticksFrom = plan.startAt + (plan.phaseMs ?? 0)
  await sleepUntil(ticksFrom)
  // The whole phase is metered too: if the event loop stalls across the window, the phase (at least
  // warm-up + window + cool-down long) still gives an honest CPU figure.
  const phaseMeter = new WindowMeter(node)
  await new Promise<void>((resolve) => {
    let plannedAt = machineNow()
    const tick = (): void => {
      const now = machineNow()
      if (now >= windowStart && now < windowEnd) maxTickLateMs = Math.max(maxTickLateMs, now - plannedAt)
      if (now >= windowStart && meter === undefined) meter = new WindowMeter(node, true)
      if (now >= windowEnd && meter !== undefined && measured === undefined) measured = meter.close()
      if (now >= stopAt) return resolve()
      const due = Math.floor(((now - ticksFrom) * plan.rate) / 1000)
      const writeDue = (): void => {
        for (; written < due; written++) {
          const created = machineNow()
          node.doc.transact(() => map.set(`w${index}:${written % KEYS_PER_WORKER}`, created), node.writeOrigin)
          if (created >= windowStart && created < windowEnd) windowWrites++
        }
      }
      // Nested transactions join the outer one: with tickTransaction the whole tick is one update.
      if (plan.tickTransaction === true) node.doc.transact(writeDue, node.writeOrigin)
      else writeDue()
      // Sleep a tick, or longer when no write is due by then (low rates); window edges wake it too,
      // so the meter reads at the right moments. Each wake-up costs tens of microseconds on a VM, so
      // a 1 ms tick alone would take several % of a core per process.
      const nextDue = ticksFrom + ((written + 1) * 1000) / plan.rate
      const wakeAt = Math.min(Math.max(nextDue, now + plan.tickMs), ...[windowStart, windowEnd, stopAt].filter((edge) => edge > now))
      plannedAt = Math.max(now + 1, wakeAt)
      setTimeout(tick, plannedAt - now)
    }
    tick()
  })
  const phase = phaseMeter.close()
  // Updates created in the window may still be in flight: keep recording while they land.
  await sleepUntil(machineNow() + plan.drainMs)
  map.unobserve(onChange)
  if (measured === undefined) throw new Error('the measurement window never closed')
  return {
    event: 'report',
    windowWrites,
    histogram: histogram.toJSON(),
    ...measured,
    phaseCpuPercent: phase.cpuPercent,
    phaseMs: phase.windowMs,
    maxTickLateMs,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    gauges: node.gauges(),
  }
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig
const node = await startNode(config)
answer({ event: 'ready', id: node.id, addresses: node.addresses })

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as WorkerCommand
  try {
    if (command.cmd === 'dial') {
      await node.dial(command.addresses)
      answer({ event: 'dialed' })
    } else if (command.cmd === 'peers') {
      answer({ event: 'peers', peers: node.readyPeers() })
    } else if (command.cmd === 'run') {
      answer(await runLoad(node, config.index, command.plan))
    } else {
      break
    }
  } catch (error) {
    answer({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}
await node.close()
process.exit(0)
