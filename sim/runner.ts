import * as Y from 'yjs'
import pino from 'pino'
import { createRandom, type Millis, type Random } from '../core/index.js'
import { Peer, resolveRouterSettings, type RouterKind } from '../replication/index.js'
import { DIGEST_KINDS, UPDATE_CARRYING_KINDS } from './frame-kinds.js'
import { checkConvergence, isOrphanedPending, type Divergence, type Replica } from './checkers/convergence.js'
import { checkInvariants, type Invariant, type InvariantViolation } from './checkers/invariants.js'
import { latencyMatrixFromRegions } from './latency.js'
import { percentiles, PropagationTracker } from './propagation.js'
import { parseScenario, type Fault, type Scenario } from './scenario.js'
import { SimNetwork } from './sim-network.js'
import { SimScheduler } from './scheduler.js'

/** Options of one simulation run. */
export interface RunOptions {
  readonly seed: number
  /** Overrides the scenario's peer count. */
  readonly peers?: number
  readonly router?: RouterKind
  /** Extra invariants checked on every replica at the end, by name. */
  readonly invariants?: Readonly<Record<string, Invariant>>
  /** How often convergence is probed after the last heal, in virtual ms. Default 5. */
  readonly probeEveryMs?: number
}

/** Percentile summary. */
export interface Percentiles {
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

/** The report of one run; `--json` prints exactly this. */
export interface SimReport {
  readonly scenario: string
  readonly seed: number
  readonly peers: number
  readonly router: RouterKind
  readonly updates: number
  readonly ephemeralUpdates: number
  readonly converged: boolean
  readonly traceHash: string
  readonly propagationMs: Percentiles
  readonly stretch: Percentiles
  /** Update-carrying frames (gossip, sync updates, step 2 answers) per update per peer. */
  readonly messagesPerUpdatePerPeer: number
  /** Digest frames (lazy announcements and state-vector asks) per update per peer: counted apart, as the issue asks. */
  readonly digestsPerUpdatePerPeer: number
  /** Bytes of update-carrying frames per update. */
  readonly bytesPerUpdate: number
  /** Bytes of digest frames per update. */
  readonly digestBytesPerUpdate: number
  /** Every frame of any kind (probes and ephemeral state included) per update per peer. */
  readonly allFramesPerUpdatePerPeer: number
  /** The gossip routers' counters summed over the peers alive at the end (empty for `flood`). */
  readonly routerStats: Readonly<Record<string, number>>
  /** Frames and bytes sent, by kind. */
  readonly sentByKind: Readonly<Record<string, { readonly frames: number; readonly bytes: number }>>
  readonly convergeAfterHealMs: number | null
  readonly undeliveredWrites: number
  /** Replicas holding structs that can never integrate: their dependency died with a crashed peer's memory. */
  readonly orphanedReplicas: number
  readonly divergences: readonly Divergence[]
  readonly invariantViolations: readonly InvariantViolation[]
  readonly framesSent: number
  readonly framesLost: number
  readonly malformedFrames: number
  readonly eventsProcessed: number
  readonly virtualDurationMs: number
}

interface SimPeer {
  peer: Peer
  alive: boolean
  readonly random: Random
}

const docName = (index: number): string => `world/sim/doc-${index}`

/** The built-in invariant: every value written by the workload names a real peer as its writer. */
export const writerInvariant =
  (peers: number): Invariant =>
  (_peer, docs) => {
    const violations: string[] = []
    for (const [name, doc] of docs) {
      for (const [key, value] of doc.getMap('entities').entries()) {
        const writer = (value as { by?: unknown } | undefined)?.by
        if (typeof writer !== 'number' || writer < 0 || writer >= peers) violations.push(`${name}: ${key} has no valid writer`)
      }
    }
    return violations
  }

/**
 * Runs one scenario on the deterministic simulator: real `Peer`s on a simulated network with
 * virtual time, a seeded workload and fault schedule, then checks convergence and invariants.
 * The same scenario and seed always give the same report, trace hash included.
 */
export const runScenario = (input: Scenario, options: RunOptions): SimReport => {
  const router = options.router ?? 'latency'
  const routerSettings = resolveRouterSettings({ ...input.router, kind: router })
  const scenario = options.peers !== undefined ? parseScenario({ ...input, peers: options.peers }) : input
  const root = createRandom(options.seed)
  const scheduler = new SimScheduler()
  const latency = latencyMatrixFromRegions(scenario.peers, scenario.regions, root.fork())
  const network = new SimNetwork(scheduler, root.fork(), latency, { ...scenario.link })
  const workloadRandom = root.fork()
  const tracker = new PropagationTracker(scenario.peers)
  const logger = pino({ level: 'silent' })
  const ids = Array.from({ length: scenario.peers }, (_, i) => `peer-${i}`)
  const nodes: SimPeer[] = []

  const attach = (index: number, doc: Y.Doc, name: string): void => {
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      // Local writes are recorded by the workload itself; everything else is an arrival.
      if (origin !== 'workload') tracker.recordApplied(name, update, index, scheduler.now())
    })
  }

  const startPeer = (index: number, random: Random, initial?: Map<string, Uint8Array>): Peer => {
    const id = ids[index] as string
    const peer = new Peer({
      id,
      transport: network.endpoint(id, index),
      clock: scheduler,
      random,
      antiEntropyIntervalMs: scenario.antiEntropyIntervalMs,
      router: routerSettings,
      logger,
    })
    for (let d = 0; d < scenario.docs; d++) {
      const name = docName(d)
      const doc = peer.openDoc(name, initial?.get(name))
      attach(index, doc, name)
    }
    peer.start()
    return peer
  }

  for (let i = 0; i < scenario.peers; i++) {
    const random = root.fork()
    nodes.push({ peer: startPeer(i, random), alive: true, random })
  }
  network.connectAll()

  // Workload: exponential inter-arrival times (a Poisson process) at the configured rates.
  let updates = 0
  let ephemeralUpdates = 0
  const { updatesPerSecond, durationMs, ephemeralPerSecond = 0, startMs = 0 } = scenario.workload
  const scheduleWrites = (rate: number, act: () => void): void => {
    if (rate <= 0) return
    if (scheduler.now() < startMs) {
      scheduler.at(startMs, () => scheduleWrites(rate, act))
      return
    }
    const next = (): void => {
      const gap = (-Math.log(1 - workloadRandom.next()) * 1000) / rate
      if (scheduler.now() + gap > durationMs) return
      scheduler.setTimer(gap, () => {
        act()
        next()
      })
    }
    next()
  }
  const liveIndexes = (): number[] => nodes.flatMap((node, i) => (node.alive ? [i] : []))
  scheduleWrites(updatesPerSecond, () => {
    const live = liveIndexes()
    if (live.length === 0) return
    const index = workloadRandom.pick(live)
    const name = docName(workloadRandom.int(0, scenario.docs - 1))
    const doc = nodes[index]!.peer.getDoc(name) as Y.Doc
    const clockStart = Y.getState(doc.store, doc.clientID)
    doc.transact(() => {
      doc.getMap('entities').set(`e${workloadRandom.int(0, 99)}`, { by: index, n: updates })
    }, 'workload')
    tracker.recordWrite(name, doc.clientID, clockStart, index, scheduler.now())
    updates++
  })
  scheduleWrites(ephemeralPerSecond, () => {
    const live = liveIndexes()
    if (live.length === 0) return
    const index = workloadRandom.pick(live)
    nodes[index]!.peer.setEphemeral(`player-${workloadRandom.int(0, 49)}`, 'position', [workloadRandom.int(0, 1000), workloadRandom.int(0, 1000)])
    ephemeralUpdates++
  })

  // Convergence is timed from the end of the last fault; with no faults, from the end of the workload.
  let lastHeal: Millis = scenario.faults.length === 0 ? scenario.workload.durationMs : 0
  for (const fault of scenario.faults) lastHeal = Math.max(lastHeal, scheduleFault(fault))

  function scheduleFault(fault: Fault): Millis {
    switch (fault.type) {
      case 'partition': {
        const groups =
          fault.groups === 'halves'
            ? [ids.slice(0, Math.ceil(ids.length / 2)), ids.slice(Math.ceil(ids.length / 2))]
            : fault.groups.map((group) => group.map((i) => ids[i] as string))
        scheduler.at(fault.at, () => network.partition(groups))
        scheduler.at(fault.at + fault.durationMs, () => network.heal())
        return fault.at + fault.durationMs
      }
      case 'crash': {
        const node = nodes[fault.peer] as SimPeer
        let saved: Map<string, Uint8Array> | undefined
        scheduler.at(fault.at, () => {
          if (!node.alive) return
          saved = fault.keepState ? new Map(node.peer.docNames().map((name) => [name, Y.encodeStateAsUpdate(node.peer.getDoc(name)!)])) : undefined
          node.peer.close()
          network.crash(ids[fault.peer] as string)
          node.alive = false
        })
        scheduler.at(fault.at + fault.downMs, () => {
          if (node.alive) return
          node.peer = startPeer(fault.peer, node.random.fork(), saved)
          node.alive = true
          network.connectAll()
        })
        return fault.at + fault.downMs
      }
      case 'spike': {
        const a = fault.peer !== undefined ? ids[fault.peer] : undefined
        const b = fault.otherPeer !== undefined ? ids[fault.otherPeer] : undefined
        scheduler.at(fault.at, () => network.spike(a, b, fault.extraMs, fault.at + fault.durationMs))
        return fault.at + fault.durationMs
      }
    }
  }

  const replicasByDoc = (): Map<string, Replica[]> => {
    const out = new Map<string, Replica[]>()
    for (let d = 0; d < scenario.docs; d++) {
      const name = docName(d)
      out.set(
        name,
        nodes.filter((n) => n.alive).map((n) => ({ peer: n.peer.id, doc: n.peer.getDoc(name) as Y.Doc })),
      )
    }
    return out
  }

  // Run the workload and faults, then probe convergence until it holds or the settle time runs out.
  const quietFrom = Math.max(lastHeal, durationMs)
  scheduler.runUntil(quietFrom)
  const probe = options.probeEveryMs ?? 5
  const deadline = quietFrom + scenario.settleMs
  let convergedAt: Millis | null = null
  while (scheduler.now() < deadline) {
    if (checkConvergence(replicasByDoc(), false).length === 0) {
      convergedAt = scheduler.now()
      break
    }
    scheduler.runUntil(Math.min(deadline, scheduler.now() + probe))
  }
  const finalReplicas = replicasByDoc()
  const divergences = checkConvergence(finalReplicas, true)
  let orphanedReplicas = 0
  for (const replicas of finalReplicas.values()) for (const replica of replicas) if (isOrphanedPending(replica.doc, replicas)) orphanedReplicas++
  const invariants = { writer: writerInvariant(scenario.peers), ...options.invariants }
  const invariantViolations = checkInvariants(
    invariants,
    nodes.filter((n) => n.alive).map((n) => ({ peer: n.peer.id, docs: new Map(n.peer.docNames().map((name) => [name, n.peer.getDoc(name) as Y.Doc])) })),
  )
  const { propagation, stretch, undelivered } = tracker.samples((from, to) => latency[from]?.[to] ?? 0)
  const malformedFrames = nodes.reduce((sum, n) => sum + n.peer.stats().malformedFrames, 0)
  const routerTotals: Record<string, number> = {}
  for (const node of nodes) for (const [key, value] of Object.entries(node.peer.routerStats() ?? {})) routerTotals[key] = (routerTotals[key] ?? 0) + value
  for (const node of nodes) node.peer.close()
  const round = (value: number) => Math.round(value * 1000) / 1000
  const perUpdate = (kinds: ReadonlySet<string>, what: 'frames' | 'bytes'): number => {
    if (updates === 0) return 0
    let total = 0
    for (const [kind, counted] of Object.entries(network.stats.sentByKind)) if (kinds.has(kind)) total += counted[what]
    return total / updates
  }
  const roundAll = (p: Percentiles): Percentiles => ({ p50: round(p.p50), p95: round(p.p95), p99: round(p.p99), max: round(p.max) })
  return {
    scenario: scenario.name,
    seed: options.seed,
    peers: scenario.peers,
    router,
    updates,
    ephemeralUpdates,
    converged: divergences.length === 0 && convergedAt !== null,
    traceHash: network.traceHash(),
    propagationMs: roundAll(percentiles(propagation)),
    stretch: roundAll(percentiles(stretch)),
    messagesPerUpdatePerPeer: round(perUpdate(UPDATE_CARRYING_KINDS, 'frames') / scenario.peers),
    digestsPerUpdatePerPeer: round(perUpdate(DIGEST_KINDS, 'frames') / scenario.peers),
    bytesPerUpdate: round(perUpdate(UPDATE_CARRYING_KINDS, 'bytes')),
    digestBytesPerUpdate: round(perUpdate(DIGEST_KINDS, 'bytes')),
    allFramesPerUpdatePerPeer: updates > 0 ? round(network.stats.framesSent / (updates * scenario.peers)) : 0,
    sentByKind: network.stats.sentByKind,
    routerStats: routerTotals,
    convergeAfterHealMs: convergedAt === null ? null : round(convergedAt - lastHeal),
    undeliveredWrites: undelivered,
    orphanedReplicas,
    divergences,
    invariantViolations,
    framesSent: network.stats.framesSent,
    framesLost: network.stats.framesLost,
    malformedFrames,
    eventsProcessed: scheduler.eventsProcessed,
    virtualDurationMs: round(scheduler.now()),
  }
}
