import * as Y from 'yjs'
import type { ClockRange, DigestFrame, GossipFrame, Millis, NetworkCoordinate, PingFrame, PongFrame, Random, WireMessage } from '../core/index.js'
import { holdsRanges, mergeRangeLists, missingRanges, pendingRanges } from './clock-ranges.js'
import { DigestLedger } from './digest-ledger.js'
import { buildTree, type DisseminationTree } from './dissemination-tree.js'
import { LatencyMap } from './latency-map.js'
import { LinkReportLedger } from './link-report-ledger.js'
import type { RouterSettings } from './router-settings.js'
import { RttEstimator } from './rtt-estimator.js'
import { SeenFrames } from './seen-frames.js'
import { initialCoordinate, updateCoordinate } from './vivaldi.js'

/** What the router needs from the sync core that owns it. */
export interface RouterHost {
  readonly self: string
  readonly random: Random
  /** Queues a message to a connected peer. */
  send(to: string, message: WireMessage): void
  /** The replica of a document, if this peer holds it. */
  document(name: string): Y.Doc | undefined
  /**
   * Applies an update that arrived from `from`: whether the replica now waits on missing updates,
   * and the clocks the update carries per client (read off the decode that validated it). Throws a
   * RealmsyncError if invalid.
   */
  apply(from: string, doc: string, update: Uint8Array): AppliedUpdate
  /** Asks `peer` for everything this replica lacks (sync step 1): when a gap cannot be named by clock ranges. */
  pull(peer: string, doc: string): void
  /** The ranges updates held back (not yet given to Yjs) wait for, per document; none by default. */
  heldRanges?(doc: string): readonly ClockRange[]
  /** The first copy of an update arrived, `delayMs` after its origin sent it (by the two clocks). */
  delivered(doc: string, origin: string, delayMs: Millis): void
}

/** What applying a gossiped update told the router. */
export interface AppliedUpdate {
  /** The replica waits on updates it lacks (a gap to pull). */
  readonly waiting: boolean
  /** Per client, the first clock the update carries and one past its last (`Y.parseUpdateMeta`'s from and to). */
  readonly from: ReadonlyMap<number, number>
  readonly to: ReadonlyMap<number, number>
}

/** Counters of the router. */
export interface RouterStats {
  /** Update-carrying gossip frames sent (first copies and relays). */
  eagerSent: number
  /** Redundant trees the latest local update was sent on (1 without loss). */
  trees: number
  /** Gossip frames received that this peer had already relayed on that tree. */
  duplicateGossip: number
  /** Children skipped because the link to them was down (their subtree was adopted). */
  childrenAdopted: number
  digestsSent: number
  /** Pulls after a digest named updates the eager path had not brought in time. */
  grafts: number
  /** Pulls because an arriving update could not integrate (an earlier one was lost). */
  gapPulls: number
  /** Clock ranges named in the digests sent. */
  digestRanges: number
  pingsSent: number
  pingsLost: number
  treeRebuilds: number
  /** Times this peer's own first-hop set (its eager peers) changed. */
  eagerSetChanges: number
}

interface Outstanding {
  readonly nonce: number
  readonly sentAt: Millis
}

interface PendingPull {
  readonly peer: string
  readonly due: Millis
  /** Per client, the clock digests said peers hold up to: the pull asks for what is still missing below it. */
  readonly wanted: Map<number, number>
  /** Pulls already sent for this gap (a lost ask or answer is asked again, up to MAX_GRAFT_TRIES). */
  readonly tries: number
}

// A router's first seq is its clock (ms) times this: a restarted peer's frames then come after its
// earlier ones, instead of reusing seqs its neighbours still hold as seen and dropping as duplicates.
// It would take a peer sending more than 64 frames a millisecond, on average over its whole life, to
// reach the seqs of its next start.
const SEQ_PER_MS = 64
// Late probes remembered per peer: as many as the default loss window, beyond which a loss no longer counts anyway.
const MAX_LATE_PROBES = 20
// Probes, over all links together, before their loss rate may add redundant trees.
const MIN_POOLED_PROBES = 16
// A link with fewer round-trip samples than this is young: probed more often, so trees settle fast.
const YOUNG_LINK_SAMPLES = 3
const YOUNG_PROBE_SPEEDUP = 4
// The tree index of a copy sent straight from the origin to a near peer under loss: never relayed.
export const DIRECT_TREE = 64
// Pulls for one gap before it is left to the next digest or anti-entropy.
const MAX_GRAFT_TRIES = 3

/** Per client, the larger end of the ranges in `wanted` and `ranges`. */
const mergeWanted = (wanted: ReadonlyMap<number, number> | undefined, ranges: readonly ClockRange[]): Map<number, number> => {
  const out = new Map(wanted)
  for (const range of ranges) if (range.to > (out.get(range.client) ?? 0)) out.set(range.client, range.to)
  return out
}

// A small deterministic hash in [0, 1) for perturbing redundant trees: FNV-1a over the pair and tree index.
const unitHash = (tree: number, a: string, b: string): number => {
  let hash = 0x811c9dc5 ^ tree
  const text = a < b ? `${a}|${b}` : `${b}|${a}`
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0) / 0x1_0000_0000
}

/**
 * The sans-IO gossip router behind `random` and `latency` replication (DESIGN.md, "Replication in
 * one paragraph"). Latency: round-trip probes per link (RFC 6298 estimates, loss, up/down), Vivaldi
 * coordinates, and every peer's measured links shared in its pings, so all peers hold the same
 * latency map. Dissemination: each update is pushed along a tree rooted at its origin, built by
 * every peer from that map with the same greedy earliest-arrival rule and bounded fan-out, so it
 * reaches each peer about as fast as the direct link at one message per peer; under loss the origin
 * adds perturbed redundant trees. Repair: peers announce the clock ranges of updates they newly
 * hold (digests) to a few others while a document changes; a peer that sees it lacks a range pulls
 * exactly that range after a short wait (Plumtree's graft). Anti-entropy stays as the safety net.
 * `random` pushes along a random mesh of degree D instead, like gossipsub, with the same digests.
 */
export class GossipRouter {
  readonly stats: RouterStats = { eagerSent: 0, trees: 0, duplicateGossip: 0, childrenAdopted: 0, digestsSent: 0, grafts: 0, gapPulls: 0, digestRanges: 0, pingsSent: 0, pingsLost: 0, treeRebuilds: 0, eagerSetChanges: 0 }
  private readonly peers = new Set<string>()
  private readonly estimators = new Map<string, RttEstimator>()
  private readonly outstanding = new Map<string, Outstanding>()
  /** Nonces of probes counted lost but possibly only late, per peer (bounded by the loss window). */
  private readonly lateProbes = new Map<string, Outstanding[]>()
  /** Probes of young links replaced by a newer one before their timeout: an answer is still a sample, never a loss. */
  private readonly supersededProbes = new Map<string, Outstanding[]>()
  /** When each peer was last probed. */
  private readonly lastProbeAt = new Map<string, Millis>()
  private readonly latency = new LatencyMap()
  private coordinate: NetworkCoordinate = initialCoordinate()
  private nonce = 0
  /** The seq of this peer's last published frame; -1 before the first. */
  private seq = -1
  /** Frames (origin, seq, tree) taken; with the random router, one per (origin, seq). */
  private readonly seen = new SeenFrames()
  /** Messages (origin, seq) whose first copy arrived, on any tree. */
  private readonly delivered = new SeenFrames()
  private readonly trees = new Map<string, DisseminationTree>()
  private treesVersion = -1
  private readonly meshes = new Map<string, string[]>()
  private readonly dirty = new Map<string, number>()
  private readonly pulls = new Map<string, PendingPull>()
  private readonly lastPull = new Map<string, Millis>()
  /** What to announce in digests, and what each peer has been told. */
  private readonly ledger: DigestLedger
  /** What each peer holds of our link report, so pings carry only changes. */
  private readonly linkReports = new LinkReportLedger()
  /** Per document and peer, per client the clock it is known to hold up to (from its digests and the updates it sent): where to pull from. */
  private readonly announced = new Map<string, Map<string, Map<number, number>>>()
  private digestCursor = 0
  private lastEagerSet = ''

  constructor(
    private readonly settings: RouterSettings,
    private readonly host: RouterHost,
  ) {
    // Far (random) digest targets per update: 2 instead of 4 saved a sixth of digest bytes, but in
    // regions-lossy (seed 3) left a gap to anti-entropy for 0.7 s after the spikes ended.
    this.ledger = new DigestLedger(settings.digestLingerRounds, settings.lazyFanout)
  }

  /** A connection came up: probe it at once so the latency map fills quickly. */
  peerUp(peer: string, now: Millis): void {
    this.peers.add(peer)
    if (!this.estimators.has(peer)) this.estimators.set(peer, new RttEstimator())
    this.ping(peer, now)
    this.reportOwnLinks()
  }

  /** A connection went down: the link is reported down, so trees route around it. */
  peerDown(peer: string): void {
    this.peers.delete(peer)
    this.outstanding.delete(peer)
    this.lateProbes.delete(peer)
    this.supersededProbes.delete(peer)
    this.lastProbeAt.delete(peer)
    for (const [doc, mesh] of this.meshes) this.meshes.set(doc, mesh.filter((member) => member !== peer))
    for (const byPeer of this.announced.values()) byPeer.delete(peer)
    // A reconnected peer may have lost what we told it: start its digests from scratch.
    this.ledger.forgetPeer(peer)
    this.linkReports.forget(peer)
    this.reportOwnLinks()
  }

  /** Forgets everything kept for a document this peer stopped replicating (an epoch it left), so state does not pile up per epoch. */
  forgetDocument(doc: string): void {
    this.meshes.delete(doc)
    this.dirty.delete(doc)
    this.pulls.delete(doc)
    this.lastPull.delete(doc)
    this.announced.delete(doc)
    this.ledger.forgetDocument(doc)
  }

  /** Disseminates an update made on this peer. */
  publish(doc: string, update: Uint8Array, now: Millis): void {
    this.touch(doc, () => Y.parseUpdateMeta(update).from)
    const seq = (this.seq = this.seq < 0 ? Math.floor(Math.max(0, now) * SEQ_PER_MS) : this.seq + 1)
    const copies = this.settings.kind === 'latency' ? this.treeCount() : 1
    for (let tree = 0; tree < copies; tree++) {
      const frame: GossipFrame = { type: 'gossip', doc, origin: this.host.self, seq, tree, sentAt: now, update }
      this.remember(frame)
      this.relay(frame, undefined)
    }
    if (copies > 1) {
      // Under loss, near peers also get a copy straight from the origin. A lost update is repaired
      // only after a digest names it and a pull returns: tens of ms, which more than doubles the
      // delay on a link of a few ms, where the trees' other copies mostly take a relay's detour too.
      const frame: GossipFrame = { type: 'gossip', doc, origin: this.host.self, seq, tree: DIRECT_TREE, sentAt: now, update }
      this.remember(frame)
      for (const peer of this.nearPeers()) {
        this.host.send(peer, frame)
        this.stats.eagerSent++
      }
    }
  }

  /** Connected peers closer than a repair takes (about two digest intervals): a lost update costs them most in stretch. */
  private nearPeers(): string[] {
    const bound = 2 * this.settings.digestIntervalMs
    return [...this.peers].filter((peer) => this.estimators.get(peer)?.up === true && this.latency.oneWay(this.host.self, peer) < bound)
  }

  /** A gossip frame arrived: apply it, and pass it on along its tree (once per tree). */
  onGossip(from: string, frame: GossipFrame, now: Millis): void {
    if (this.host.document(frame.doc) === undefined) return
    if (!this.remember(frame)) {
      this.stats.duplicateGossip++
      return
    }
    if (this.delivered.remember(frame.origin, frame.seq)) this.host.delivered(frame.doc, frame.origin, now - frame.sentAt)
    const meta = this.host.apply(from, frame.doc, frame.update)
    // The origin holds this update, and so does the sender unless it relayed it over a gap of its
    // own: digests to them need not name it.
    if (this.peers.has(frame.origin)) this.noteHolds(frame.doc, frame.origin, meta.to)
    if (from !== frame.origin) {
      const known = this.announced.get(frame.doc)?.get(from)
      const contiguous = new Map([...meta.to].filter(([client]) => (meta.from.get(client) ?? 0) <= (known?.get(client) ?? 0)))
      this.noteHolds(frame.doc, from, contiguous)
    }
    this.touch(frame.doc, () => meta.from)
    this.relay(frame, from)
    // An update that cannot integrate proves an earlier one was lost on the way here (a tree's
    // updates share a FIFO path), and the sender holds it: ask at once rather than wait for a digest.
    if (meta.waiting) this.pullNow(from, frame.doc, now)
  }

  private pullNow(peer: string, name: string, now: Millis): void {
    const last = this.lastPull.get(name)
    // One pull per round trip: a second ask before the first answer could land is waste.
    if (last !== undefined && now - last < Math.max(5, 2 * this.latency.oneWay(this.host.self, peer))) return
    const doc = this.host.document(name)
    if (doc === undefined) return
    this.lastPull.set(name, now)
    this.stats.gapPulls++
    const held = this.host.heldRanges?.(name) ?? []
    const pending = pendingRanges(doc)
    const ranges = pending === undefined ? (held.length > 0 ? [...held] : undefined) : mergeRangeLists(pending, held)
    // Nothing nameable: ask with the whole state vector.
    if (ranges === undefined) this.host.pull(peer, name)
    else this.host.send(peer, { type: 'pull', doc: name, ranges })
  }

  /** A digest arrived: if the sender holds ranges this replica lacks, plan a pull unless they arrive first. */
  onDigest(from: string, frame: DigestFrame, now: Millis): void {
    const doc = this.host.document(frame.doc)
    if (doc === undefined) return
    const holds = new Map(frame.ranges.map((range) => [range.client, range.to]))
    this.noteHolds(frame.doc, from, holds)
    const missing = missingRanges(doc, holds)
    if (missing.length === 0) return
    const due = now + this.graftWait(from)
    const planned = this.pulls.get(frame.doc)
    // An earlier plan keeps its time (and its announcer) but takes in the new ranges: a gap named
    // once is pulled with the next one, not forgotten.
    if (planned !== undefined && planned.due <= due) this.pulls.set(frame.doc, { ...planned, wanted: mergeWanted(planned.wanted, missing) })
    else this.pulls.set(frame.doc, { peer: from, due, wanted: mergeWanted(planned?.wanted, missing), tries: planned?.tries ?? 0 })
  }

  /** Records that `peer` holds every update up to `clocks` (per client) of a document. */
  private noteHolds(doc: string, peer: string, clocks: ReadonlyMap<number, number>): void {
    let byPeer = this.announced.get(doc)
    if (byPeer === undefined) this.announced.set(doc, (byPeer = new Map()))
    const known = byPeer.get(peer) ?? new Map<number, number>()
    for (const [client, clock] of clocks) if (clock > (known.get(client) ?? 0)) known.set(client, clock)
    byPeer.set(peer, known)
  }

  /**
   * How long to wait for the eager copy of what a digest from `from` names before pulling it. The
   * sender had it before it told us, and the triangle inequality puts our own copy from the origin
   * at about the same time or earlier: only the links' variation (jitter, a relay's detour) can hold
   * it back. So on a measured link the wait is that variation (1 ms + 2 x RTT variance), at most
   * `graftTimeoutMs`: on a 2 ms link a fixed 5 ms wait more than tripled a lost update's delay.
   */
  private graftWait(from: string): Millis {
    const estimator = this.estimators.get(from)
    if (estimator === undefined || estimator.samples < YOUNG_LINK_SAMPLES) return this.settings.graftTimeoutMs
    return Math.min(this.settings.graftTimeoutMs, 1 + 2 * estimator.rttvar)
  }

  /** When the next planned pull falls due, if any. */
  nextGraftDue(): Millis | undefined {
    let next: Millis | undefined
    for (const pull of this.pulls.values()) if (next === undefined || pull.due < next) next = pull.due
    return next
  }

  /** Pulls exactly the ranges digests showed missing that the eager path has not brought by now (Plumtree's graft). */
  graftTick(now: Millis): void {
    for (const [name, pull] of this.pulls) {
      if (pull.due > now) continue
      this.pulls.delete(name)
      const doc = this.host.document(name)
      const ranges = doc === undefined ? [] : missingRanges(doc, pull.wanted)
      if (ranges.length === 0) continue
      const source = this.nearestHolder(name, ranges, pull.peer)
      if (source === undefined) continue
      this.stats.grafts++
      this.host.send(source, { type: 'pull', doc: name, ranges })
      // Under loss the ask or its answer is lost as often as an update: ask again once the
      // answer is overdue rather than wait for another digest to name the gap.
      if (pull.tries + 1 < MAX_GRAFT_TRIES) this.pulls.set(name, { peer: source, due: now + this.answerWait(source), wanted: pull.wanted, tries: pull.tries + 1 })
    }
  }

  /** How long an answer from `peer` may take before it is overdue: its round trip plus four variations (RFC 6298), at least 2 ms. */
  private answerWait(peer: string): Millis {
    const estimator = this.estimators.get(peer)
    const srtt = estimator?.srtt
    return srtt === undefined ? this.settings.graftTimeoutMs * 4 : Math.max(2, srtt + 4 * (estimator?.rttvar ?? 0))
  }

  /** A probe arrived: answer it, and take in the sender's coordinate and measured links. */
  onPing(from: string, frame: PingFrame): void {
    this.latency.coordinate(from, frame.coordinate)
    this.latency.report(from, frame.links, frame.full)
    this.host.send(from, { type: 'pong', nonce: frame.nonce, coordinate: this.coordinate })
  }

  /** A probe's answer arrived: one round-trip sample. */
  onPong(from: string, frame: PongFrame, now: Millis): void {
    // Late or not, the ping arrived: its link report is held there now.
    this.linkReports.answered(from, frame.nonce)
    const late = this.lateProbes.get(from)
    const lateIndex = late === undefined ? -1 : late.findIndex((probe) => probe.nonce === frame.nonce)
    if (late !== undefined && lateIndex !== -1) {
      // Counted lost at its timeout, answered after all: late, not lost. A stalled peer may owe
      // several in a row; each one answered takes its own loss back, and its round trip is a true
      // sample, so a link whose latency spiked looks slow (and the trees move off it) rather than lossy.
      const probe = late[lateIndex] as Outstanding
      late.splice(lateIndex, 1)
      const estimator = this.estimators.get(from)
      estimator?.recovered()
      estimator?.sample(now - probe.sentAt)
      this.stats.pingsLost--
      return
    }
    const superseded = this.supersededProbes.get(from)
    const supersededIndex = superseded === undefined ? -1 : superseded.findIndex((probe) => probe.nonce === frame.nonce)
    let waiting = this.outstanding.get(from)
    if (superseded !== undefined && supersededIndex !== -1) {
      waiting = superseded[supersededIndex] as Outstanding
      superseded.splice(supersededIndex, 1)
    } else if (waiting === undefined || waiting.nonce !== frame.nonce) {
      return
    } else {
      this.outstanding.delete(from)
    }
    const estimator = this.estimators.get(from)
    if (estimator === undefined) return
    const rtt = now - waiting.sentAt
    estimator.sample(rtt)
    this.latency.coordinate(from, frame.coordinate)
    this.coordinate = updateCoordinate(this.coordinate, frame.coordinate, rtt / 2, this.host.random.next())
    this.reportOwnLinks()
  }

  /**
   * The probe timer: count unanswered probes as lost and probe each connection that is due again.
   * Young links (fewer than a few samples) are probed four times as often, without waiting out a
   * lost first probe, so the latency map and the trees settle within a few rounds even under loss.
   * Returns the delay until the next tick.
   */
  pingTick(now: Millis): Millis {
    const interval = this.settings.pingIntervalMs
    const fast = interval / YOUNG_PROBE_SPEEDUP
    let young = false
    for (const peer of this.peers) {
      const estimator = this.estimators.get(peer)
      if (estimator === undefined) continue
      const isYoung = estimator.samples < YOUNG_LINK_SAMPLES
      young ||= isYoung
      const waiting = this.outstanding.get(peer)
      if (waiting !== undefined) {
        if (now - waiting.sentAt < estimator.timeoutMs()) {
          if (!isYoung || now - waiting.sentAt < fast * 0.9) continue
          // Not lost yet, just slow to tell on a link we know little of: ask again, keep listening.
          const superseded = this.supersededProbes.get(peer) ?? []
          superseded.push(waiting)
          if (superseded.length > YOUNG_PROBE_SPEEDUP * YOUNG_LINK_SAMPLES) superseded.shift()
          this.supersededProbes.set(peer, superseded)
        } else {
          estimator.lost()
          this.stats.pingsLost++
          const late = this.lateProbes.get(peer) ?? []
          late.push(waiting)
          if (late.length > MAX_LATE_PROBES) late.shift()
          this.lateProbes.set(peer, late)
        }
      } else if (!isYoung && now - (this.lastProbeAt.get(peer) ?? -Infinity) < interval * 0.8) {
        continue
      }
      this.ping(peer, now)
    }
    this.reportOwnLinks()
    // With no links yet, tick fast too: the first links that come up are young.
    return young || this.peers.size === 0 ? fast : interval
  }

  /**
   * The digest timer: announce to a few peers the clock ranges of updates newly seen (within the
   * last `digestLingerRounds` rounds) that they were not told and are not known to hold, and pull
   * what digests showed missing.
   */
  digestTick(now: Millis): void {
    this.graftTick(now)
    if (this.dirty.size === 0 || this.peers.size === 0) return
    const targets = this.digestTargets()
    for (const [name, rounds] of this.dirty) {
      const doc = this.host.document(name)
      if (doc === undefined || rounds <= 0) {
        this.dirty.delete(name)
        this.ledger.idle(name)
        continue
      }
      this.dirty.set(name, rounds - 1)
      if (this.ledger.beginRound(name, doc).length === 0) continue
      for (const { peer, near } of targets) {
        const ranges = this.ledger.rangesFor(peer, name, this.announced.get(name)?.get(peer), !near)
        if (ranges.length === 0) continue
        this.host.send(peer, { type: 'digest', doc: name, ranges })
        this.stats.digestsSent++
        this.stats.digestRanges += ranges.length
      }
    }
  }

  /** This peer's current first-hop peers for its own updates (tree 0), for tests and metrics. */
  eagerPeers(doc = ''): string[] {
    if (this.settings.kind === 'random') return [...(this.meshes.get(doc) ?? [])]
    return [...(this.treeFor(this.host.self, 0).children.get(this.host.self) ?? [])]
  }

  /** Smoothed RTT to a peer, if measured. */
  rttTo(peer: string): number | undefined {
    return this.estimators.get(peer)?.srtt
  }

  /** The tree an origin's updates travel (tree index 0 unless redundant), as this peer computes it. */
  treeFor(origin: string, tree: number): DisseminationTree {
    if (this.treesVersion !== this.latency.version) {
      this.trees.clear()
      this.treesVersion = this.latency.version
    }
    const key = `${origin}\u0000${tree}`
    let built = this.trees.get(key)
    if (built === undefined) {
      const members = [this.host.self, ...this.peers].sort()
      const latency = (a: string, b: string): number => {
        const base = this.latency.oneWay(a, b)
        return tree === 0 ? base : base * (1 + 0.6 * unitHash(tree, a, b))
      }
      built = buildTree(origin, members, latency, this.settings.d, this.settings.rootFanout)
      this.trees.set(key, built)
      this.stats.treeRebuilds++
      if (origin === this.host.self && tree === 0) {
        const eager = (built.children.get(origin) ?? []).join(',')
        if (eager !== this.lastEagerSet) {
          this.stats.eagerSetChanges++
          this.lastEagerSet = eager
        }
      }
    }
    return built
  }

  private relay(frame: GossipFrame, from: string | undefined): void {
    if (frame.tree === DIRECT_TREE) return
    const targets = this.settings.kind === 'random' ? this.meshOf(frame.doc) : this.childrenIn(frame.origin, frame.tree)
    for (const peer of targets) {
      if (peer === from || peer === frame.origin) continue
      this.host.send(peer, frame)
      this.stats.eagerSent++
    }
  }

  /** The nearest connected peer known to hold every range, else `announcer` (who named at least some of them). */
  private nearestHolder(name: string, ranges: readonly ClockRange[], announcer: string): string | undefined {
    let best: string | undefined
    let bestMs = Infinity
    for (const [peer, holds] of this.announced.get(name) ?? []) {
      if (!this.peers.has(peer) || !holdsRanges(holds, ranges)) continue
      const ms = this.latency.oneWay(this.host.self, peer)
      if (ms < bestMs || (ms === bestMs && best !== undefined && peer < best)) {
        best = peer
        bestMs = ms
      }
    }
    return best ?? (this.peers.has(announcer) ? announcer : undefined)
  }

  /** My children in an origin's tree; a child I cannot reach is skipped and its children adopted. */
  private childrenIn(origin: string, tree: number): string[] {
    const built = this.treeFor(origin, tree)
    const out: string[] = []
    const visit = (member: string, depth: number): void => {
      for (const child of built.children.get(member) ?? []) {
        if (this.peers.has(child)) out.push(child)
        else if (depth < 4) {
          this.stats.childrenAdopted++
          visit(child, depth + 1)
        }
      }
    }
    visit(this.host.self, 0)
    return out
  }

  private meshOf(doc: string): string[] {
    let mesh = (this.meshes.get(doc) ?? []).filter((peer) => this.peers.has(peer))
    if (mesh.length < this.settings.dLow || mesh.length > this.settings.dHigh) {
      const pool = [...this.peers].filter((peer) => !mesh.includes(peer)).sort()
      while (mesh.length < this.settings.d && pool.length > 0) mesh.push(pool.splice(this.host.random.int(0, pool.length - 1), 1)[0] as string)
      if (mesh.length > this.settings.dHigh) mesh = mesh.slice(0, this.settings.d)
      this.stats.eagerSetChanges++
    }
    this.meshes.set(doc, mesh)
    return mesh
  }

  private digestTargets(): Array<{ peer: string; near: boolean }> {
    // Half the digests go to the nearest peers in turn (they share most of our fate and repair
    // fastest: each hears of every update within the window), half to random ones (so a gap
    // anywhere is seen; each update goes to only a few of them, or digests grow with the cluster).
    const byDistance = [...this.peers].sort((a, b) => this.latency.oneWay(this.host.self, a) - this.latency.oneWay(this.host.self, b) || (a < b ? -1 : 1))
    const count = Math.min(this.settings.lazyFanout, byDistance.length)
    const near = Math.ceil(count / 2)
    const window = Math.min(byDistance.length, near * 3)
    const targets = new Map<string, boolean>()
    for (let i = 0; i < near; i++) targets.set(byDistance[(this.digestCursor + i) % window] as string, true)
    this.digestCursor = (this.digestCursor + near) % Math.max(1, window)
    while (targets.size < count) {
      const peer = this.host.random.pick(byDistance)
      if (!targets.has(peer)) targets.set(peer, false)
    }
    return [...targets].map(([peer, isNear]) => ({ peer, near: isNear }))
  }

  /**
   * Trees per update. Adaptive: one while probes show no loss; under loss, up to four trees built
   * on perturbed latencies, so each peer has several independent paths and the first copy to
   * arrive wins (cheaper in delay than repairing: a lost update also holds back every later update
   * that depends on it).
   */
  private treeCount(): number {
    if (this.settings.redundancy !== 'adaptive') return this.settings.redundancy
    // Pooled over every link, weighted by probes: a cluster-wide loss shows within the first few
    // probe rounds, long before each link alone has enough probes to say so.
    let lost = 0
    let probes = 0
    for (const peer of this.peers) {
      const estimator = this.estimators.get(peer)
      if (estimator === undefined) continue
      lost += estimator.lossRate * estimator.probes
      probes += estimator.probes
    }
    const loss = probes < MIN_POOLED_PROBES ? 0 : 1 - Math.sqrt(Math.max(0, 1 - lost / probes))
    const trees = loss <= 0.01 ? 1 : loss <= 0.05 ? 2 : loss <= 0.1 ? 3 : 4
    this.stats.trees = trees
    return trees
  }

  private ping(peer: string, now: Millis): void {
    const nonce = ++this.nonce
    this.outstanding.set(peer, { nonce, sentAt: now })
    this.lastProbeAt.set(peer, now)
    const report = this.linkReports.compose(peer, nonce, this.ownLinks())
    this.host.send(peer, { type: 'ping', nonce, coordinate: this.coordinate, full: report.full, links: report.links })
    this.stats.pingsSent++
  }

  private ownLinks(): { peer: string; oneWayMs: number | null }[] {
    const links: { peer: string; oneWayMs: number | null }[] = []
    for (const [peer, estimator] of this.estimators) {
      const oneWay = estimator.oneWayMs()
      if (!this.peers.has(peer) || (oneWay !== undefined && !estimator.up)) links.push({ peer, oneWayMs: null })
      else if (oneWay !== undefined) links.push({ peer, oneWayMs: oneWay })
    }
    return links
  }

  private reportOwnLinks(): void {
    this.latency.report(this.host.self, this.ownLinks())
  }

  private remember(frame: GossipFrame): boolean {
    return this.seen.remember(frame.origin, frame.seq, this.settings.kind === 'random' ? 0 : frame.tree)
  }

  /** A document changed (by `update`, whose start clocks `before` gives): announce it for the next rounds. */
  private touch(name: string, before: () => ReadonlyMap<number, number>): void {
    const doc = this.host.document(name)
    if (doc !== undefined) this.ledger.changed(name, doc, before)
    this.dirty.set(name, this.settings.digestLingerRounds)
  }
}
