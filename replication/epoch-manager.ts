import * as Y from 'yjs'
import { carryAcrossCut, contentHash, rebuildContent, RealmsyncError, type CutCarry, type Millis, type Random } from '../core/index.js'
import {
  compareChains,
  decodeEpochMessage,
  encodeEpochMessage,
  epochWireName,
  GENESIS_EPOCH,
  MAX_CHAIN_LINKS,
  parseEpochWireName,
  sameEpoch,
  type EpochId,
  type EpochLink,
} from './epoch-chain.js'
import { EpochBaseMismatchError, StaleEpochError } from './errors.js'
import type { EpochSettings } from './epoch-settings.js'
import { OwnWriteLog, replayWrite, type OwnWrite } from './epoch-writes.js'
import { parseStateVector } from './sync-message.js'

/** The application channel epoch announcements travel on. */
export const EPOCH_CHANNEL = 'realmsync/epochs'

/** Transaction origin of a new epoch's base content. */
export const EPOCH_BASE_ORIGIN = 'epoch-base'

/** Transaction origin of this peer's writes carried into a new epoch. */
export const EPOCH_CARRY_ORIGIN = 'epoch-carry'

/** What a document's move to a new epoch looks like to listeners (the gateway rebinds its clients here). */
export interface EpochSwitch {
  readonly doc: string
  readonly epoch: EpochId
  readonly previous: EpochId
  /** The new epoch's replica: read and write this one from now on. */
  readonly ydoc: Y.Doc
  /** The replica left behind; writes made on it still reach the new epoch (carried at once), but it no longer syncs. */
  readonly previousDoc: Y.Doc
  /** Own writes carried into the new epoch (made past the cut, or on an abandoned fork). */
  readonly carried: number
  /** Whether this peer decided the cut. */
  readonly cutHere: boolean
  /**
   * Which structs of the epoch left behind the new base holds: the coordinator's state vector at
   * the cut (its own, where this peer cut; elsewhere from the announcement, the cut of the last
   * epoch both chains share, which is the epoch left unless this peer leaves a losing fork). A
   * write with id (client, clock) is in the base iff `clock < cut[client]`. Undefined when this
   * peer was too far behind to tell (the chains share no link).
   */
  readonly cut: Uint8Array | undefined
}

/** Counters of epoch handling. */
export interface EpochStats {
  cuts: number
  switches: number
  /** Frames of an epoch a document has left, refused (the sender is told the current epoch). */
  staleFrames: number
  carriedWrites: number
  /** Writes made on a replica the document had already left, carried into the current epoch. */
  retiredReplicaWrites: number
  /** Announcements refused because the base did not match its hash or was not canonical. */
  basesRefused: number
  announcementsSent: number
  /** Documents whose content a rebuild cannot carry (XML, formatted text): they are never cut. */
  uncuttableDocuments: number
}

/** What the epoch manager needs from the peer that drives it. */
export interface EpochHost {
  readonly self: string
  readonly random: Random
  readonly maxBytes: number
  now(): Millis
  connectedPeers(): readonly string[]
  /** Sends an epoch channel payload. */
  send(to: string, payload: Uint8Array): void
  /**
   * Starts replicating `doc` under the wire name `wire`; `base` is the update it was opened from
   * (stored first, with `chain`, so a stored epoch is self-contained and a restart reopens it).
   */
  attach(wire: string, doc: Y.Doc, base: Uint8Array, chain: readonly EpochLink[]): void
  /** Stops replicating the wire name. */
  detach(wire: string): void
  /** Whether a document this peer does not hold may be opened for `from`. */
  accept(doc: string, from: string): boolean
  /** Opens a document at epoch 0 (it registers itself back). */
  open(doc: string): void
  /** Hears a refusal (stale frame, bad base), for logs; it is not malformed input. */
  refused(from: string, error: RealmsyncError): void
  /** Hears every switch. */
  switched(event: EpochSwitch): void
}

interface EpochDoc {
  readonly name: string
  chain: EpochLink[]
  base: Uint8Array
  doc: Y.Doc
  wire: string
  startedAt: Millis
  contentBytes: number
  /** Encoded size estimate: last measured size plus the bytes of every update since (merging only shrinks it). */
  estimatedBytes: number
  dirty: boolean
  /** Whether anything changed since the epoch began (an idle document is never cut for its age). */
  changed: boolean
  uncuttable: boolean
  readonly log: OwnWriteLog
  readonly lastAnnounce: Map<string, Millis>
  /** Connected peers seen replicating this document (any epoch): the candidates for coordinator. */
  readonly holders: Set<string>
}

/** Whether a move carries an own write: yes, no, or (a delete that may already be in the base) only if the key is unchanged. */
type CarryMode = CutCarry

const tipOf = (chain: readonly EpochLink[]): EpochId => (chain[chain.length - 1] as EpochLink).id

/**
 * Document epochs on one peer (docs/epochs.md). The coordinator (the lowest id among this peer and
 * those it is connected to) cuts a document whose encoded size passed its bound: it rebuilds the
 * content canonically, switches at once and announces the cut (the chain, the parent's state vector
 * at the cut, and the base). Every other peer checks the base against its hash, switches, and carries
 * its own writes that the cut missed into the new epoch; writes never stall. Each epoch replicates
 * under its own wire name, so updates of different epochs never mix; a frame of an older epoch is
 * refused with `StaleEpochError` and its sender told the current epoch.
 */
export class EpochManager {
  private readonly docs = new Map<string, EpochDoc>()
  /** When each peer's link last went down (cleared when it is heard again): see `coordinatorGraceMs`. */
  private readonly downSince = new Map<string, Millis>()
  /** Counters, mutated in place. */
  readonly stats: EpochStats = {
    cuts: 0,
    switches: 0,
    staleFrames: 0,
    carriedWrites: 0,
    retiredReplicaWrites: 0,
    basesRefused: 0,
    announcementsSent: 0,
    uncuttableDocuments: 0,
  }

  constructor(
    private readonly settings: EpochSettings,
    private readonly host: EpochHost,
  ) {}

  /** Takes a newly opened document (epoch 0, replicated under its own name) under epoch management. */
  register(name: string, doc: Y.Doc): void {
    if (this.docs.has(name)) return
    const state: EpochDoc = {
      name,
      chain: [GENESIS_EPOCH],
      base: Y.encodeStateAsUpdate(new Y.Doc()),
      doc,
      wire: name,
      startedAt: this.host.now(),
      contentBytes: 0,
      estimatedBytes: Y.encodeStateAsUpdate(doc).length,
      dirty: true,
      changed: true,
      uncuttable: false,
      log: new OwnWriteLog(),
      lastAnnounce: new Map(),
      holders: new Set(),
    }
    this.docs.set(name, state)
    this.watch(state, doc, GENESIS_EPOCH.id)
  }

  /**
   * Takes a document reopened from storage at a later epoch under management: `doc` holds the
   * epoch's stored log (base first), `chain` and `base` the stored switch record. The peer can then
   * tell a stale neighbour the current epoch as if it had just switched. Throws
   * `EpochBaseMismatchError` when the record does not hold together (the base is not the tip's).
   */
  restore(name: string, doc: Y.Doc, chain: readonly EpochLink[], base: Uint8Array): void {
    if (this.docs.has(name)) return
    const tip = chain[chain.length - 1]
    if (tip === undefined || tip.id.n === 0) throw new EpochBaseMismatchError(name, 0, this.host.self, 'stored chain ends at epoch 0')
    if (contentHash(base) !== tip.id.hash) throw new EpochBaseMismatchError(name, tip.id.n, this.host.self, 'stored base does not match its hash')
    const estimatedBytes = Y.encodeStateAsUpdate(doc).length
    const state: EpochDoc = {
      name,
      chain: chain.slice(-MAX_CHAIN_LINKS),
      base,
      doc,
      wire: epochWireName(name, tip.id),
      startedAt: this.host.now(),
      contentBytes: base.length,
      estimatedBytes,
      dirty: true,
      changed: estimatedBytes > base.length,
      uncuttable: false,
      log: new OwnWriteLog(),
      lastAnnounce: new Map(),
      holders: new Set(),
    }
    this.docs.set(name, state)
    this.watch(state, doc, tip.id)
  }

  /** What this peer tells a peer on an older epoch of a document: its chain (oldest first) and the current base. */
  announcement(name: string): { readonly chain: readonly EpochLink[]; readonly base: Uint8Array } | undefined {
    const state = this.docs.get(name)
    return state === undefined ? undefined : { chain: state.chain, base: state.base }
  }

  /** The current replica of a document. */
  current(name: string): Y.Doc | undefined {
    return this.docs.get(name)?.doc
  }

  /** The current epoch of a document. */
  epochOf(name: string): EpochId | undefined {
    const state = this.docs.get(name)
    return state === undefined ? undefined : tipOf(state.chain)
  }

  /** The wire name the current epoch replicates under. */
  wireName(name: string): string | undefined {
    return this.docs.get(name)?.wire
  }

  /** Names of every managed document. */
  names(): string[] {
    return [...this.docs.keys()]
  }

  /**
   * Looks at a sync, gossip or digest frame's document name before the sync core does: `pass` for
   * the current epoch (or a document that is no epoch matter), `hold` for a later epoch this peer
   * is about to learn (it asked the sender; the driver keeps the frame and feeds it once the
   * epoch is open, so a relay does not cut its subtree off), `refused` for an epoch it has left.
   */
  route(from: string, wire: string): 'pass' | 'hold' | 'refused' {
    const parsed = parseEpochWireName(wire)
    const state = this.docs.get(parsed.doc)
    if (state === undefined) {
      if (parsed.n === 0 || !this.host.accept(parsed.doc, from)) return 'pass'
      this.host.open(parsed.doc)
      this.sendWant(from, parsed.doc)
      return 'hold'
    }
    this.heard(state, from)
    if (wire === state.wire) return 'pass'
    const current = tipOf(state.chain)
    if (parsed.n > current.n) {
      this.sendWant(from, state.name)
      return 'hold'
    }
    this.stats.staleFrames++
    this.host.refused(from, new StaleEpochError(state.name, parsed.n, current.n, from))
    this.announce(state, from, false)
    return 'refused'
  }

  /** Handles a payload from the epoch channel; throws `MalformedFrameError` on bytes it cannot read. */
  receive(from: string, payload: Uint8Array): void {
    const message = decodeEpochMessage(payload, this.host.maxBytes)
    let state = this.docs.get(message.doc)
    if (state === undefined) {
      if (!this.host.accept(message.doc, from)) return
      this.host.open(message.doc)
      state = this.docs.get(message.doc)
      if (state === undefined) return
    }
    this.heard(state, from)
    if (message.kind === 'want') {
      this.announce(state, from, true)
      return
    }
    const verdict = compareChains(state.chain, message.chain)
    if (verdict.kind === 'same') return
    if (verdict.kind === 'ours') {
      this.announce(state, from, false)
      return
    }
    const tip = tipOf(message.chain)
    const problem = this.checkBase(message.base, tip)
    if (problem !== undefined) {
      this.stats.basesRefused++
      this.host.refused(from, new EpochBaseMismatchError(state.name, tip.n, from, problem))
      return
    }
    const previous = tipOf(state.chain)
    this.switchTo(state, [...message.chain], message.base, this.carryRule(verdict.fork, verdict.cut, previous), false, from, verdict.fork === undefined ? undefined : verdict.cut)
  }

  /** Tells a newly connected peer the current epoch of every document past epoch 0. */
  peerUp(peer: string): void {
    for (const state of this.docs.values()) if (tipOf(state.chain).n > 0) this.announce(state, peer, true)
  }

  /** A connection went down: that peer no longer counts as a holder (it may be the coordinator no more). */
  peerDown(peer: string): void {
    // Kept as a holder for `coordinatorGraceMs`: a flapping link must not make a second coordinator.
    this.downSince.set(peer, this.host.now())
  }

  private heard(state: EpochDoc, from: string): void {
    state.holders.add(from)
    this.downSince.delete(from)
  }

  /** Whether `peer`, a holder of `state` with a lower id than this peer, keeps this peer from cutting. */
  private outranks(state: EpochDoc, peer: string, now: Millis): boolean {
    const down = this.downSince.get(peer)
    if (down === undefined || now - down < this.settings.coordinatorGraceMs) return true
    state.holders.delete(peer)
    return false
  }

  /**
   * The periodic check: cuts every document past its bound for which this peer is the coordinator
   * (the lowest id among itself and the connected peers that replicate the document). Returns the
   * documents cut.
   */
  checkBounds(): string[] {
    const self = this.host.self
    const cut: string[] = []
    const now = this.host.now()
    for (const state of this.docs.values()) {
      if ([...state.holders].some((peer) => peer < self && this.outranks(state, peer, now))) continue
      const aged = state.changed && this.settings.maxAgeMs !== undefined && now - state.startedAt >= this.settings.maxAgeMs
      if ((!state.dirty && !aged) || state.uncuttable) continue
      state.dirty = false
      // Encoding a document costs as much as its size: measure only when the cheap estimate says it may be past the bound.
      const limit = Math.max(this.settings.minBytes, this.settings.maxSizeRatio * state.contentBytes)
      if (!aged && state.estimatedBytes <= limit) continue
      const encoded = Y.encodeStateAsUpdate(state.doc).length
      state.estimatedBytes = encoded
      if (encoded < this.settings.minBytes) continue
      if (!aged && encoded <= this.settings.maxSizeRatio * state.contentBytes) continue
      if (this.cut(state.name, aged ? 0 : encoded)) cut.push(state.name)
    }
    return cut
  }

  /**
   * Cuts a document now (this peer acts as coordinator), if its encoded size `encoded` is past the
   * bound relative to its rebuilt content (0 forces the cut). Returns whether it cut.
   */
  cut(name: string, encoded = 0): boolean {
    const state = this.docs.get(name)
    if (state === undefined || state.uncuttable) return false
    let rebuilt
    try {
      rebuilt = rebuildContent(state.doc)
    } catch (error) {
      if (!(error instanceof RealmsyncError)) throw error
      state.uncuttable = true
      this.stats.uncuttableDocuments++
      this.host.refused(this.host.self, error)
      return false
    }
    state.contentBytes = rebuilt.update.length
    if (encoded > 0 && encoded <= this.settings.maxSizeRatio * rebuilt.update.length) return false
    const previous = tipOf(state.chain)
    const link: EpochLink = { id: { n: previous.n + 1, coordinator: this.host.self, hash: rebuilt.hash }, cut: Y.encodeStateVector(state.doc) }
    this.stats.cuts++
    this.switchTo(state, [...state.chain, link], rebuilt.update, this.carryRule(previous, link.cut, previous), true, undefined, link.cut)
    return true
  }

  /** Detaches every replica listener. */
  destroy(): void {
    this.docs.clear()
  }

  /**
   * Which own writes a move to a new epoch carries: in the shared (fork) epoch, those past the cut;
   * in later epochs of ours, all (that branch lost). A transaction of deletes only creates no
   * struct, so its clock is its author's previous one: it is past the cut if that clock is, or if
   * the value it deleted is; otherwise the base may or may not hold it, and it is carried to
   * delete only if the key still holds the value it removed.
   */
  private carryRule(fork: EpochId | undefined, cut: Uint8Array | undefined, previous: EpochId): (write: OwnWrite) => CarryMode {
    if (fork === undefined || cut === undefined) {
      // Too far behind to find the fork: carry what this replica wrote in the epoch it is leaving.
      return (write) => (sameEpoch(write.epoch, previous) ? 'yes' : 'no')
    }
    const clocks = parseStateVector(cut)
    return (write) => {
      if (write.epoch.n < fork.n) return 'no'
      if (!sameEpoch(write.epoch, fork)) return 'yes'
      return carryAcrossCut(clocks, { client: write.client, clock: write.clock, pure: write.pure, deletedId: write.value.t === 'deleted' ? write.value.wasId : undefined })
    }
  }

  private checkBase(base: Uint8Array, tip: EpochId): string | undefined {
    if (contentHash(base) !== tip.hash) return 'base does not match its hash'
    const check = new Y.Doc({ gc: true })
    try {
      Y.applyUpdate(check, base)
      if (check.store.pendingStructs !== null || check.store.pendingDs !== null) return 'base is not self-contained'
      const again = rebuildContent(check).update
      if (again.length !== base.length || again.some((byte, i) => byte !== base[i])) return 'base is not the canonical rebuild of its content'
    } catch (error) {
      return `base unreadable: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      check.destroy()
    }
    return undefined
  }

  private switchTo(
    state: EpochDoc,
    chain: EpochLink[],
    base: Uint8Array,
    carry: (write: OwnWrite) => CarryMode,
    cutHere: boolean,
    from: string | undefined,
    cut: Uint8Array | undefined,
  ): void {
    const previous = tipOf(state.chain)
    const previousDoc = state.doc
    const id = tipOf(chain)
    const doc = new Y.Doc({ gc: true })
    // A fresh client id per epoch replica: reusing one across replicas would collide in clocks.
    doc.clientID = this.host.random.int(1, 0xffffffff)
    Y.applyUpdate(doc, base, EPOCH_BASE_ORIGIN)
    this.host.detach(state.wire)
    state.chain = chain.slice(-MAX_CHAIN_LINKS)
    state.base = base
    state.doc = doc
    state.wire = epochWireName(state.name, id)
    state.startedAt = this.host.now()
    state.contentBytes = base.length
    state.estimatedBytes = base.length
    state.dirty = false
    state.changed = false
    this.watch(state, doc, id)
    this.host.attach(state.wire, doc, base, state.chain)
    // Announce before carrying, so on each FIFO link the announcement arrives before the carried writes.
    for (const peer of this.host.connectedPeers()) if (peer !== from) this.announce(state, peer, true)
    const writes = state.log.select((write) => carry(write) !== 'no')
    if (writes.length > 0) {
      doc.transact(() => {
        for (const write of writes) replayWrite(doc, write, carry(write) === 'if-unchanged')
      }, EPOCH_CARRY_ORIGIN)
    }
    this.stats.switches++
    this.stats.carriedWrites += writes.length
    this.host.switched({ doc: state.name, epoch: id, previous, ydoc: doc, previousDoc, carried: writes.length, cutHere, cut })
  }

  private watch(state: EpochDoc, doc: Y.Doc, epoch: EpochId): void {
    doc.on('update', (update: Uint8Array) => {
      if (state.doc === doc) state.estimatedBytes += update.length
    })
    doc.on('afterTransaction', (transaction: Y.Transaction) => {
      if (state.doc === doc) {
        state.dirty = true
        state.changed = true
        if (transaction.local) state.log.record(doc, epoch, transaction)
        return
      }
      if (!transaction.local || transaction.changed.size === 0 || this.docs.get(state.name) !== state) return
      // A write on a replica the document has left (an application still holding it): carry it now.
      const late = new OwnWriteLog()
      late.record(doc, epoch, transaction)
      const writes = late.select(() => true)
      this.stats.retiredReplicaWrites += writes.length
      state.doc.transact(() => {
        for (const write of writes) replayWrite(state.doc, write)
      }, EPOCH_CARRY_ORIGIN)
    })
  }

  private sendWant(to: string, doc: string): void {
    const state = this.docs.get(doc)
    const key = `want\u0000${to}`
    if (state !== undefined && !this.due(state, key)) return
    this.host.send(to, encodeEpochMessage({ kind: 'want', doc }))
  }

  private announce(state: EpochDoc, to: string, force: boolean): void {
    if (!force && !this.due(state, to)) return
    state.lastAnnounce.set(to, this.host.now())
    this.stats.announcementsSent++
    this.host.send(to, encodeEpochMessage({ kind: 'announce', doc: state.name, chain: state.chain, base: state.base }))
  }

  private due(state: EpochDoc, key: string): boolean {
    const now = this.host.now()
    const last = state.lastAnnounce.get(key)
    if (last !== undefined && now - last < this.settings.announceIntervalMs) return false
    state.lastAnnounce.set(key, now)
    return true
  }
}
