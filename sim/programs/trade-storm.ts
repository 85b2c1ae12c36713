import { createRandom, type Intent } from '../../core/index.js'
import { tradeTerms, type GateAnswer } from '../../resolvers/index.js'
import { latencyMatrixFromRegions } from '../latency.js'
import { claimsQuiet, HolderWatch, replicasAgree, settleUntilAgreed, settleUntilQuiet, summarize, type LatencySummary } from './holder-checks.js'
import { formatRows, type ProgramReport, type ProgramRunOptions, type ProgramScenario } from './program-scenario.js'
import { createResolverCluster, type ResolverCluster, type ResolverClusterOptions } from './resolver-cluster.js'

/** The report of `trade-storm`. */
export interface TradeStormReport extends ProgramReport {
  readonly peers: number
  readonly players: number
  readonly items: number
  readonly trades: number
  readonly committed: number
  /** Committed trades whose items had different owner peers (settled by two-phase commit). */
  readonly crossOwnerCommits: number
  readonly refusals: Readonly<Record<string, number>>
  /** Items granted twice from one state (two holders at one version), on any replica at any step. Must be 0. */
  readonly duplicatedItems: number
  /** Items missing, or held by nobody or by a non-player, at the end. Must be 0. */
  readonly lostItems: number
  /** Item moves not matched by a committed trade, or committed trade moves that never happened (a half-applied trade). Must be 0. */
  readonly unmatchedMoves: number
  readonly resolutionMs: LatencySummary
  readonly unanswered: number
  readonly replicasAgree: boolean
  /** Every claim finished everywhere before the checks (no reservation held, no claim waiting). Must be true. */
  readonly claimsSettled: boolean
  /**
   * Moments a replica showed an item without a holder: Yjs applied a move's delete of the old holder
   * and parked its insert behind a lost earlier update of the same writer (not a double hold; see
   * docs/resolvers.md, "Transient holder gaps").
   */
  readonly transientHolderGaps: number
  readonly breaks: readonly string[]
}

/** Knobs of a trade storm (the registered scenario uses the defaults). */
export interface TradeStormOptions extends ProgramRunOptions {
  readonly players?: number
  readonly itemsPerPlayer?: number
  readonly durationMs?: number
  readonly partition?: { readonly split: number; readonly at: number; readonly durationMs: number } | null
  readonly loss?: number
  readonly ownershipFor?: ResolverClusterOptions['ownershipFor']
  /** Runs on the settled cluster just before the checks: tests break a run on purpose with it to show the checks catch it. */
  readonly sabotage?: (cluster: ResolverCluster) => void
}

/**
 * Many concurrent trades across peers: players on 5 peers swap items they hold (as their own peer
 * sees it) with random partners, so trades race for the same items and most span items owned by
 * different peers (two-phase commit with reservations), under loss, jitter and a healing partition.
 * At the end every item must exist once, be held by a player, and every move must be explained by
 * exactly one committed trade: nothing duplicated, nothing lost, nothing half-applied.
 */
export const runTradeStorm = (options: TradeStormOptions): TradeStormReport => {
  const peers = options.peers ?? 5
  const players = options.players ?? 60
  const itemsPerPlayer = options.itemsPerPlayer ?? 4
  const durationMs = options.durationMs ?? 3000
  const partition = options.partition === undefined ? { split: 2, at: 800, durationMs: 1000 } : options.partition
  const playerNames = Array.from({ length: players }, (_, i) => `player-${i}`)
  const items = players * itemsPerPlayer
  const cluster = createResolverCluster({
    seed: options.seed,
    peers,
    latency: latencyMatrixFromRegions(peers, { regions: 2, intraMs: [2, 8], interMs: [20, 40] }, createRandom(options.seed ^ 0x7ade)),
    faults: { jitterMs: 8, loss: options.loss ?? 0.02 },
    seedWorld: (world) => {
      for (let i = 0; i < items; i++) world.createItem(`item-${i}`, 'gem', { type: 'player', id: playerNames[i % players]! })
    },
    ...(options.ownershipFor ? { ownershipFor: options.ownershipFor } : {}),
  })
  const { scheduler, nodes } = cluster
  const random = cluster.random.fork()
  const watch = new HolderWatch(cluster)
  const refusals: Record<string, number> = {}
  const resolution: number[] = []
  /** Moves committed trades made: `item|from|to` -> count. */
  const committedMoves = new Map<string, number>()
  let trades = 0
  let committed = 0
  let answered = 0
  const seqOf = new Map<string, number>()

  const trade = (index: number): void => {
    const player = playerNames[index]!
    const nodeIndex = index % peers
    const world = nodes[nodeIndex]!.world
    const partner = playerNames[random.int(0, players - 1)]!
    const mine = world.inventoryOf(player)
    const theirs = world.inventoryOf(partner)
    if (partner === player || mine.length === 0 || theirs.length === 0) return
    const give = [random.pick(mine)]
    const take = [random.pick(theirs)]
    if (mine.length > 1 && random.chance(0.3)) give.push(random.pick(mine.filter((item) => item !== give[0])))
    const seq = (seqOf.get(player) ?? 0) + 1
    seqOf.set(player, seq)
    const intent: Intent = { action: 'trade', seq, player, payload: { partner, give, take } }
    const started = scheduler.now()
    trades++
    nodes[nodeIndex]!.gate.submit(player, intent, (answer: GateAnswer) => {
      answered++
      if (answer.result.type === 'reject') {
        refusals[answer.result.reason] = (refusals[answer.result.reason] ?? 0) + 1
        return
      }
      resolution.push(scheduler.now() - started)
      committed++
      const terms = tradeTerms(intent)!
      for (const item of terms.give) bump(`${item}|player:${player}|player:${partner}`)
      for (const item of terms.take) bump(`${item}|player:${partner}|player:${player}`)
    })
  }
  const bump = (key: string): void => {
    committedMoves.set(key, (committedMoves.get(key) ?? 0) + 1)
  }
  const act = (index: number): void => {
    trade(index)
    const gap = -Math.log(1 - random.next()) * 300
    if (scheduler.now() + gap < durationMs) scheduler.setTimer(gap, () => act(index))
  }
  for (let i = 0; i < players; i++) scheduler.at(100 + random.next() * 100, () => act(i))
  if (partition !== null) {
    const ids = nodes.map((node) => node.id)
    scheduler.at(partition.at, () => cluster.network.partition([ids.slice(0, partition.split), ids.slice(partition.split)]))
    scheduler.at(partition.at + partition.durationMs, () => cluster.network.heal())
  }
  scheduler.runUntil(Math.max(durationMs, partition === null ? 0 : partition.at + partition.durationMs) + 200)
  settleUntilAgreed(cluster, scheduler.now() + 15_000)
  const answerDeadline = scheduler.now() + 11_000
  while (answered < trades && scheduler.now() < answerDeadline) scheduler.runUntil(scheduler.now() + 50)
  // Decisions still being resent reach their participants (an answered trade may still have a part
  // on its way to a peer whose decision was lost); then the replicas must agree again.
  settleUntilQuiet(cluster, scheduler.now() + 15_000)
  options.sabotage?.(cluster)
  const claimsSettled = claimsQuiet(cluster)
  watch.sweep()
  watch.stop()

  const world = nodes[0]!.world
  let lostItems = 0
  for (let i = 0; i < items; i++) {
    const item = world.getItem(`item-${i}`)
    if (item === undefined || item.holder.type !== 'player') lostItems++
  }
  // Every version step of every item must be one committed trade move, and vice versa.
  const observedMoves = new Map<string, number>()
  for (let i = 0; i < items; i++) {
    const id = `item-${i}`
    const last = world.itemVersion(id)
    for (let v = 1; v <= last; v++) {
      const key = `${id}|${watch.holderAt(id, v - 1) ?? '?'}|${watch.holderAt(id, v) ?? '?'}`
      observedMoves.set(key, (observedMoves.get(key) ?? 0) + 1)
    }
  }
  let unmatchedMoves = 0
  const unmatched: string[] = []
  for (const key of new Set([...observedMoves.keys(), ...committedMoves.keys()])) {
    const difference = Math.abs((observedMoves.get(key) ?? 0) - (committedMoves.get(key) ?? 0))
    if (difference > 0) {
      unmatchedMoves += difference
      unmatched.push(`${key}: observed ${observedMoves.get(key) ?? 0}, committed ${committedMoves.get(key) ?? 0}`)
    }
  }
  const agree = replicasAgree(cluster)
  const duplicatedItems = new Set(watch.breaks.map((line) => line.split(' ')[1]?.split('#')[0])).size
  const report: TradeStormReport = {
    scenario: 'trade-storm',
    seed: options.seed,
    ok: duplicatedItems === 0 && lostItems === 0 && unmatchedMoves === 0 && agree && claimsSettled && answered === trades,
    peers,
    players,
    items,
    trades,
    committed,
    crossOwnerCommits: nodes.reduce((sum, node) => sum + node.gate.stats.crossOwnerCommits, 0),
    refusals,
    duplicatedItems,
    lostItems,
    unmatchedMoves,
    resolutionMs: summarize(resolution),
    unanswered: trades - answered,
    replicasAgree: agree,
    claimsSettled,
    transientHolderGaps: watch.transientGaps,
    breaks: [...watch.breaks.slice(0, 10), ...unmatched.slice(0, 10)],
  }
  cluster.close()
  return report
}

/** `realmsync sim trade-storm`. */
export const tradeStorm: ProgramScenario<TradeStormReport> = {
  name: 'trade-storm',
  description: 'many concurrent trades across 5 peers (most across owners: two-phase commit) under loss and a healing partition; nothing duplicated or lost',
  run: (options) => runTradeStorm(options),
  format: (report) =>
    formatRows([
      ['scenario', `${report.scenario} (seed ${report.seed})`],
      ['peers / players / items', `${report.peers} / ${report.players} / ${report.items}`],
      ['trades / committed', `${report.trades} / ${report.committed}`],
      ['cross-owner commits', String(report.crossOwnerCommits)],
      ['refusals', Object.entries(report.refusals).map(([reason, count]) => `${reason} ${count}`).join(', ') || 'none'],
      ['duplicated items', String(report.duplicatedItems)],
      ['lost items', String(report.lostItems)],
      ['unmatched moves', String(report.unmatchedMoves)],
      ['resolution ms p50/p95/p99/max', `${report.resolutionMs.p50} / ${report.resolutionMs.p95} / ${report.resolutionMs.p99} / ${report.resolutionMs.max}`],
      ['unanswered', String(report.unanswered)],
      ['replicas agree', String(report.replicasAgree)],
      ['claims settled', String(report.claimsSettled)],
      ['transient holder gaps', String(report.transientHolderGaps)],
      ['ok', String(report.ok)],
    ]),
}
