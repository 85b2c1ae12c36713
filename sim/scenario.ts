import { RealmsyncError } from '../core/index.js'
import type { RouterSettings } from '../replication/index.js'
import type { RegionLayout } from './latency.js'
import type { LinkFaults } from './sim-network.js'

/** A fault on the schedule, at a virtual time in ms from the start. */
export type Fault =
  | {
      readonly type: 'partition'
      readonly at: number
      readonly durationMs: number
      /** Groups of peer indexes; `halves` splits peers into two halves. */
      readonly groups: readonly (readonly number[])[] | 'halves'
    }
  | {
      readonly type: 'crash'
      readonly at: number
      readonly peer: number
      readonly downMs: number
      /** Whether the peer comes back with its documents (as from storage) or empty. */
      readonly keepState: boolean
    }
  | {
      readonly type: 'spike'
      readonly at: number
      readonly durationMs: number
      readonly extraMs: number
      /** Peer whose links all slow down; omit for every link. */
      readonly peer?: number
      /** With `peer`, only the link between `peer` and `otherPeer`. */
      readonly otherPeer?: number
    }

/** A simulation scenario: topology, link faults, workload and a fault schedule. */
export interface Scenario {
  readonly name: string
  readonly description?: string
  /** Number of peers (overridable from the command line). */
  readonly peers: number
  /** Region layout that sets base latencies. */
  readonly regions: RegionLayout
  /** Link fault knobs. */
  readonly link: LinkFaults
  /** Number of replicated documents. */
  readonly docs: number
  /** Document writes per second across the cluster, and for how long. */
  readonly workload: {
    readonly updatesPerSecond: number
    readonly durationMs: number
    readonly ephemeralPerSecond?: number
    /** Writes begin this long after the start (a warm-up for latency probes). Default 0. */
    readonly startMs?: number
  }
  readonly faults: readonly Fault[]
  /** Longest virtual time allowed after the last fault and write for replicas to converge. */
  readonly settleMs: number
  /** Anti-entropy interval of every peer. */
  readonly antiEntropyIntervalMs: number
  /** Router tuning of every peer (the router kind itself is a run option). */
  readonly router?: Partial<Omit<RouterSettings, 'kind'>>
}

/** A scenario file or object that does not describe a valid scenario. */
export class InvalidScenarioError extends RealmsyncError {
  constructor(detail: string) {
    super('invalid-scenario', `invalid scenario: ${detail}`)
  }
}

const base = {
  peers: 6,
  regions: { regions: 3, intraMs: [2, 8], interMs: [30, 90] },
  link: { jitterMs: 4, loss: 0, duplicate: 0, reorder: false },
  docs: 2,
  workload: { updatesPerSecond: 200, durationMs: 3000, ephemeralPerSecond: 100 },
  settleMs: 10_000,
  antiEntropyIntervalMs: 500,
} as const satisfies Omit<Scenario, 'name' | 'faults'>

// The router comparison of the gossip issue: 50 peers in 5 regions, one document, writes after a
// 2 s warm-up so latency probes have measured the links.
const regionsBase = {
  ...base,
  peers: 50,
  regions: { regions: 5, intraMs: [1, 10], interMs: [20, 150] },
  link: { jitterMs: 0.5, loss: 0, duplicate: 0, reorder: false },
  docs: 1,
  workload: { updatesPerSecond: 200, durationMs: 5000, ephemeralPerSecond: 0, startMs: 2000 },
  settleMs: 10_000,
  antiEntropyIntervalMs: 1000,
  router: { pingIntervalMs: 500 },
} as const satisfies Omit<Scenario, 'name' | 'faults'>

/** The built-in scenarios, by name. */
export const BUILTIN_SCENARIOS: Readonly<Record<string, Scenario>> = {
  'partition-heal': {
    ...base,
    name: 'partition-heal',
    description: 'The cluster splits in two halves for 1.5 s while both sides keep writing, then heals.',
    faults: [{ type: 'partition', at: 800, durationMs: 1500, groups: 'halves' }],
  },
  lossy: {
    ...base,
    name: 'lossy',
    description: '30% of all frames are lost, with jitter and duplication; anti-entropy repairs.',
    link: { jitterMs: 10, loss: 0.3, duplicate: 0.05, reorder: true },
    faults: [],
  },
  'crash-restart': {
    ...base,
    name: 'crash-restart',
    description: 'One peer crashes and restarts empty; another crashes and restarts with its state.',
    faults: [
      { type: 'crash', at: 700, peer: 1, downMs: 800, keepState: false },
      { type: 'crash', at: 1200, peer: 2, downMs: 600, keepState: true },
    ],
  },
  regions: {
    ...regionsBase,
    name: 'regions',
    description: '50 peers in 5 regions (1-10 ms within, 20-150 ms between), steady writes after a 2 s warm-up; the router comparison.',
    faults: [],
  },
  'regions-lossy': {
    ...regionsBase,
    name: 'regions-lossy',
    description: 'The regions layout with 20% of frames lost and latency spikes on two links.',
    link: { ...regionsBase.link, loss: 0.2 },
    faults: [
      { type: 'spike', at: 3000, durationMs: 3000, extraMs: 200, peer: 0, otherPeer: 1 },
      { type: 'spike', at: 3000, durationMs: 3000, extraMs: 200, peer: 2, otherPeer: 7 },
    ],
  },
  'latency-spike': {
    ...base,
    name: 'latency-spike',
    description: "Peer 0's links gain 250 ms for 1.5 s, then recover.",
    faults: [{ type: 'spike', at: 1000, durationMs: 1500, extraMs: 250, peer: 0 }],
  },
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

const num = (obj: Record<string, unknown>, key: string, min: number, max: number, fallback?: number): number => {
  const value = obj[key] ?? fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidScenarioError(`${key} must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`)
  }
  return value
}

const range = (obj: Record<string, unknown>, key: string, fallback: readonly [number, number]): [number, number] => {
  const value = obj[key] ?? fallback
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number' && v >= 0 && v <= 60_000) || value[0] > value[1]) {
    throw new InvalidScenarioError(`${key} must be [min, max] in ms, got ${JSON.stringify(value)}`)
  }
  return [value[0], value[1]]
}

const parseFault = (value: unknown, index: number, peers: number): Fault => {
  if (!isObject(value)) throw new InvalidScenarioError(`faults[${index}] must be an object`)
  const at = num(value, 'at', 0, 3_600_000)
  const peerIndex = (key: string) => {
    const p = num(value, key, 0, peers - 1)
    if (!Number.isInteger(p)) throw new InvalidScenarioError(`faults[${index}].${key} must be a peer index`)
    return p
  }
  switch (value.type) {
    case 'partition': {
      const groups = value.groups ?? 'halves'
      if (groups !== 'halves') {
        if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g) && g.every((p) => Number.isInteger(p) && p >= 0 && p < peers))) {
          throw new InvalidScenarioError(`faults[${index}].groups must be 'halves' or arrays of peer indexes`)
        }
      }
      return { type: 'partition', at, durationMs: num(value, 'durationMs', 0, 3_600_000), groups: groups as Fault extends { groups: infer G } ? G : never }
    }
    case 'crash':
      return { type: 'crash', at, peer: peerIndex('peer'), downMs: num(value, 'downMs', 0, 3_600_000), keepState: value.keepState === true }
    case 'spike':
      return {
        type: 'spike',
        at,
        durationMs: num(value, 'durationMs', 0, 3_600_000),
        extraMs: num(value, 'extraMs', 0, 60_000),
        ...(value.peer !== undefined ? { peer: peerIndex('peer') } : {}),
        ...(value.otherPeer !== undefined ? { otherPeer: peerIndex('otherPeer') } : {}),
      }
    default:
      throw new InvalidScenarioError(`faults[${index}].type must be partition, crash or spike, got ${JSON.stringify(value.type)}`)
  }
}

const ROUTER_TUNING_KEYS = ['d', 'dLow', 'dHigh', 'rootFanout', 'pingIntervalMs', 'digestIntervalMs', 'lazyFanout', 'digestLingerRounds', 'graftTimeoutMs'] as const

const parseRouterTuning = (value: Record<string, unknown>): Partial<Omit<RouterSettings, 'kind'>> => {
  const out: Record<string, number | 'adaptive'> = {}
  for (const key of Object.keys(value)) {
    if (key === 'redundancy') {
      out.redundancy = value.redundancy === 'adaptive' ? 'adaptive' : num(value, 'redundancy', 1, 4)
    } else if ((ROUTER_TUNING_KEYS as readonly string[]).includes(key)) {
      out[key] = num(value, key, 1, 600_000)
    } else {
      throw new InvalidScenarioError(`router.${key} is not a router setting (use ${[...ROUTER_TUNING_KEYS, 'redundancy'].join(', ')})`)
    }
  }
  return out as Partial<Omit<RouterSettings, 'kind'>>
}

/** Validates a parsed JSON scenario, filling defaults from `partition-heal`; throws `InvalidScenarioError`. */
export const parseScenario = (value: unknown): Scenario => {
  if (!isObject(value)) throw new InvalidScenarioError('a scenario must be a JSON object')
  const name = value.name ?? 'custom'
  if (typeof name !== 'string' || name.length === 0) throw new InvalidScenarioError('name must be a non-empty string')
  const peers = num(value, 'peers', 2, 500, base.peers)
  if (!Number.isInteger(peers)) throw new InvalidScenarioError('peers must be an integer')
  const regions = isObject(value.regions) ? value.regions : {}
  const link = isObject(value.link) ? value.link : {}
  const workload = isObject(value.workload) ? value.workload : {}
  const faults = value.faults ?? []
  if (!Array.isArray(faults)) throw new InvalidScenarioError('faults must be an array')
  return {
    name,
    ...(typeof value.description === 'string' ? { description: value.description } : {}),
    peers,
    regions: {
      regions: Math.round(num(regions, 'regions', 1, 64, base.regions.regions)),
      intraMs: range(regions, 'intraMs', base.regions.intraMs),
      interMs: range(regions, 'interMs', base.regions.interMs),
    },
    link: {
      jitterMs: num(link, 'jitterMs', 0, 10_000, base.link.jitterMs),
      loss: num(link, 'loss', 0, 0.95, base.link.loss),
      duplicate: num(link, 'duplicate', 0, 0.95, base.link.duplicate),
      reorder: link.reorder === true,
    },
    docs: Math.round(num(value, 'docs', 1, 64, base.docs)),
    workload: {
      updatesPerSecond: num(workload, 'updatesPerSecond', 0, 1_000_000, base.workload.updatesPerSecond),
      durationMs: num(workload, 'durationMs', 0, 3_600_000, base.workload.durationMs),
      ephemeralPerSecond: num(workload, 'ephemeralPerSecond', 0, 1_000_000, base.workload.ephemeralPerSecond),
      startMs: num(workload, 'startMs', 0, 3_600_000, 0),
    },
    ...(isObject(value.router) ? { router: parseRouterTuning(value.router) } : {}),
    faults: faults.map((fault, index) => parseFault(fault, index, peers)),
    settleMs: num(value, 'settleMs', 0, 3_600_000, base.settleMs),
    antiEntropyIntervalMs: num(value, 'antiEntropyIntervalMs', 10, 600_000, base.antiEntropyIntervalMs),
  }
}
