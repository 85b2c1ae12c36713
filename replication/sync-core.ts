import * as Y from 'yjs'
import type { ClockRange, DigestFrame, GossipFrame, Millis, PingFrame, PongFrame, PullFrame, Random, SyncFrame, WireMessage } from '../core/index.js'
import { InvalidUpdateError, RealmsyncError, validateUpdate } from '../core/index.js'
import {
  encodeRangeAnswer,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  parseStateVector,
  parseSyncMessage,
} from './sync-message.js'
import { GossipRouter, type AppliedUpdate, type RouterStats } from './gossip-router.js'
import type { RouterSettings } from './router-settings.js'
import { PriorityLanes, type LaneSettings, type LaneStats } from './priority-lanes.js'

/** The transaction origin of an update applied from the network: which peer it came from. */
export class RemoteOrigin {
  constructor(readonly peer: string) {}
}

/** Settings of the sync core. */
export interface SyncCoreOptions {
  /** This peer's id. */
  readonly self: string
  /** Seeded random source: picks anti-entropy partners and jitters the interval. */
  readonly random: Random
  /** Mean interval between anti-entropy rounds. Default 1000 ms. */
  readonly antiEntropyIntervalMs?: Millis
  /** Largest update accepted inside one sync message. */
  readonly maxUpdateBytes: number
  /** Decides whether a frame for a document this peer does not hold opens it. Default: never. */
  readonly acceptDocument?: (doc: string, from: string) => boolean
  /** How new updates spread. Default: flooding to every connection (`random` and `latency` use the gossip router). */
  readonly router?: RouterSettings
  /** Priority lanes for local updates (needs `now`). Without them every local update leaves at once. */
  readonly lanes?: LaneSettings
  /** The injected clock's time, read when a local update is queued in a lane or published. */
  readonly now?: () => Millis
  /** Hears the propagation delay of every routed update's first arrival (origin clock to ours). */
  readonly onDelivered?: (doc: string, origin: string, delayMs: Millis) => void
}

/** The timers the sync core asks for. */
export type SyncTimer = 'antiEntropy' | 'ping' | 'digest' | 'lanes' | 'graft'

/** Router messages the sync core takes from its driver. */
export type RouterMessage = GossipFrame | DigestFrame | PullFrame | PingFrame | PongFrame

/** What the sync core is told. */
export type SyncEvent =
  | { readonly type: 'start' }
  | { readonly type: 'peerUp'; readonly peer: string }
  | { readonly type: 'peerDown'; readonly peer: string }
  | { readonly type: 'frame'; readonly from: string; readonly frame: SyncFrame }
  | { readonly type: 'message'; readonly from: string; readonly message: RouterMessage }
  | { readonly type: 'timer'; readonly timer: SyncTimer }

/** What the sync core asks its driver to do. */
export type SyncCommand =
  | { readonly type: 'send'; readonly to: string; readonly frame: WireMessage }
  | { readonly type: 'setTimer'; readonly timer: SyncTimer; readonly at: Millis }
  | { readonly type: 'openDocument'; readonly doc: string; readonly from: string }
  | { readonly type: 'rejected'; readonly from: string; readonly error: RealmsyncError }

/** Counters of the sync core, for metrics and tests. */
export interface SyncStats {
  updatesApplied: number
  duplicateUpdates: number
  pendingUpdates: number
  /** Updates held back because an earlier update of one of their writers had not arrived (applied once it did). */
  heldUpdates: number
  invalidUpdates: number
  unknownDocumentFrames: number
  updatesForwarded: number
  antiEntropyRounds: number
  step2Sent: number
}

/** A remote update held back until what it builds on has arrived. */
interface HeldUpdate {
  readonly from: string
  readonly update: Uint8Array
  readonly needs: ReadonlyMap<number, number>
}

/** What applying an empty update (or one for a closed document) tells the router. */
const NOTHING_APPLIED: AppliedUpdate = { waiting: false, from: new Map(), to: new Map() }

/** Most updates held back per document; a gap that long is left to Yjs's own pending queue. */
const MAX_HELD_UPDATES = 1024

/** Whether every clock an update needs is already in the replica (so all of it integrates now). */
const integrable = (doc: Y.Doc, needs: ReadonlyMap<number, number>): boolean => {
  for (const [client, clock] of needs) if (Y.getState(doc.store, client) < clock) return false
  return true
}

/**
 * Whether an update just applied deletes structs the replica has not seen (Yjs keeps such deletions
 * pending): the router then pulls exactly those ranges instead of waiting for a digest. Only the
 * update that brings the deletion says so, so a deletion of something that never arrives costs
 * one pull, not one per later update.
 */
const deletesUnseen = (doc: Y.Doc, deletes: ReadonlyMap<number, number>): boolean => {
  if (doc.store.pendingDs === null) return false
  for (const [client, end] of deletes) if (Y.getState(doc.store, client) < end) return true
  return false
}

interface DocState {
  readonly doc: Y.Doc
  readonly detach: () => void
}

const EMPTY_UPDATE_LENGTH = 2

/**
 * The sans-IO core of document replication: y-protocols sync (step 1, step 2, updates) per
 * connected peer and document, flooding of new updates to every other connection, and periodic
 * anti-entropy by state vector. It owns no sockets and no timers: `handle` takes an event and
 * returns commands; local document changes queue commands that `takeCommands` hands out.
 */
export class SyncCore {
  private readonly docs = new Map<string, DocState>()
  private readonly peers = new Set<string>()
  private outbox: SyncCommand[] = []
  private appliedInThisCall = false
  private readonly intervalMs: Millis
  /** The gossip router, unless this core floods. */
  readonly router: GossipRouter | undefined
  /** Priority lanes for local updates, if configured. */
  readonly lanes: PriorityLanes | undefined
  private lanesTimerAt: Millis | undefined
  private graftTimerAt: Millis | undefined
  /** Counters, mutated in place. */
  readonly stats: SyncStats = {
    updatesApplied: 0,
    duplicateUpdates: 0,
    pendingUpdates: 0,
    heldUpdates: 0,
    invalidUpdates: 0,
    unknownDocumentFrames: 0,
    updatesForwarded: 0,
    antiEntropyRounds: 0,
    step2Sent: 0,
  }

  /** Per document: remote updates waiting for earlier updates of their writers (see `apply`). */
  private readonly held = new Map<string, HeldUpdate[]>()

  constructor(private readonly options: SyncCoreOptions) {
    this.intervalMs = options.antiEntropyIntervalMs ?? 1000
    const settings = options.router
    this.router =
      settings === undefined || settings.kind === 'flood'
        ? undefined
        : new GossipRouter(settings, {
            self: options.self,
            random: options.random,
            send: (to, message) => this.outbox.push({ type: 'send', to, frame: message }),
            document: (name) => this.docs.get(name)?.doc,
            apply: (from, name, update) => {
              const state = this.docs.get(name)
              return state === undefined ? NOTHING_APPLIED : this.apply(from, name, state.doc, update)
            },
            heldRanges: (name) => this.heldRanges(name),
            pull: (peer, name) => {
              const state = this.docs.get(name)
              if (state !== undefined) this.outbox.push(this.sync(peer, name, encodeSyncStep1(state.doc)))
            },
            delivered: (doc, origin, delayMs) => this.options.onDelivered?.(doc, origin, delayMs),
          })
    if (options.lanes !== undefined && options.now === undefined) throw new RangeError('priority lanes need the clock: pass `now`')
    this.lanes = options.lanes === undefined ? undefined : new PriorityLanes(options.lanes, (doc, update) => this.sendLocal(doc, update))
  }

  /** The priority lanes' counters, if lanes are configured. */
  laneStats(): LaneStats | undefined {
    return this.lanes?.stats
  }

  /** The gossip router's counters, if this core routes by gossip. */
  routerStats(): RouterStats | undefined {
    return this.router?.stats
  }

  /** Starts replicating `doc` under `name`; connected peers get sync step 1 at once. */
  openDocument(name: string, doc: Y.Doc): SyncCommand[] {
    if (this.docs.has(name)) return []
    const onUpdate = (update: Uint8Array, origin: unknown): void => this.forward(name, update, origin)
    doc.on('update', onUpdate)
    this.docs.set(name, { doc, detach: () => doc.off('update', onUpdate) })
    const step1 = encodeSyncStep1(doc)
    for (const peer of this.peers) this.outbox.push(this.sync(peer, name, step1))
    return this.takeCommands()
  }

  /** Stops replicating a document (the Y.Doc itself is left alone). */
  closeDocument(name: string): void {
    this.docs.get(name)?.detach()
    this.docs.delete(name)
    this.held.delete(name)
    this.router?.forgetDocument(name)
  }

  /** The document replicated under `name`, if any. */
  document(name: string): Y.Doc | undefined {
    return this.docs.get(name)?.doc
  }

  /** Names of every replicated document. */
  documentNames(): string[] {
    return [...this.docs.keys()]
  }

  /** Peers currently connected. */
  connectedPeers(): string[] {
    return [...this.peers]
  }

  /** Hands out commands queued by local document changes since the last call. */
  takeCommands(): SyncCommand[] {
    const commands = this.outbox
    this.outbox = []
    return commands
  }

  /** Feeds one event; returns what to do. Never throws for bad peer input: it returns `rejected`. */
  handle(event: SyncEvent, now: Millis): SyncCommand[] {
    switch (event.type) {
      case 'start':
        this.outbox.push({ type: 'setTimer', timer: 'antiEntropy', at: now + this.nextInterval() })
        if (this.router !== undefined && this.options.router !== undefined) {
          this.outbox.push({ type: 'setTimer', timer: 'ping', at: now + this.options.router.pingIntervalMs / 4 })
          this.outbox.push({ type: 'setTimer', timer: 'digest', at: now + this.options.router.digestIntervalMs })
        }
        break
      case 'peerUp':
        this.peers.add(event.peer)
        for (const [name, state] of this.docs) this.outbox.push(this.sync(event.peer, name, encodeSyncStep1(state.doc)))
        this.router?.peerUp(event.peer, now)
        break
      case 'peerDown':
        this.peers.delete(event.peer)
        this.router?.peerDown(event.peer)
        break
      case 'frame':
        this.receive(event.from, event.frame)
        break
      case 'message':
        this.receiveRouted(event.from, event.message, now)
        break
      case 'timer':
        this.onTimer(event.timer, now)
        break
    }
    return this.takeCommands()
  }

  /** Detaches from every document. */
  destroy(): void {
    this.lanes?.clear()
    for (const state of this.docs.values()) state.detach()
    this.docs.clear()
    this.peers.clear()
    this.outbox = []
  }

  private sync(to: string, doc: string, payload: Uint8Array): SyncCommand {
    return { type: 'send', to, frame: { type: 'sync', doc, payload } }
  }

  private nextInterval(): Millis {
    // Jitter keeps peers from running their rounds in lockstep.
    return this.intervalMs * (0.5 + this.options.random.next())
  }

  private onTimer(timer: SyncTimer, now: Millis): void {
    const router = this.router
    const settings = this.options.router
    if (timer === 'lanes') {
      this.lanesTimerAt = undefined
      this.lanes?.flush(now)
      this.armLanes()
    } else if (timer === 'graft') {
      this.graftTimerAt = undefined
      router?.graftTick(now)
      this.armGraft()
    } else if (timer === 'antiEntropy' || router === undefined || settings === undefined) {
      this.antiEntropyRound(now)
    } else if (timer === 'ping') {
      const delay = router.pingTick(now)
      this.outbox.push({ type: 'setTimer', timer: 'ping', at: now + delay * (0.9 + 0.2 * this.options.random.next()) })
    } else {
      router.digestTick(now)
      this.outbox.push({ type: 'setTimer', timer: 'digest', at: now + settings.digestIntervalMs })
    }
  }

  private receiveRouted(from: string, message: RouterMessage, now: Millis): void {
    const router = this.router
    if (router === undefined || !this.peers.has(from)) return
    try {
      switch (message.type) {
        case 'gossip':
          if (!this.docs.has(message.doc)) this.stats.unknownDocumentFrames++
          else router.onGossip(from, message, now)
          break
        case 'digest':
          router.onDigest(from, message, now)
          // A pull waits only as long as the eager copy could still come: its own timer, not the next digest round.
          this.armGraft()
          break
        case 'pull':
          this.answerPull(from, message)
          break
        case 'ping':
          router.onPing(from, message)
          break
        case 'pong':
          router.onPong(from, message, now)
          break
      }
    } catch (error) {
      if (!(error instanceof RealmsyncError)) throw error
      this.stats.invalidUpdates++
      this.outbox.push({ type: 'rejected', from, error })
    }
  }

  private forward(name: string, update: Uint8Array, origin: unknown): void {
    this.appliedInThisCall = true
    if (!(origin instanceof RemoteOrigin)) {
      if (this.lanes !== undefined && this.options.now !== undefined) {
        this.lanes.push(name, update, origin, this.options.now())
        this.armLanes()
      } else {
        this.sendLocal(name, update)
      }
      return
    }
    // Routed: relays happen in onGossip, and what anti-entropy or a pull brought in is repaired by
    // digests and anti-entropy; flooding passes every remote update on.
    if (this.router === undefined) this.flood(name, update, origin.peer)
  }

  private armGraft(): void {
    const due = this.router?.nextGraftDue()
    if (due === undefined || (this.graftTimerAt !== undefined && this.graftTimerAt <= due)) return
    this.graftTimerAt = due
    this.outbox.push({ type: 'setTimer', timer: 'graft', at: due })
  }

  private armLanes(): void {
    const due = this.lanes?.nextDue()
    if (due === undefined || (this.lanesTimerAt !== undefined && this.lanesTimerAt <= due)) return
    this.lanesTimerAt = due
    this.outbox.push({ type: 'setTimer', timer: 'lanes', at: due })
  }

  private sendLocal(name: string, update: Uint8Array): void {
    if (this.router !== undefined) this.router.publish(name, update, this.options.now?.() ?? 0)
    else this.flood(name, update, undefined)
  }

  private flood(name: string, update: Uint8Array, from: string | undefined): void {
    let payload: Uint8Array | undefined
    for (const peer of this.peers) {
      if (peer === from) continue
      payload ??= encodeSyncUpdate(update)
      this.outbox.push(this.sync(peer, name, payload))
      this.stats.updatesForwarded++
    }
  }

  private receive(from: string, frame: SyncFrame): void {
    let state = this.docs.get(frame.doc)
    if (!state) {
      if (!this.options.acceptDocument?.(frame.doc, from)) {
        this.stats.unknownDocumentFrames++
        return
      }
      // The driver opens the document (it owns Y.Doc creation) and feeds the frame again.
      this.outbox.push({ type: 'openDocument', doc: frame.doc, from })
      return
    }
    try {
      const message = parseSyncMessage(frame.payload, this.options.maxUpdateBytes)
      if (message.kind === 'step1') {
        this.answerStep1(from, frame.doc, state.doc, message.stateVector)
      } else {
        this.apply(from, frame.doc, state.doc, message.update)
      }
    } catch (error) {
      if (!(error instanceof RealmsyncError)) throw error
      this.stats.invalidUpdates++
      this.outbox.push({ type: 'rejected', from, error })
    }
  }

  private answerStep1(from: string, name: string, doc: Y.Doc, stateVector: Uint8Array): void {
    const remote = parseStateVector(stateVector)
    const step2 = encodeSyncStep2(doc, stateVector)
    // Skip empty answers: anti-entropy between synced peers should cost one small frame each way.
    if (step2.length > EMPTY_UPDATE_LENGTH + 1) {
      this.outbox.push(this.sync(from, name, step2))
      this.stats.step2Sent++
    }
    // Push-pull: if the asker has something we lack, ask back, so one round repairs both sides.
    for (const [client, clock] of remote) {
      if (clock > Y.getState(doc.store, client)) {
        this.outbox.push(this.sync(from, name, encodeSyncStep1(doc)))
        break
      }
    }
  }

  /** Answers a pull with exactly the asked ranges (and later updates of their clients), as sync step 2. */
  private answerPull(from: string, pull: PullFrame): void {
    const state = this.docs.get(pull.doc)
    if (state === undefined) {
      this.stats.unknownDocumentFrames++
      return
    }
    const step2 = encodeRangeAnswer(state.doc, pull.ranges)
    if (step2 === undefined) return
    this.outbox.push(this.sync(from, pull.doc, step2))
    this.stats.step2Sent++
  }

  /**
   * Applies a remote update; says whether the replica now waits on missing updates (a gap to pull),
   * with the clocks the update carries (from its validating decode, for the router). An
   * update whose writer's earlier updates have not all arrived is held back whole until they have:
   * Yjs would apply its deletes at once and park its inserts, so a move (delete the old holder, write
   * the new one) would show an item held by nobody until the lost update was repaired.
   */
  private apply(from: string, name: string, doc: Y.Doc, update: Uint8Array): AppliedUpdate {
    if (update.length <= EMPTY_UPDATE_LENGTH && update.every((byte) => byte === 0)) return NOTHING_APPLIED
    const clocks = validateUpdate(name, update)
    if (!integrable(doc, clocks.needs)) {
      this.hold(name, doc, { from, update, needs: clocks.needs })
      return { waiting: true, from: clocks.from, to: clocks.to }
    }
    this.integrate(from, name, doc, update)
    this.release(name, doc)
    const waiting = doc.store.pendingStructs !== null || this.held.has(name) || deletesUnseen(doc, clocks.deletes)
    return { waiting, from: clocks.from, to: clocks.to }
  }

  private integrate(from: string, name: string, doc: Y.Doc, update: Uint8Array): void {
    this.appliedInThisCall = false
    try {
      Y.applyUpdate(doc, update, new RemoteOrigin(from))
    } catch (error) {
      throw new InvalidUpdateError(name, error instanceof Error ? error.message : 'apply failed')
    }
    if (this.appliedInThisCall) this.stats.updatesApplied++
    else if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null) this.stats.pendingUpdates++
    else this.stats.duplicateUpdates++
  }

  private hold(name: string, doc: Y.Doc, update: HeldUpdate): void {
    let held = this.held.get(name)
    if (held === undefined) this.held.set(name, (held = []))
    held.push(update)
    this.stats.heldUpdates++
    // Bounded: past the limit the oldest goes to Yjs, which parks what it cannot integrate yet.
    if (held.length > MAX_HELD_UPDATES) {
      const oldest = held.shift() as HeldUpdate
      this.integrate(oldest.from, name, doc, oldest.update)
      this.release(name, doc)
    }
  }

  /** What the updates held back for a document wait for, per writer: from this replica's clock to the clock they need. */
  private heldRanges(name: string): ClockRange[] {
    const held = this.held.get(name)
    const doc = this.docs.get(name)?.doc
    if (held === undefined || doc === undefined) return []
    const need = new Map<number, number>()
    for (const update of held) for (const [client, clock] of update.needs) if (clock > (need.get(client) ?? 0)) need.set(client, clock)
    const ranges: ClockRange[] = []
    for (const [client, to] of need) {
      const from = Y.getState(doc.store, client)
      if (to > from) ranges.push({ client, from, to })
    }
    return ranges
  }

  /** Applies every held update that can now integrate, until none can. */
  private release(name: string, doc: Y.Doc): void {
    const held = this.held.get(name)
    if (held === undefined) return
    let progress = true
    while (progress && held.length > 0) {
      progress = false
      for (let i = 0; i < held.length; i++) {
        const next = held[i] as HeldUpdate
        if (!integrable(doc, next.needs)) continue
        held.splice(i, 1)
        // Already validated when it arrived; a failure now is the same as then (dropped, counted).
        try {
          this.integrate(next.from, name, doc, next.update)
        } catch (error) {
          if (!(error instanceof RealmsyncError)) throw error
          this.stats.invalidUpdates++
        }
        progress = true
        break
      }
    }
    if (held.length === 0) this.held.delete(name)
  }

  private antiEntropyRound(now: Millis): void {
    this.stats.antiEntropyRounds++
    const peers = [...this.peers]
    if (peers.length > 0) {
      for (const [name, state] of this.docs) {
        const partner = this.options.random.pick(peers)
        this.outbox.push(this.sync(partner, name, encodeSyncStep1(state.doc)))
      }
    }
    this.outbox.push({ type: 'setTimer', timer: 'antiEntropy', at: now + this.nextInterval() })
  }
}
