import * as Y from 'yjs'
import pino from 'pino'
import { contentJson, createRandom, rebuildContent, type Millis, type Random } from '../../core/index.js'
import { Peer, resolveRouterSettings, type EpochId, type RouterKind } from '../../replication/index.js'
import { canonicalJson } from '../../core/index.js'
import { latencyMatrixFromRegions } from '../latency.js'
import { percentiles } from '../propagation.js'
import { SimNetwork } from '../sim-network.js'
import { SimScheduler } from '../scheduler.js'
import { formatRows, type ProgramReport, type ProgramRunOptions, type ProgramScenario } from './program-scenario.js'

/** A fault of an epoch world run. */
export type EpochWorldFault =
  | { readonly type: 'partition'; readonly at: Millis; readonly durationMs: Millis; readonly groups: readonly (readonly number[])[] }
  | { readonly type: 'crash'; readonly at: Millis; readonly peer: number; readonly downMs: Millis }

/** Settings of one epoch world run (the `churn` scenario and the epoch properties). */
export interface EpochWorldOptions {
  readonly seed: number
  readonly peers: number
  /** Length of the workload, virtual ms. */
  readonly durationMs: Millis
  readonly updatesPerSecond: number
  /** Entities whose hit points every peer overwrites (the churn). */
  readonly entities: number
  /** The epoch bound: encoded size over live content size. */
  readonly maxSizeRatio: number
  readonly minBytes: number
  readonly faults: readonly EpochWorldFault[]
  /** Cuts forced by a given peer at a given time, whoever coordinates (races with the coordinator's own). */
  readonly forcedCuts?: ReadonlyArray<{ readonly at: Millis; readonly peer: number }>
  readonly loss?: number
  /** Probability a frame is delivered twice. */
  readonly duplicate?: number
  readonly jitterMs?: number
  readonly router?: RouterKind
  /** How often the encoded size is sampled. Default 100 ms. */
  readonly sampleEveryMs?: Millis
  /** How long after the workload and the last fault replicas get to converge. Default 6000 ms. */
  readonly settleMs?: Millis
}

/** One sample of the size series. */
export interface SizeSample {
  readonly atMs: number
  /** Largest encoded size of the document over live peers. */
  readonly encodedBytes: number
  /** Highest epoch number over live peers. */
  readonly epoch: number
}

/** Percentiles of propagation delays, ms. */
export interface PropagationSummary {
  readonly p50: number
  readonly p99: number
  readonly samples: number
}

/** What an epoch world run found. */
export interface EpochWorldResult {
  readonly converged: boolean
  /** Epoch number the replicas ended at (the highest, when they did not converge). */
  readonly epochs: number
  readonly cuts: number
  readonly switches: number
  readonly maxEncodedBytes: number
  /** Encoded size of a fresh document holding the final content. */
  readonly contentBytes: number
  readonly lostUpdates: number
  readonly duplicatedUpdates: number
  /** Unique writes checked for loss and duplication (those of writers alive at the end). */
  readonly checkedWrites: number
  readonly updates: number
  readonly staleFrames: number
  readonly carriedWrites: number
  readonly basesRefused: number
  /** Propagation of unique writes to every live peer: overall, and for writes made near a cut. */
  readonly propagationMs: PropagationSummary
  /** Writes made away from cuts and partitions: the steady state a cut is compared with. */
  readonly propagationSteadyMs: PropagationSummary
  /** Writes made from 100 ms before to 300 ms after a cut, away from partitions (the target: p99 within 2x steady). */
  readonly propagationNearCutsMs: PropagationSummary
  readonly series: readonly SizeSample[]
  readonly problems: readonly string[]
}

const DOC = 'world/churn'

interface WorldPeer {
  peer: Peer
  alive: boolean
  /** Writer name: peer index and incarnation, so a restarted peer's writes are told apart. */
  writer: string
  crashed: boolean
  readonly random: Random
}

/** What each writer believes its own keys hold: the oracle that loss and duplication are measured against. */
interface WriterModel {
  readonly events: Map<string, number>
  count: number
  tmp: number | undefined
}

/**
 * Runs real epoch-enabled `Peer`s on the simulated network in virtual time: every peer overwrites
 * shared entities' hit points (the churn that grows a Yjs document), writes unique event keys and a
 * counter of its own, and sets and deletes a key of its own, under partitions, crashes and loss.
 * Then it checks that live replicas reached the same epoch and content, and that every write of a
 * writer alive at the end is there exactly as its writer last left it.
 */
export const runEpochWorld = (options: EpochWorldOptions): EpochWorldResult => {
  const root = createRandom(options.seed)
  const scheduler = new SimScheduler()
  const latency = latencyMatrixFromRegions(options.peers, { regions: 2, intraMs: [2, 8], interMs: [20, 40] }, root.fork())
  const network = new SimNetwork(scheduler, root.fork(), latency, { jitterMs: options.jitterMs ?? 2, loss: options.loss ?? 0, duplicate: options.duplicate ?? 0, reorder: false })
  const workload = root.fork()
  const routerSettings = resolveRouterSettings({ kind: options.router ?? 'latency' })
  const logger = pino({ level: 'silent' })
  const ids = Array.from({ length: options.peers }, (_, i) => `peer-${i}`)
  const nodes: WorldPeer[] = []
  const models = new Map<string, WriterModel>()
  const writeTimes = new Map<string, Millis>()
  const arrivals = new Map<string, Millis[]>()
  const cutTimes: Millis[] = []
  const totals = { cuts: 0, switches: 0, staleFrames: 0, carriedWrites: 0, basesRefused: 0 }

  const watchLog = (peer: Peer): void => {
    const seen = new Set<string>()
    const observe = (doc: Y.Doc): void => {
      const log = doc.getMap<number>('log')
      const note = (key: string): void => {
        if (seen.has(key)) return
        seen.add(key)
        const written = writeTimes.get(key)
        if (written !== undefined) (arrivals.get(key) ?? arrivals.set(key, []).get(key)!).push(scheduler.now() - written)
      }
      for (const key of log.keys()) note(key)
      log.observe((event) => {
        for (const key of event.keysChanged) if (log.has(key)) note(key)
      })
    }
    observe(peer.getDoc(DOC) as Y.Doc)
    peer.onEpochSwitch((event) => {
      if (event.cutHere) cutTimes.push(scheduler.now())
      observe(event.ydoc)
    })
  }

  const startPeer = (index: number, random: Random): Peer => {
    const peer = new Peer({
      id: ids[index] as string,
      transport: network.endpoint(ids[index] as string, index),
      clock: scheduler,
      random,
      antiEntropyIntervalMs: 500,
      router: routerSettings,
      logger,
      epochs: { maxSizeRatio: options.maxSizeRatio, minBytes: options.minBytes, checkIntervalMs: 100 },
    })
    peer.openDoc(DOC)
    watchLog(peer)
    peer.start()
    return peer
  }

  for (let i = 0; i < options.peers; i++) {
    const random = root.fork()
    nodes.push({ peer: startPeer(i, random), alive: true, writer: `w${i}.0`, crashed: false, random })
  }
  network.connectAll()

  // Entities exist before the churn, created once by peer 0.
  const seedDoc = nodes[0]!.peer.getDoc(DOC) as Y.Doc
  seedDoc.transact(() => {
    const entities = seedDoc.getMap<unknown>('entities')
    for (let e = 0; e < options.entities; e++) {
      const entity = new Y.Map<unknown>()
      entity.set('kind', 'npc')
      const components = new Y.Map<unknown>()
      const hp = new Y.Map<unknown>()
      hp.set('v', 100)
      components.set('hp', hp)
      entity.set('components', components)
      entities.set(`e${e}`, entity)
    }
  })

  let updates = 0
  const write = (): void => {
    const live = nodes.filter((node) => node.alive)
    if (live.length === 0) return
    const node = workload.pick(live)
    const doc = node.peer.getDoc(DOC) as Y.Doc
    const writer = node.writer
    const model = models.get(writer) ?? models.set(writer, { events: new Map(), count: 0, tmp: undefined }).get(writer)!
    const roll = workload.next()
    updates++
    doc.transact(() => {
      if (roll < 0.9) {
        const entity = doc.getMap<unknown>('entities').get(`e${workload.int(0, options.entities - 1)}`)
        const hp = entity instanceof Y.Map ? ((entity.get('components') as Y.Map<unknown> | undefined)?.get('hp') as Y.Map<unknown> | undefined) : undefined
        hp?.set('v', workload.int(0, 100))
        hp?.set('by', writer)
      } else if (roll < 0.95) {
        const key = `${writer}:${model.events.size}`
        model.events.set(key, updates)
        writeTimes.set(key, scheduler.now())
        doc.getMap<number>('log').set(key, updates)
      } else if (roll < 0.98) {
        model.count++
        doc.getMap<number>('counters').set(writer, model.count)
      } else if (model.tmp === undefined || roll < 0.99) {
        model.tmp = updates
        doc.getMap<number>('tmp').set(writer, updates)
      } else {
        model.tmp = undefined
        doc.getMap<number>('tmp').delete(writer)
      }
    }, 'workload')
  }
  const next = (): void => {
    const gap = (-Math.log(1 - workload.next()) * 1000) / options.updatesPerSecond
    if (scheduler.now() + gap > options.durationMs) return
    scheduler.setTimer(gap, () => {
      write()
      next()
    })
  }
  next()

  let lastFault = 0
  for (const fault of options.faults) {
    if (fault.type === 'partition') {
      scheduler.at(fault.at, () => network.partition(fault.groups.map((group) => group.map((i) => ids[i] as string))))
      scheduler.at(fault.at + fault.durationMs, () => network.heal())
      lastFault = Math.max(lastFault, fault.at + fault.durationMs)
    } else {
      const node = nodes[fault.peer] as WorldPeer
      scheduler.at(fault.at, () => {
        if (!node.alive) return
        collect(node.peer)
        node.peer.close()
        network.crash(ids[fault.peer] as string)
        node.alive = false
        node.crashed = true
      })
      scheduler.at(fault.at + fault.downMs, () => {
        if (node.alive) return
        node.peer = startPeer(fault.peer, node.random.fork())
        node.writer = `w${fault.peer}.${Number(node.writer.split('.')[1]) + 1}`
        node.alive = true
        network.connectAll()
      })
      lastFault = Math.max(lastFault, fault.at + fault.downMs)
    }
  }
  for (const forced of options.forcedCuts ?? []) {
    scheduler.at(forced.at, () => {
      const node = nodes[forced.peer]
      if (node?.alive && node.peer.cutEpoch(DOC)) cutTimes.push(scheduler.now())
    })
  }

  function collect(peer: Peer): void {
    const stats = peer.epochStats()
    if (stats === undefined) return
    totals.cuts += stats.cuts
    totals.switches += stats.switches
    totals.staleFrames += stats.staleFrames
    totals.carriedWrites += stats.carriedWrites
    totals.basesRefused += stats.basesRefused
  }

  const series: SizeSample[] = []
  let maxEncodedBytes = 0
  const sampleEvery = options.sampleEveryMs ?? 200
  const sample = (): void => {
    let encodedBytes = 0
    let epoch = 0
    for (const node of nodes) {
      if (!node.alive) continue
      encodedBytes = Math.max(encodedBytes, Y.encodeStateAsUpdate(node.peer.getDoc(DOC) as Y.Doc).length)
      epoch = Math.max(epoch, node.peer.epochOf(DOC)?.n ?? 0)
    }
    maxEncodedBytes = Math.max(maxEncodedBytes, encodedBytes)
    series.push({ atMs: Math.round(scheduler.now()), encodedBytes, epoch })
  }
  const quietFrom = Math.max(options.durationMs, lastFault)
  for (let t = 0; t <= quietFrom; t += sampleEvery) scheduler.at(t, sample)

  const live = (): WorldPeer[] => nodes.filter((node) => node.alive)
  const signature = (node: WorldPeer): string => {
    const epoch = node.peer.epochOf(DOC) as EpochId
    return `${epoch.n}/${epoch.coordinator}/${epoch.hash}/${canonicalJson(contentJson(node.peer.getDoc(DOC) as Y.Doc))}`
  }
  const agreed = (): boolean => new Set(live().map(signature)).size <= 1
  scheduler.runUntil(quietFrom)
  const deadline = quietFrom + (options.settleMs ?? 6000)
  let converged = false
  while (scheduler.now() < deadline) {
    if (agreed()) {
      converged = true
      break
    }
    scheduler.runUntil(Math.min(deadline, scheduler.now() + 50))
  }
  sample()

  // The oracle: every write of a writer alive at the end, as its writer last left it.
  const problems: string[] = []
  const reference = live()[0]
  const finalDoc = reference?.peer.getDoc(DOC) as Y.Doc | undefined
  let lostUpdates = 0
  let duplicatedUpdates = 0
  let checkedWrites = 0
  if (finalDoc !== undefined) {
    const log = finalDoc.getMap<number>('log')
    const counters = finalDoc.getMap<number>('counters')
    const tmp = finalDoc.getMap<number>('tmp')
    for (const node of live()) {
      const model = models.get(node.writer)
      if (model === undefined) continue
      for (const [key, value] of model.events) {
        checkedWrites++
        const found = log.get(key)
        if (found === undefined) {
          lostUpdates++
          if (problems.length < 10) problems.push(`lost ${key}`)
        } else if (found !== value) {
          duplicatedUpdates++
          if (problems.length < 10) problems.push(`${key} holds ${found}, written ${value}`)
        }
      }
      checkedWrites += 2
      const counted = counters.get(node.writer) ?? 0
      if (counted < model.count) lostUpdates += model.count - counted
      if (counted > model.count) duplicatedUpdates += counted - model.count
      if (counted !== model.count && problems.length < 10) problems.push(`counter of ${node.writer} is ${counted}, counted ${model.count}`)
      const held = tmp.get(node.writer)
      if (held !== model.tmp) {
        if (held === undefined) lostUpdates++
        else duplicatedUpdates++
        if (problems.length < 10) problems.push(`tmp of ${node.writer} is ${String(held)}, expected ${String(model.tmp)}`)
      }
    }
  }
  for (const node of live()) collect(node.peer)

  // Propagation: a unique write's delay to each live peer (the writer's own copy is 0 and left out).
  const all: number[] = []
  const steady: number[] = []
  const nearCuts: number[] = []
  const partitioned = (at: Millis): boolean =>
    options.faults.some((fault) => (fault.type === 'partition' ? at >= fault.at - 200 && at <= fault.at + fault.durationMs + 500 : at >= fault.at - 200 && at <= fault.at + fault.downMs + 500))
  for (const [key, delays] of arrivals) {
    const written = writeTimes.get(key) as Millis
    const near = cutTimes.some((cut) => written >= cut - 100 && written <= cut + 300)
    const faulty = partitioned(written)
    for (const delay of delays) {
      if (delay === 0) continue
      all.push(delay)
      if (faulty) continue
      if (near) nearCuts.push(delay)
      else steady.push(delay)
    }
  }
  const summary = (values: number[]) => {
    const p = percentiles(values)
    return { p50: Math.round(p.p50 * 10) / 10, p99: Math.round(p.p99 * 10) / 10, samples: values.length }
  }
  const contentBytes = finalDoc === undefined ? 0 : rebuildContent(finalDoc).update.length
  const epochs = Math.max(0, ...live().map((node) => node.peer.epochOf(DOC)?.n ?? 0))
  for (const node of nodes) node.peer.close()
  if (!converged) problems.push('replicas did not converge')
  return {
    converged,
    epochs,
    cuts: totals.cuts,
    switches: totals.switches,
    maxEncodedBytes,
    contentBytes,
    lostUpdates,
    duplicatedUpdates,
    checkedWrites,
    updates,
    staleFrames: totals.staleFrames,
    carriedWrites: totals.carriedWrites,
    basesRefused: totals.basesRefused,
    propagationMs: summary(all),
    propagationSteadyMs: summary(steady),
    propagationNearCutsMs: summary(nearCuts),
    series,
    problems,
  }
}

/** The `churn` report (`realmsync sim churn --json`). */
export interface ChurnReport extends ProgramReport, EpochWorldResult {
  readonly peers: number
  readonly maxSizeRatio: number
  /** The size the bound allows: ratio times the final content, plus one epoch's bound again for the cut in flight. */
  readonly boundBytes: number
}

/** The `churn` scenario: a world document driven hard, a partition in the middle, epochs keep it bounded. */
export const churnProgram: ProgramScenario<ChurnReport> = {
  name: 'churn',
  description: 'A world document overwritten thousands of times a second with a partition in the middle: epochs keep its size bounded (4x live content), nothing lost or duplicated.',
  run(options: ProgramRunOptions): ChurnReport {
    const peers = options.peers ?? 4
    const maxSizeRatio = 4
    const half = Math.ceil(peers / 2)
    const result = runEpochWorld({
      seed: options.seed,
      peers,
      durationMs: 8000,
      updatesPerSecond: 2000,
      entities: 100,
      maxSizeRatio,
      minBytes: 4096,
      faults: [{ type: 'partition', at: 3000, durationMs: 2000, groups: [Array.from({ length: half }, (_, i) => i), Array.from({ length: peers - half }, (_, i) => half + i)] }],
      loss: 0.01,
    })
    // A document may pass the bound by what arrives between two checks and during the cut's round trip.
    const boundBytes = 2 * maxSizeRatio * Math.max(result.contentBytes, 4096)
    const ok = result.converged && result.lostUpdates === 0 && result.duplicatedUpdates === 0 && result.maxEncodedBytes <= boundBytes && result.epochs > 0
    return { scenario: 'churn', seed: options.seed, ok, peers, maxSizeRatio, boundBytes, ...result }
  },
  format(report: ChurnReport): string {
    return formatRows([
      ['scenario', `churn (seed ${report.seed}, ${report.peers} peers, bound ${report.maxSizeRatio}x live content)`],
      ['updates', String(report.updates)],
      ['converged', String(report.converged)],
      ['epochs', `${report.epochs} (cuts ${report.cuts}, switches ${report.switches})`],
      ['max encoded size', `${report.maxEncodedBytes} B (allowed ${report.boundBytes} B)`],
      ['content size', `${report.contentBytes} B`],
      ['lost / duplicated', `${report.lostUpdates} / ${report.duplicatedUpdates} of ${report.checkedWrites} checked`],
      ['carried writes', String(report.carriedWrites)],
      ['stale frames refused', String(report.staleFrames)],
      ['propagation p50/p99', `${report.propagationMs.p50} / ${report.propagationMs.p99} ms (all writes, partition included)`],
      ['steady p50/p99', `${report.propagationSteadyMs.p50} / ${report.propagationSteadyMs.p99} ms`],
      ['near cuts p50/p99', `${report.propagationNearCutsMs.p50} / ${report.propagationNearCutsMs.p99} ms`],
      ['ok', String(report.ok)],
    ])
  },
}
