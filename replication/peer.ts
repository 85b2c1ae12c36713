import * as Y from 'yjs'
import pino, { type Logger } from 'pino'
import {
  DEFAULT_MAX_FRAME_BYTES,
  EphemeralStore,
  FrameDecodeError,
  HybridLogicalClock,
  MAX_NAME_BYTES,
  RealmsyncError,
  decodeFrame,
  encodeFrame,
  type Clock,
  type DocumentStore,
  type StoredEpoch,
  type EphemeralEntry,
  type EphemeralValue,
  type Random,
  type TimerHandle,
  type WireMessage,
  type SyncFrame,
  type GossipFrame,
  type DigestFrame,
  type PullFrame,
} from '../core/index.js'
import type { EndpointId, Transport } from '../transports/index.js'
import { InvalidDocumentNameError } from './errors.js'
import { RemoteOrigin, SyncCore, type SyncCommand, type SyncStats } from './sync-core.js'
import type { GossipRouter, RouterStats } from './gossip-router.js'
import { resolveRouterSettings, type RouterOptions } from './router-settings.js'
import { resolveLaneSettings, type LaneOptions, type LaneStats } from './priority-lanes.js'
import { EPOCH_BASE_ORIGIN, EPOCH_CHANNEL, EpochManager, type EpochStats, type EpochSwitch } from './epoch-manager.js'
import { resolveEpochSettings, type EpochOptions } from './epoch-settings.js'
import { epochWireName, parseEpochWireName, type EpochId, type EpochLink } from './epoch-chain.js'

/** Settings of a peer. Only `id`, `transport`, `clock` and `random` are required. */
export interface PeerOptions {
  /** This peer's id; also its endpoint id on the transport. */
  readonly id: string
  /** How frames reach other peers. */
  readonly transport: Transport
  /** Injected time: the system clock in production, virtual time in the simulator. */
  readonly clock: Clock
  /** Seeded random source: document client ids, anti-entropy partners, jitter. */
  readonly random: Random
  /** Mean interval between anti-entropy rounds. Default 1000 ms. */
  readonly antiEntropyIntervalMs?: number
  /** Hard limit on one frame in either direction. Default 16 MiB (a whole-document sync step 2 must fit). */
  readonly maxFrameBytes?: number
  /** Ephemeral registers expire this long after they were written. Default 5000 ms. */
  readonly ephemeralTtlMs?: number
  /** Hard cap on ephemeral registers held. Default 200 000. */
  readonly ephemeralMaxEntries?: number
  /** Ephemeral registers per frame when sending a full snapshot to a new connection. Default 512. */
  readonly ephemeralBatchSize?: number
  /** Malformed frames tolerated from one connection before it is dropped. Default 20. */
  readonly maxMalformedFramesPerPeer?: number
  /** Whether a frame for a document this peer does not hold opens it. Default: never. */
  readonly acceptDocument?: (doc: string, from: string) => boolean
  /** Structured logger. Default: silent. */
  readonly logger?: Logger
  /** Durable storage for documents (storage/ provides one). Without it, documents live in memory only. */
  readonly store?: DocumentStore
  /** How new updates spread: `flood` (default), `random` or `latency`, with router settings. */
  readonly router?: RouterOptions
  /**
   * Priority lanes for local updates: tag a transaction with `new LaneOrigin('normal' | 'bulk')` to
   * batch it; untagged updates are `critical` (sent at once) unless `defaultPriority` says otherwise.
   */
  readonly lanes?: LaneOptions
  /**
   * Document epochs (docs/epochs.md): past a size bound a document moves to a fresh replica holding
   * only its current content. Off by default; on, `getDoc` returns the current epoch's replica and
   * `onEpochSwitch` tells when it changes.
   */
  readonly epochs?: EpochOptions
}

/** Counters of one peer: frames, bytes, rejections and the sync core's counters. */
export interface PeerStats extends SyncStats {
  framesSent: number
  framesReceived: number
  bytesSent: number
  bytesReceived: number
  malformedFrames: number
  droppedSends: number
  peersDisconnectedForMalformedFrames: number
  ephemeralSent: number
  ephemeralReceived: number
  ephemeralForwarded: number
  storeAppends: number
  storeFailures: number
  /** Channel frames that arrived for a channel nobody here listens on. */
  unheardChannelFrames: number
}

/** Hears one payload from a peer on an application channel; throwing counts the frame as malformed. */
export type ChannelListener = (from: string, payload: Uint8Array) => void

const silentLogger = (): Logger => pino({ level: 'silent' })

/** Frames of a not-yet-known epoch held per wire name. */
const MAX_HELD_FRAMES = 1024

/**
 * A game-server peer: holds named Yjs documents and the ephemeral state, and replicates both to
 * every connected peer. It drives the sans-IO `SyncCore` with frames from its transport and timers
 * from its clock; it never throws on bad peer input.
 */
export class Peer {
  /** This peer's id. */
  readonly id: string
  /** Last-writer-wins registers for high-rate transient state (positions, aim, ...). */
  readonly ephemeral: EphemeralStore
  private readonly core: SyncCore
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly random: Random
  private readonly logger: Logger
  private readonly maxFrameBytes: number
  private readonly ephemeralBatchSize: number
  private readonly maxMalformedPerPeer: number
  private readonly malformedByPeer = new Map<string, number>()
  private readonly ephemeralWatermarks = new Map<string, number>()
  private readonly timers = new Set<TimerHandle>()
  private readonly counters = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    malformedFrames: 0,
    droppedSends: 0,
    peersDisconnectedForMalformedFrames: 0,
    ephemeralSent: 0,
    ephemeralReceived: 0,
    ephemeralForwarded: 0,
    storeAppends: 0,
    storeFailures: 0,
    unheardChannelFrames: 0,
  }
  private readonly channelListeners = new Map<string, ChannelListener>()
  private readonly store: DocumentStore | undefined
  private readonly hlc: HybridLogicalClock
  private pendingWrites = new Set<Promise<void>>()
  private handling = 0
  private readonly propagationListeners = new Set<(doc: string, origin: string, delayMs: number) => void>()
  private started = false
  private closed = false
  private readonly epochs: EpochManager | undefined
  private readonly epochCheckMs: number
  private readonly replicaDetach = new Map<string, () => void>()
  private readonly switchListeners = new Set<(event: EpochSwitch) => void>()
  /** Frames of epochs this peer has not switched to yet, by wire name, fed in once it has. */
  private readonly heldFrames = new Map<string, Array<{ from: string; message: SyncFrame | GossipFrame | DigestFrame | PullFrame }>>()

  constructor(options: PeerOptions) {
    this.id = options.id
    this.transport = options.transport
    this.clock = options.clock
    this.random = options.random
    this.logger = (options.logger ?? silentLogger()).child({ peer: options.id })
    this.maxFrameBytes = options.maxFrameBytes ?? 16 * DEFAULT_MAX_FRAME_BYTES
    this.ephemeralBatchSize = options.ephemeralBatchSize ?? 512
    this.maxMalformedPerPeer = options.maxMalformedFramesPerPeer ?? 20
    const hlc = new HybridLogicalClock(options.id, () => this.clock.now())
    this.hlc = hlc
    this.store = options.store
    this.ephemeral = new EphemeralStore({
      hlc,
      now: () => this.clock.now(),
      ttlMs: options.ephemeralTtlMs ?? 5000,
      maxEntries: options.ephemeralMaxEntries ?? 200_000,
    })
    const accept = options.acceptDocument
    this.core = new SyncCore({
      self: options.id,
      random: this.random.fork(),
      maxUpdateBytes: this.maxFrameBytes,
      ...(options.antiEntropyIntervalMs !== undefined ? { antiEntropyIntervalMs: options.antiEntropyIntervalMs } : {}),
      ...(accept ? { acceptDocument: (doc: string, from: string) => Buffer.byteLength(doc) <= MAX_NAME_BYTES && accept(doc, from) } : {}),
      ...(options.router !== undefined ? { router: resolveRouterSettings(options.router, { reliable: options.transport.reliable === true }) } : {}),
      lanes: resolveLaneSettings(options.lanes),
      now: () => this.clock.now(),
      onDelivered: (doc, origin, delayMs) => {
        for (const listener of this.propagationListeners) listener(doc, origin, delayMs)
      },
    })
    const epochSettings = options.epochs === undefined ? undefined : resolveEpochSettings(options.epochs)
    this.epochCheckMs = epochSettings?.checkIntervalMs ?? 0
    this.epochs =
      epochSettings === undefined
        ? undefined
        : new EpochManager(epochSettings, {
            self: options.id,
            random: this.random.fork(),
            maxBytes: this.maxFrameBytes,
            now: () => this.clock.now(),
            connectedPeers: () => this.core.connectedPeers(),
            send: (to, payload) => {
              this.sendChannel(to, EPOCH_CHANNEL, payload)
            },
            attach: (wire, doc, base, chain) => {
              this.persistEpoch(wire, base, chain)
              this.attachReplica(wire, doc)
            },
            detach: (wire) => this.detachReplica(wire),
            accept: (doc, from) => (accept !== undefined && Buffer.byteLength(doc) <= MAX_NAME_BYTES && accept(doc, from)),
            open: (doc) => {
              this.openDoc(doc)
            },
            refused: (from, error) => this.logger.debug({ from, code: error.code, err: error.message }, 'epoch frame refused'),
            switched: (event) => {
              for (const listener of [...this.switchListeners]) {
                try {
                  listener(event)
                } catch (error) {
                  this.logger.error({ doc: event.doc, err: error instanceof Error ? error.message : String(error) }, 'epoch switch listener failed')
                }
              }
            },
          })
    if (this.epochs !== undefined) {
      const epochs = this.epochs
      this.onChannel(EPOCH_CHANNEL, (from, payload) => epochs.receive(from, payload))
    }
  }

  /**
   * Hears every move of a document to a new epoch (with epochs on). The listener gets the new
   * replica, which is the one to read and write from now on: a gateway rebinds its clients to it and
   * has them resync by state vector. Returns a function that stops listening.
   */
  onEpochSwitch(listener: (event: EpochSwitch) => void): () => void {
    this.switchListeners.add(listener)
    return () => this.switchListeners.delete(listener)
  }

  /** The current epoch of a document, when epochs are on and the document is open. */
  epochOf(name: string): EpochId | undefined {
    return this.epochs?.epochOf(name)
  }

  /** Epoch counters, when epochs are on. */
  epochStats(): EpochStats | undefined {
    return this.epochs === undefined ? undefined : { ...this.epochs.stats }
  }

  /** Cuts a document into a new epoch now, this peer acting as coordinator; false if epochs are off or it cannot be cut. */
  cutEpoch(name: string): boolean {
    return this.epochs?.cut(name) ?? false
  }

  /**
   * Hears the propagation delay (ms, origin's clock to this peer's) of each routed update's first
   * arrival; metrics feed a histogram from it. Returns a function that stops listening.
   */
  onPropagation(listener: (doc: string, origin: string, delayMs: number) => void): () => void {
    this.propagationListeners.add(listener)
    return () => this.propagationListeners.delete(listener)
  }

  /** The priority lanes' counters. */
  laneStats(): LaneStats | undefined {
    return this.core.laneStats()
  }

  /** The gossip router's counters, when this peer routes by `random` or `latency`. */
  routerStats(): RouterStats | undefined {
    return this.core.routerStats()
  }

  /** The router's smoothed round trip to a peer in ms, if it has measured one. */
  roundTripTo(peer: string): number | undefined {
    return this.router?.rttTo(peer)
  }

  /** The gossip router (for inspection: eager peers, RTTs, trees), when there is one. */
  get router(): GossipRouter | undefined {
    return this.core.router
  }

  /** Starts listening on the transport, syncs with peers already connected and starts anti-entropy. */
  start(): void {
    if (this.started || this.closed) return
    this.started = true
    this.transport.listen({
      onFrame: (from, frame) => this.onFrame(from, frame),
      onConnect: (peer) => this.onConnect(peer),
      onDisconnect: (peer) => this.onDisconnect(peer),
    })
    this.run(this.core.handle({ type: 'start' }, this.clock.now()))
    for (const peer of this.transport.connectedPeers()) this.onConnect(peer)
    this.scheduleEphemeralSweep()
    if (this.epochs !== undefined) this.scheduleEpochCheck(this.epochs)
  }

  /** Opens (or returns) a replicated document. `initialState`, a Yjs update, seeds a new one (a restart). */
  openDoc(name: string, initialState?: Uint8Array): Y.Doc {
    const existing = this.getDoc(name)
    if (existing) return existing
    if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) throw new InvalidDocumentNameError(name)
    // With epochs, `name#<n>.<tag>` is the wire name of an epoch: not a document name of its own.
    if (this.epochs !== undefined && parseEpochWireName(name).n > 0) throw new InvalidDocumentNameError(name)
    const doc = new Y.Doc({ gc: true })
    // Client ids come from the seeded source so a simulated run is reproducible; a restarted peer
    // gets a fresh one, because reusing a client id with lost state corrupts Yjs documents.
    doc.clientID = this.random.int(1, 0xffffffff)
    if (initialState) Y.applyUpdate(doc, initialState, 'restore')
    this.epochs?.register(name, doc)
    this.attachReplica(name, doc)
    return doc
  }

  private attachReplica(wire: string, doc: Y.Doc): void {
    const commands = this.core.openDocument(wire, doc)
    const onUpdate = (update: Uint8Array, origin: unknown): void => {
      if (this.store) this.persist(wire, update, origin)
      if (this.handling === 0) this.run(this.core.takeCommands())
    }
    doc.on('update', onUpdate)
    this.replicaDetach.set(wire, () => doc.off('update', onUpdate))
    this.run(commands)
    this.replayHeld(wire)
  }

  private hold(from: string, message: SyncFrame | GossipFrame | DigestFrame | PullFrame): void {
    let held = this.heldFrames.get(message.doc)
    if (held === undefined) {
      // Only a few epochs' worth is kept: a peer that far behind catches up by state vector anyway.
      if (this.heldFrames.size >= 16) this.heldFrames.delete(this.heldFrames.keys().next().value as string)
      this.heldFrames.set(message.doc, (held = []))
    }
    if (held.length >= MAX_HELD_FRAMES) held.shift()
    held.push({ from, message })
  }

  private replayHeld(wire: string): void {
    const held = this.heldFrames.get(wire)
    if (held === undefined) return
    this.heldFrames.delete(wire)
    for (const { from, message } of held) {
      if (!this.core.connectedPeers().includes(from)) continue
      if (message.type === 'sync') this.dispatch({ type: 'frame', from, frame: message })
      else this.dispatch({ type: 'message', from, message })
    }
  }

  private detachReplica(wire: string): void {
    this.core.closeDocument(wire)
    this.replicaDetach.get(wire)?.()
    this.replicaDetach.delete(wire)
  }

  private scheduleEpochCheck(epochs: EpochManager): void {
    const handle = this.clock.setTimer(this.epochCheckMs, () => {
      this.timers.delete(handle)
      if (this.closed) return
      epochs.checkBounds()
      this.scheduleEpochCheck(epochs)
    })
    this.timers.add(handle)
  }

  /**
   * Opens a document with its durable state from the store (snapshot, then logged updates), then
   * lets anti-entropy catch it up. With epochs on and a store that keeps switch records, a document
   * that was cut reopens at the epoch it last moved to (its log, base first) with its chain, so it
   * can tell a stale neighbour the current epoch by itself. Rejects, leaving the document closed, if
   * the stored rows or the switch record are corrupt: a peer must not serve wrong state.
   */
  async openStoredDoc(name: string): Promise<Y.Doc> {
    const existing = this.getDoc(name)
    if (existing) return existing
    const head = this.epochs !== undefined && this.store?.loadEpoch !== undefined ? await this.store.loadEpoch(name) : undefined
    const loaded = this.store ? await this.store.load(head?.wire ?? name) : undefined
    const parts = loaded === undefined ? [] : loaded.snapshot ? [loaded.snapshot, ...loaded.updates] : [...loaded.updates]
    const state = parts.length > 0 ? Y.mergeUpdates(parts) : undefined
    if (head === undefined) return this.openDoc(name, state)
    return this.getDoc(name) ?? this.openAtEpoch(name, head, state ?? head.base)
  }

  /** Opens a document at a stored later epoch (see `openStoredDoc`): the replica under its wire name, the manager's chain restored. */
  private openAtEpoch(name: string, head: StoredEpoch, state: Uint8Array): Y.Doc {
    const epochs = this.epochs as EpochManager
    const chain: EpochLink[] = head.chain.map((link) => ({ id: { n: link.n, coordinator: link.coordinator, hash: link.hash }, cut: link.cut }))
    const tip = chain[chain.length - 1]
    if (tip === undefined || epochWireName(name, tip.id) !== head.wire) throw new InvalidDocumentNameError(head.wire)
    const doc = new Y.Doc({ gc: true })
    doc.clientID = this.random.int(1, 0xffffffff)
    Y.applyUpdate(doc, state, 'restore')
    epochs.restore(name, doc, chain, head.base)
    this.attachReplica(head.wire, doc)
    return doc
  }

  /** Opens every document the store holds; returns the names that failed to load and why. */
  async openStoredDocs(): Promise<Array<{ doc: string; error: Error }>> {
    if (!this.store) return []
    const failures: Array<{ doc: string; error: Error }> = []
    const stored = await this.store.listDocuments()
    // Later epochs are stored under their wire names: each is opened through its document (at its stored current epoch).
    const names = this.epochs === undefined ? stored : [...new Set(stored.map((name) => parseEpochWireName(name).doc))]
    for (const name of names) {
      try {
        await this.openStoredDoc(name)
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error))
        this.logger.error({ doc: name, err: err.message }, 'document not opened: stored state unreadable')
        failures.push({ doc: name, error: err })
      }
    }
    return failures
  }

  /** Resolves once every document change made so far is durable in the store. */
  async flushed(): Promise<void> {
    while (this.pendingWrites.size > 0) await Promise.allSettled([...this.pendingWrites])
  }

  /** The document replicated under `name`, if open. */
  getDoc(name: string): Y.Doc | undefined {
    return this.epochs !== undefined ? this.epochs.current(name) : this.core.document(name)
  }

  /** Names of every open document. */
  docNames(): string[] {
    return this.epochs !== undefined ? this.epochs.names() : this.core.documentNames()
  }

  /** Peers currently connected. */
  connectedPeers(): string[] {
    return this.core.connectedPeers()
  }

  /** Writes an ephemeral register and sends it to every connected peer at once. */
  setEphemeral(entity: string, field: string, value: EphemeralValue): EphemeralEntry {
    const entry = this.ephemeral.set(entity, field, value)
    this.broadcastEphemeral([entry], undefined)
    return entry
  }

  /** A snapshot of this peer's counters. */
  stats(): PeerStats {
    return { ...this.core.stats, ...this.counters }
  }

  /** Stops timers and frame handling and closes nothing else: the transport belongs to the caller. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const timer of this.timers) this.clock.cancelTimer(timer)
    this.timers.clear()
    this.core.destroy()
    this.epochs?.destroy()
  }

  /** Stores a new epoch's base with its switch record (one transaction, where the store can), so a restart reopens the epoch. */
  private persistEpoch(wire: string, base: Uint8Array, chain: readonly EpochLink[]): void {
    const store = this.store
    if (!store) return
    if (store.saveEpoch === undefined) {
      this.persist(wire, base, EPOCH_BASE_ORIGIN)
      return
    }
    const epoch: StoredEpoch = {
      doc: parseEpochWireName(wire).doc,
      wire,
      chain: chain.map((link) => ({ n: link.id.n, coordinator: link.id.coordinator, hash: link.id.hash, cut: link.cut })),
      base,
    }
    this.track(wire, store.saveEpoch(epoch, { hlc: this.hlc.tick(), wallMs: this.clock.now(), origin: this.id }))
  }

  private persist(doc: string, update: Uint8Array, origin: unknown): void {
    if (origin === 'restore' || !this.store) return
    const meta = {
      hlc: this.hlc.tick(),
      wallMs: this.clock.now(),
      origin: origin instanceof RemoteOrigin ? origin.peer : this.id,
    }
    this.track(doc, this.store.append(doc, update, meta))
  }

  /** Counts a store write and keeps it pending until it settles (`flushed` waits for it). */
  private track(doc: string, stored: Promise<void>): void {
    const write = stored.then(
      () => {
        this.counters.storeAppends++
      },
      (error: unknown) => {
        this.counters.storeFailures++
        this.logger.error({ doc, err: error instanceof Error ? error.message : String(error) }, 'update not stored')
      },
    )
    this.pendingWrites.add(write)
    void write.finally(() => this.pendingWrites.delete(write))
  }

  private onConnect(peer: EndpointId): void {
    if (this.closed) return
    this.malformedByPeer.delete(peer)
    this.dispatch({ type: 'peerUp', peer })
    this.epochs?.peerUp(peer)
    this.sendEphemeralSnapshot(peer)
  }

  private onDisconnect(peer: EndpointId): void {
    if (this.closed) return
    this.ephemeralWatermarks.delete(peer)
    this.epochs?.peerDown(peer)
    this.dispatch({ type: 'peerDown', peer })
  }

  private onFrame(from: EndpointId, bytes: Uint8Array): void {
    if (this.closed) return
    this.counters.framesReceived++
    this.counters.bytesReceived += bytes.length
    let message: WireMessage
    try {
      message = decodeFrame(bytes, { maxFrameBytes: this.maxFrameBytes })
    } catch (error) {
      if (error instanceof FrameDecodeError) {
        this.penalise(from, error)
        return
      }
      throw error
    }
    if ((message.type === 'sync' || message.type === 'gossip' || message.type === 'digest' || message.type === 'pull') && this.epochs !== undefined) {
      const route = this.epochs.route(from, message.doc)
      if (route === 'hold') this.hold(from, message)
      if (route !== 'pass') return
    }
    if (message.type === 'sync') this.dispatch({ type: 'frame', from, frame: message })
    else if (message.type === 'ephemeral') this.receiveEphemeral(from, message.entries)
    else if (message.type === 'channel') this.receiveChannel(from, message.channel, message.payload)
    else this.dispatch({ type: 'message', from, message })
  }

  /**
   * Listens on a named application channel (resolver claims, signed decisions, ...); one listener
   * per channel. The payload is untrusted peer input: the listener decodes it strictly and drops what
   * it cannot read. Returns a function that stops listening.
   */
  onChannel(channel: string, listener: ChannelListener): () => void {
    if (this.channelListeners.has(channel)) throw new RealmsyncError('channel-taken', `channel '${channel}' already has a listener`)
    this.channelListeners.set(channel, listener)
    return () => {
      if (this.channelListeners.get(channel) === listener) this.channelListeners.delete(channel)
    }
  }

  /** Sends an opaque payload to one peer on a named channel; false when the link is down or the frame too large. */
  sendChannel(to: string, channel: string, payload: Uint8Array): boolean {
    if (this.closed) return false
    return this.send(to, { type: 'channel', channel, payload })
  }

  private receiveChannel(from: EndpointId, channel: string, payload: Uint8Array): void {
    const listener = this.channelListeners.get(channel)
    if (!listener) {
      // A peer on a newer version may speak channels this one does not: not malformed, just unheard.
      this.counters.unheardChannelFrames++
      return
    }
    try {
      listener(from, payload)
    } catch (error) {
      // A listener that throws on bad input must not take the peer down with it.
      this.counters.malformedFrames++
      this.logger.warn({ from, channel, err: error instanceof Error ? error.message : String(error) }, 'channel frame refused')
    }
  }

  private receiveEphemeral(from: EndpointId, entries: readonly EphemeralEntry[]): void {
    this.counters.ephemeralReceived += entries.length
    const changed = this.ephemeral.merge(entries)
    if (changed.length > 0) this.broadcastEphemeral(changed, from)
  }

  private broadcastEphemeral(entries: readonly EphemeralEntry[], except: EndpointId | undefined): void {
    for (const peer of this.core.connectedPeers()) {
      if (peer === except) continue
      for (let i = 0; i < entries.length; i += this.ephemeralBatchSize) {
        const batch = entries.slice(i, i + this.ephemeralBatchSize)
        this.send(peer, { type: 'ephemeral', entries: batch })
        if (except === undefined) this.counters.ephemeralSent += batch.length
        else this.counters.ephemeralForwarded += batch.length
      }
    }
  }

  private sendEphemeralSnapshot(peer: EndpointId): void {
    const { entries } = this.ephemeral.deltaSince(0)
    for (let i = 0; i < entries.length; i += this.ephemeralBatchSize) {
      const batch = entries.slice(i, i + this.ephemeralBatchSize)
      this.send(peer, { type: 'ephemeral', entries: batch })
      this.counters.ephemeralSent += batch.length
    }
  }

  private scheduleEphemeralSweep(): void {
    const every = 1000
    const handle = this.clock.setTimer(every, () => {
      this.timers.delete(handle)
      if (this.closed) return
      this.ephemeral.sweep()
      this.scheduleEphemeralSweep()
    })
    this.timers.add(handle)
  }

  private penalise(from: EndpointId, error: RealmsyncError): void {
    this.counters.malformedFrames++
    const count = (this.malformedByPeer.get(from) ?? 0) + 1
    this.malformedByPeer.set(from, count)
    this.logger.warn({ from, code: error.code, err: error.message, count }, 'dropped frame from peer')
    if (count === this.maxMalformedPerPeer && this.transport.disconnect) {
      this.counters.peersDisconnectedForMalformedFrames++
      this.logger.error({ from, count }, 'disconnecting peer after repeated malformed frames')
      this.transport.disconnect(from)
    }
  }

  private dispatch(event: Parameters<SyncCore['handle']>[0]): void {
    this.handling++
    let commands: SyncCommand[]
    try {
      commands = this.core.handle(event, this.clock.now())
    } finally {
      this.handling--
    }
    this.run(commands)
  }

  private run(commands: readonly SyncCommand[]): void {
    for (const command of commands) {
      switch (command.type) {
        case 'send':
          this.send(command.to, command.frame)
          break
        case 'setTimer': {
          const delay = command.at - this.clock.now()
          if (delay <= 0 && command.timer === 'lanes' && this.clock.defer !== undefined) {
            // Due now (critical updates of this turn): leave as soon as the turn's work is done.
            this.clock.defer(() => {
              if (!this.closed) this.dispatch({ type: 'timer', timer: command.timer })
            })
            break
          }
          const handle = this.clock.setTimer(delay, () => {
            this.timers.delete(handle)
            if (!this.closed) this.dispatch({ type: 'timer', timer: command.timer })
          })
          this.timers.add(handle)
          break
        }
        case 'openDocument':
          this.openDoc(command.doc)
          break
        case 'rejected':
          this.penalise(command.from, command.error)
          break
      }
    }
  }

  private send(to: EndpointId, message: WireMessage): boolean {
    let frame: Uint8Array
    try {
      frame = encodeFrame(message, { maxFrameBytes: this.maxFrameBytes })
    } catch (error) {
      // Only a frame over the limit can fail to encode; a whole-document step 2 that large means
      // the document has outgrown its bound (document epochs keep it small).
      this.counters.droppedSends++
      this.logger.error({ to, err: error instanceof Error ? error.message : String(error) }, 'frame not sent')
      return false
    }
    if (this.transport.send(to, frame)) {
      this.counters.framesSent++
      this.counters.bytesSent += frame.length
      return true
    }
    this.counters.droppedSends++
    return false
  }
}
