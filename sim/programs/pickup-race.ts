import { createRandom, holderKey, type Intent } from '../../core/index.js'
import type { GateAnswer } from '../../resolvers/index.js'
import { latencyMatrixFromRegions } from '../latency.js'
import { HolderWatch, replicasAgree, settleUntilAgreed, summarize, type LatencySummary } from './holder-checks.js'
import { formatRows, type ProgramReport, type ProgramRunOptions, type ProgramScenario } from './program-scenario.js'
import { createResolverCluster, type ResolverClusterOptions } from './resolver-cluster.js'

/** The report of `pickup-race`. */
export interface PickupRaceReport extends ProgramReport {
  readonly peers: number
  readonly players: number
  readonly items: number
  readonly claims: number
  readonly granted: number
  /** Items that had at least one pickup granted. */
  readonly itemsResolved: number
  /** Breaks of "no item ever has two holders": on any replica at any step, or two players told they hold one item. Must be 0. */
  readonly doubleHolds: number
  /** Refusals by reason (`conflict`, `authority-unavailable`, ...). */
  readonly refusals: Readonly<Record<string, number>>
  /** Claim to answer at the claimant's peer, virtual ms, for settled claims (granted or lost at the owner). */
  readonly resolutionMs: LatencySummary
  /** Claim to the winner visible as holder on every replica, virtual ms. */
  readonly visibleEverywhereMs: LatencySummary
  /** Claims still unanswered at the end (must be 0: the timeout answers every claim). */
  readonly unanswered: number
  readonly replicasAgree: boolean
  readonly convergedAfterHealMs: number | null
  readonly framesLost: number
  readonly breaks: readonly string[]
  /** Moments a replica showed an item without a holder while Yjs waited for a lost update's repair (not double holds; see docs/resolvers.md, "Transient holder gaps"). */
  readonly transientHolderGaps: number
}

/** Knobs of a pickup race (the registered scenario uses the defaults). */
export interface PickupRaceOptions extends ProgramRunOptions {
  readonly players?: number
  readonly items?: number
  /** Virtual ms of racing. Default 3000. */
  readonly durationMs?: number
  /** Partition: peers [0, split) against the rest, from `at` for `durationMs`. Default 2 | 500 | 1200. */
  readonly partition?: { readonly split: number; readonly at: number; readonly durationMs: number } | null
  readonly loss?: number
  readonly jitterMs?: number
  /** Override the cluster's ownership (tests break it on purpose to show the checkers catch it). */
  readonly ownershipFor?: ResolverClusterOptions['ownershipFor']
  /** Settlement timing of every gate (for example `{ windowMs: 'auto' }`). Default: the gate's defaults. */
  readonly settlement?: ResolverClusterOptions['settlement']
}

/**
 * 100 players on 5 peers race for 50 items under jitter, loss and a partition that heals: players
 * grab items they see lying free, holders drop them again after a while (so items are contested
 * all through the partition), and every replica is watched at every step for an item with two
 * holders. Players on the minority side of the partition are refused `authority-unavailable` for
 * items owned across it, never granted.
 */
export const runPickupRace = (options: PickupRaceOptions): PickupRaceReport => {
  const peers = options.peers ?? 5
  const players = options.players ?? 100
  const items = options.items ?? 50
  const durationMs = options.durationMs ?? 3000
  const partition = options.partition === undefined ? { split: 2, at: 500, durationMs: 1200 } : options.partition
  const layout = { regions: 2, intraMs: [2, 8] as const, interMs: [20, 40] as const }
  const cluster = createResolverCluster({
    seed: options.seed,
    peers,
    // The layout draws from its own stream, so changing other knobs does not move the regions.
    latency: latencyMatrixFromRegions(peers, layout, createRandom(options.seed ^ 0x5eed)),
    faults: { jitterMs: options.jitterMs ?? 8, loss: options.loss ?? 0.02 },
    seedWorld: (world) => {
      for (let i = 0; i < items; i++) world.createItem(`item-${i}`, 'loot')
    },
    ...(options.ownershipFor ? { ownershipFor: options.ownershipFor } : {}),
    ...(options.settlement ? { settlement: options.settlement } : {}),
  })
  const { scheduler, nodes } = cluster
  const random = cluster.random.fork()
  const watch = new HolderWatch(cluster)
  const refusals: Record<string, number> = {}
  const resolution: number[] = []
  const visible: number[] = []
  const grantedItems = new Set<string>()
  /** Grants players were told of, by item and the version the grant made: two players at one version is a double hold. */
  const grants = new Map<string, string>()
  /** Per item, the latest version an ack reported and who held it then, to compare with the final world. */
  const lastTold = new Map<string, { version: number; holder: string }>()
  const waitingVisibility: Array<{ item: string; player: string; at: number }> = []
  let claims = 0
  let granted = 0
  let answered = 0
  const beliefBreaks: string[] = []
  const seqOf = new Map<string, number>()

  const submit = (nodeIndex: number, player: string, action: 'pickup' | 'drop', item: string): void => {
    const node = nodes[nodeIndex]!
    const seq = (seqOf.get(player) ?? 0) + 1
    seqOf.set(player, seq)
    const intent: Intent = { action, seq, player, payload: { item } }
    const started = scheduler.now()
    claims++
    node.gate.submit(player, intent, (answer: GateAnswer) => {
      answered++
      const result = answer.result
      if (result.type === 'reject') {
        refusals[result.reason] = (refusals[result.reason] ?? 0) + 1
        if (result.reason === 'conflict' || result.reason === 'stale-version') resolution.push(scheduler.now() - started)
        return
      }
      resolution.push(scheduler.now() - started)
      const version = Number((result.result as { version?: unknown } | null)?.version)
      const holder = action === 'pickup' ? `player:${player}` : 'none'
      const latest = lastTold.get(item)
      if (latest === undefined || latest.version < version) lastTold.set(item, { version, holder })
      if (action === 'pickup') {
        granted++
        grantedItems.add(item)
        const key = `${item}#${version}`
        const earlier = grants.get(key)
        if (earlier !== undefined && earlier !== player) beliefBreaks.push(`${key} was granted to ${earlier} and to ${player}`)
        grants.set(key, player)
        waitingVisibility.push({ item, player, at: started })
        checkVisibility(new Set([item]))
      }
    })
  }

  // Visibility on every replica: checked whenever any replica changes.
  const checkVisibility = (changed?: ReadonlySet<string>): void => {
    for (let i = waitingVisibility.length - 1; i >= 0; i--) {
      const entry = waitingVisibility[i]!
      if (changed !== undefined && !changed.has(entry.item)) continue
      const everywhere = nodes.every((node) => {
        const holder = node.world.getItem(entry.item)?.holder
        return holder?.type === 'player' && holder.id === entry.player
      })
      if (everywhere) {
        visible.push(scheduler.now() - entry.at)
        waitingVisibility.splice(i, 1)
      }
    }
  }
  for (const node of nodes) node.world.observe((change) => checkVisibility(change.items))

  // Each player lives on one peer and acts at exponential intervals: grab a free item it sees, or drop one it holds.
  const playerNames = Array.from({ length: players }, (_, i) => `player-${i}`)
  const act = (index: number): void => {
    const player = playerNames[index]!
    const nodeIndex = index % peers
    const world = nodes[nodeIndex]!.world
    const holding = world.inventoryOf(player)
    if (holding.length > 0 && random.chance(0.5)) {
      submit(nodeIndex, player, 'drop', random.pick(holding))
    } else {
      const free = world.listItems().filter((item) => item.holder.type === 'none')
      if (free.length > 0) submit(nodeIndex, player, 'pickup', random.pick(free).id)
    }
    const gap = -Math.log(1 - random.next()) * 250
    if (scheduler.now() + gap < durationMs) scheduler.setTimer(gap, () => act(index))
  }
  // A burst at the start: every player grabs at once, so many claims race for each item.
  for (let i = 0; i < players; i++) scheduler.at(100 + random.next() * 20, () => act(i))
  if (partition !== null) {
    const ids = nodes.map((node) => node.id)
    scheduler.at(partition.at, () => cluster.network.partition([ids.slice(0, partition.split), ids.slice(partition.split)]))
    scheduler.at(partition.at + partition.durationMs, () => cluster.network.heal())
  }
  scheduler.runUntil(durationMs)
  const healedAt = partition === null ? durationMs : Math.max(durationMs, partition.at + partition.durationMs)
  // Let every pending claim be answered (the claim timeout bounds this) and the replicas converge.
  scheduler.runUntil(Math.max(healedAt, durationMs) + 200)
  const agreedAt = settleUntilAgreed(cluster, scheduler.now() + 15_000)
  // Claims cut off by the partition are answered by resend after the heal or, at worst, the claim timeout.
  const answerDeadline = scheduler.now() + 11_000
  while (answered < claims && scheduler.now() < answerDeadline) scheduler.runUntil(scheduler.now() + 50)
  checkVisibility()
  watch.sweep()
  watch.stop()
  // The end state against what players were told last: the latest acknowledged move of each item stands.
  let toldMismatch = 0
  for (const [item, latest] of lastTold) {
    const found = nodes[0]!.world
    const holder = found.getItem(item)?.holder
    if (found.itemVersion(item) === latest.version && (holder === undefined || holderKey(holder) !== latest.holder)) toldMismatch++
  }
  const agree = replicasAgree(cluster)
  const doubleHolds = watch.breaks.length + beliefBreaks.length
  const report: PickupRaceReport = {
    scenario: 'pickup-race',
    seed: options.seed,
    ok: doubleHolds === 0 && agree && answered === claims && toldMismatch === 0,
    peers,
    players,
    items,
    claims,
    granted,
    itemsResolved: grantedItems.size,
    doubleHolds,
    refusals,
    resolutionMs: summarize(resolution),
    visibleEverywhereMs: summarize(visible),
    unanswered: claims - answered,
    replicasAgree: agree,
    convergedAfterHealMs: agreedAt === null ? null : Math.round(agreedAt - healedAt),
    framesLost: cluster.network.stats.framesLost,
    transientHolderGaps: watch.transientGaps,
    breaks: [...watch.breaks.slice(0, 10), ...beliefBreaks.slice(0, 10), ...(toldMismatch > 0 ? [`${toldMismatch} items are not held by the player told they hold them`] : [])],
  }
  cluster.close()
  return report
}

/** `realmsync sim pickup-race`. */
export const pickupRace: ProgramScenario<PickupRaceReport> = {
  name: 'pickup-race',
  description: '100 players on 5 peers race for 50 items under jitter, loss and a healing partition; no item may ever have two holders',
  run: (options) => runPickupRace(options),
  format: (report) =>
    formatRows([
      ['scenario', `${report.scenario} (seed ${report.seed})`],
      ['peers / players / items', `${report.peers} / ${report.players} / ${report.items}`],
      ['claims / granted', `${report.claims} / ${report.granted}`],
      ['items resolved', String(report.itemsResolved)],
      ['double holds', String(report.doubleHolds)],
      ['refusals', Object.entries(report.refusals).map(([reason, count]) => `${reason} ${count}`).join(', ') || 'none'],
      ['resolution ms p50/p95/p99/max', `${report.resolutionMs.p50} / ${report.resolutionMs.p95} / ${report.resolutionMs.p99} / ${report.resolutionMs.max}`],
      ['visible everywhere ms p50/p99', `${report.visibleEverywhereMs.p50} / ${report.visibleEverywhereMs.p99}`],
      ['unanswered', String(report.unanswered)],
      ['replicas agree', String(report.replicasAgree)],
      ['converged after heal ms', String(report.convergedAfterHealMs)],
      ['transient holder gaps', String(report.transientHolderGaps)],
      ['ok', String(report.ok)],
    ]),
}
