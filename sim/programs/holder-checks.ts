import { holderKey, type WorldChange, type WorldDoc } from '../../core/index.js'
import { checkConvergence } from '../checkers/convergence.js'
import { percentiles } from '../propagation.js'
import { RESOLVER_WORLD_DOC, type ResolverCluster } from './resolver-cluster.js'

/** Percentiles of a latency sample, rounded to 0.1 ms. */
export interface LatencySummary {
  readonly samples: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

/** Rounds a sample's percentiles for a report. */
export const summarize = (values: number[]): LatencySummary => {
  const p = percentiles(values)
  const r = (v: number): number => Math.round(v * 10) / 10
  return { samples: values.length, p50: r(p.p50), p95: r(p.p95), p99: r(p.p99), max: r(p.max) }
}

/**
 * Watches every replica of a resolver cluster, at every change (every step a replica takes), for an
 * item that had two holders. Every holder write of the resolvers bumps the item's version, and only
 * the item's owner writes it, so each (item, version) has exactly one holder cluster-wide; two
 * replicas (or one replica at two times) seeing different holders at one version means two peers
 * granted the item from the same state: a double hold. (A replica that receives a drop and the next
 * pickup together sees player A -> player B directly; versions tell that apart from an overwrite.)
 * An item whose holder key is momentarily missing (Yjs applied the delete of the old value before
 * the lost insert of the new one was repaired) is counted apart, as a transient replication gap.
 */
export class HolderWatch {
  /** Double holds found, each described for the report. */
  readonly breaks: string[] = []
  /** Moments a replica showed an item without a holder while a lost update was being repaired. */
  transientGaps = 0
  private readonly holderAtVersion = new Map<string, string>()
  private readonly stops: Array<() => void> = []

  constructor(private readonly cluster: ResolverCluster) {
    for (const node of cluster.nodes) this.stops.push(node.world.observe((change) => this.check(node.id, node.world, change)))
    this.sweep()
  }

  /** The holder key an item had at a version, as any replica saw it (every version is seen by its writer). */
  holderAt(item: string, version: number): string | undefined {
    return this.holderAtVersion.get(`${item}#${version}`)
  }

  /** Checks every item on every replica once more (at the end of a run). */
  sweep(): void {
    for (const node of this.cluster.nodes) {
      const gaps = new Set(node.world.checkSingleHolder().map((violation) => violation.item))
      for (const item of node.world.listItems()) this.record(node.id, node.world, item.id, gaps)
    }
  }

  /** Stops watching. */
  stop(): void {
    for (const stop of this.stops) stop()
  }

  private check(replica: string, world: WorldDoc, change: WorldChange): void {
    if (change.items.size === 0) return
    // A full audit only when a changed item reads as held by nobody: a missing holder reads that way.
    const suspect = [...change.items].some((item) => world.getItem(item)?.holder.type === 'none')
    const gaps = suspect ? new Set(world.checkSingleHolder().map((violation) => violation.item)) : new Set<string>()
    for (const item of change.items) this.record(replica, world, item, gaps)
  }

  private record(replica: string, world: WorldDoc, item: string, gaps: ReadonlySet<string>): void {
    const found = world.getItem(item)
    if (found === undefined) return
    if (gaps.has(item)) {
      this.transientGaps++
      return
    }
    const key = `${item}#${world.itemVersion(item)}`
    const holder = holderKey(found.holder)
    const seen = this.holderAtVersion.get(key)
    if (seen === undefined) this.holderAtVersion.set(key, holder)
    else if (seen !== holder) this.breaks.push(`${replica}: ${key} is held by ${holder}, but was held by ${seen} at the same version`)
  }
}

/** Whether every replica has the same document (state vectors, content) and the same holder for every item. */
export const replicasAgree = (cluster: ResolverCluster): boolean => {
  const replicas = cluster.nodes.map((node) => ({ peer: node.id, doc: node.peer.getDoc(RESOLVER_WORLD_DOC)! }))
  if (checkConvergence(new Map([[RESOLVER_WORLD_DOC, replicas]]), true).length > 0) return false
  const holders = cluster.nodes.map((node) => JSON.stringify(node.world.listItems().map((item) => [item.id, holderKey(item.holder)])))
  return holders.every((h) => h === holders[0])
}

/** Runs the cluster until every replica agrees (probing every `stepMs`) or `deadline`; returns when it first agreed, or null. */
export const settleUntilAgreed = (cluster: ResolverCluster, deadline: number, stepMs = 20): number | null => {
  while (cluster.scheduler.now() < deadline) {
    if (replicasAgree(cluster)) return cluster.scheduler.now()
    cluster.scheduler.runUntil(Math.min(deadline, cluster.scheduler.now() + stepMs))
  }
  return replicasAgree(cluster) ? cluster.scheduler.now() : null
}

/** Whether no claim is in flight anywhere: no peer waits for an outcome or holds a reservation for a cross-owner claim. */
export const claimsQuiet = (cluster: ResolverCluster): boolean =>
  cluster.nodes.every((node) => node.gate.pendingClaims().length === 0 && node.gate.reservations().size === 0)

/**
 * Runs the cluster until every replica agrees and no claim is in flight (probing every `stepMs`),
 * or `deadline`; returns when that first held, or null. An answered cross-owner claim is not yet
 * settled everywhere: a participant applies its part only when the coordinator's decision (resent
 * until acknowledged) reaches it, so a run judged before that would see a half-applied trade that
 * is really still on its way.
 */
export const settleUntilQuiet = (cluster: ResolverCluster, deadline: number, stepMs = 20): number | null => {
  const quiet = (): boolean => claimsQuiet(cluster) && replicasAgree(cluster)
  while (cluster.scheduler.now() < deadline) {
    if (quiet()) return cluster.scheduler.now()
    cluster.scheduler.runUntil(Math.min(deadline, cluster.scheduler.now() + stepMs))
  }
  return quiet() ? cluster.scheduler.now() : null
}
