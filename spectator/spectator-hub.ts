import * as Y from 'yjs'
import { createRandom, RealmsyncError, type Clock, type Millis, type Random, type TimerHandle } from '../core/index.js'
import type { EpochSwitch, Peer } from '../replication/index.js'
import { SHOW_EVERYTHING, type SpectatorFilter } from './spectator-filter.js'
import { SpectatorSettingsError, SpectatorView } from './spectator-view.js'

/** A spectator asked for a view the hub does not serve (delay out of range, unknown filter, closed document). */
export class SpectatorRequestError extends RealmsyncError {
  constructor(code: 'spectator-delay' | 'spectator-filter' | 'spectator-document', message: string) {
    super(code, message)
  }
}

/** What the hub needs of a peer: its current replicas and their epoch switches. */
export type SpectatorSource = Pick<Peer, 'getDoc' | 'onEpochSwitch'>

/** Settings of a `SpectatorHub`. */
export interface SpectatorHubOptions {
  /** The peer whose documents spectators watch. */
  readonly peer: SpectatorSource
  /** Time for arrival stamps and ticks (the system clock in a server, a manual one in tests). */
  readonly clock: Clock
  /** Seeds the projections' client ids. Default: seed 1. */
  readonly random?: Random
  /**
   * Smallest delay a spectator may ask for, in ms. Default 2000. A player who could watch with
   * no delay would see the world through other players' eyes ("ghosting"); keep it above what a
   * live game could use.
   */
  readonly minDelayMs?: Millis
  /** Largest delay, in ms: the queue holds a whole delay's traffic. Default 600,000 (10 minutes). */
  readonly maxDelayMs?: Millis
  /** Delay of a spectator that names none. Default `minDelayMs`. */
  readonly defaultDelayMs?: Millis
  /** How often each view releases what is old enough and projects it. Default 100 ms. */
  readonly tickMs?: Millis
  /** Named filters spectators pick from. Default: none (every spectator sees everything it may read). */
  readonly filters?: Readonly<Record<string, SpectatorFilter>>
  /**
   * The filter of a spectator that names none. Default: with no `filters`, everything; with
   * `filters`, none: such a spectator is refused (a forgotten parameter must not show hidden keys).
   */
  readonly defaultFilter?: string
  /** How long a view with no spectators is kept (so a reconnect finds its delayed history). Default 30,000 ms. */
  readonly lingerMs?: Millis
  /** Projection rebuild bound (`SpectatorViewOptions.rebuildRatio`). Default 4. */
  readonly rebuildRatio?: number
  /** Projection rebuild floor in bytes (`SpectatorViewOptions.rebuildMinBytes`). Default 4096. */
  readonly rebuildMinBytes?: number
}

/** One view as shared by every spectator of the same document, delay and filter. */
export interface SharedSpectatorView {
  /** `<document>\n<delay>\n<filter>`: what makes two spectators share a view. */
  readonly key: string
  /** The source document's name. */
  readonly doc: string
  /** The filter's name (`''`: everything). */
  readonly filterName: string
  /** The view: its `projection` is what spectators sync. */
  readonly view: SpectatorView
  /** Spectators holding it now. */
  readonly spectators: number
}

/** A spectator's hold on a shared view; release it when the spectator leaves. */
export interface SpectatorLease {
  readonly shared: SharedSpectatorView
  /** Gives the hold back (idempotent); the view closes `lingerMs` after its last one. */
  release(): void
}

/** Counters of a hub. */
export interface SpectatorHubStats {
  /** Views open now. */
  views: number
  /** Spectators holding a view now. */
  spectators: number
  /** Entries waiting in every view's delay queue. */
  queueDepth: number
  /** Bytes waiting in every view's delay queue (a tick's merged update, shared by the views of one document, counts once per view). */
  queueBytes: number
  /** Map sets and deletes written into projections since the hub started (closed views included). */
  projectionWrites: number
  /** Projection rebuilds since the hub started. */
  rebuilds: number
  /** Source epoch switches applied by views since the hub started. */
  sourceEpochs: number
}

interface ViewEntry {
  shared: { key: string; doc: string; filterName: string; view: SpectatorView; spectators: number }
  lingerTimer: TimerHandle | undefined
}

/**
 * One source replica the hub listens to, for every view of its document. The tap merges each
 * tick's updates once and hands the merged update to every view, so views of one document with
 * different delays or filters do not each pay for the merge; it ticks them together.
 */
interface SourceTap {
  ydoc: Y.Doc
  readonly views: Set<ViewEntry>
  readonly onUpdate: (update: Uint8Array) => void
  /** Updates since the last tick, and the newest one's arrival. */
  open: Uint8Array[]
  openAt: Millis
  timer: TimerHandle | undefined
}

/**
 * Serves spectator views of a peer's documents: one `SpectatorView` per (document, delay,
 * filter), shared by all its spectators, fed from the peer's current replica (one listener per
 * document) and ticked on the clock. It follows the peer's epoch switches by handing each view a
 * marker with the new replica's state; the gateway serves the projections (`startGateway`'s
 * `spectators`). See docs/spectator.md.
 */
export class SpectatorHub {
  private readonly views = new Map<string, ViewEntry>()
  private readonly taps = new Map<string, SourceTap>()
  private readonly rebuildListeners = new Set<(shared: SharedSpectatorView) => void>()
  private readonly closeListeners = new Set<(shared: SharedSpectatorView) => void>()
  private readonly stopEpochs: () => void
  private readonly random: Random
  private readonly minDelayMs: Millis
  private readonly maxDelayMs: Millis
  private readonly tickMs: Millis
  private readonly lingerMs: Millis
  private readonly closedTotals = { projectionWrites: 0, rebuilds: 0, sourceEpochs: 0 }
  private closed = false

  constructor(private readonly options: SpectatorHubOptions) {
    this.minDelayMs = options.minDelayMs ?? 2000
    this.maxDelayMs = options.maxDelayMs ?? 600_000
    this.tickMs = options.tickMs ?? 100
    this.lingerMs = options.lingerMs ?? 30_000
    this.random = options.random ?? createRandom(1)
    if (!(this.minDelayMs >= 0 && this.maxDelayMs >= this.minDelayMs)) throw new SpectatorSettingsError(`need 0 <= minDelayMs <= maxDelayMs, not ${this.minDelayMs} and ${this.maxDelayMs}`)
    if (options.rebuildRatio !== undefined && !(options.rebuildRatio > 1)) throw new SpectatorSettingsError(`rebuildRatio must be above 1, not ${options.rebuildRatio}`)
    if (!(this.tickMs > 0)) throw new SpectatorSettingsError(`tickMs must be above 0, not ${this.tickMs}`)
    if (options.defaultFilter !== undefined && !(options.filters !== undefined && Object.hasOwn(options.filters, options.defaultFilter))) {
      throw new SpectatorSettingsError(`defaultFilter '${options.defaultFilter}' is not one of the filters`)
    }
    this.stopEpochs = options.peer.onEpochSwitch((event) => this.onEpochSwitch(event))
  }

  /**
   * Gives a spectator a hold on the view of `doc` at `delayMs` (default: the hub's) through the
   * filter named `filterName` (default: the hub's), opening it if needed. Throws
   * `SpectatorRequestError` for a delay out of range, an unknown filter, or a document the peer
   * does not hold.
   */
  join(doc: string, delayMs?: Millis, filterName?: string): SpectatorLease {
    if (this.closed) throw new SpectatorRequestError('spectator-document', 'the spectator hub is closed')
    const delay = delayMs ?? this.options.defaultDelayMs ?? this.minDelayMs
    if (!Number.isInteger(delay) || delay < this.minDelayMs || delay > this.maxDelayMs) {
      throw new SpectatorRequestError('spectator-delay', `delay must be a whole number of ms from ${this.minDelayMs} to ${this.maxDelayMs}, not ${delay}`)
    }
    const [name, filter] = this.filterNamed(filterName)
    const key = `${doc}\n${delay}\n${name}`
    const entry = this.views.get(key) ?? this.open(key, doc, delay, name, filter)
    entry.shared.spectators++
    if (entry.lingerTimer !== undefined) this.options.clock.cancelTimer(entry.lingerTimer)
    entry.lingerTimer = undefined
    let held = true
    return {
      shared: entry.shared,
      release: () => {
        if (!held) return
        held = false
        entry.shared.spectators--
        if (entry.shared.spectators === 0 && this.views.get(key) === entry) entry.lingerTimer = this.options.clock.setTimer(this.lingerMs, () => this.closeView(entry))
      },
    }
  }

  /** Hears every projection rebuild: the view's spectators must resync against its new `projection`. */
  onRebuild(listener: (shared: SharedSpectatorView) => void): () => void {
    this.rebuildListeners.add(listener)
    return () => this.rebuildListeners.delete(listener)
  }

  /** Hears a view closing (its last spectator left `lingerMs` ago, or the hub closed), before its documents are destroyed. */
  onViewClosed(listener: (shared: SharedSpectatorView) => void): () => void {
    this.closeListeners.add(listener)
    return () => this.closeListeners.delete(listener)
  }

  /** Counters so far. */
  stats(): SpectatorHubStats {
    const out: SpectatorHubStats = { views: this.views.size, spectators: 0, queueDepth: 0, queueBytes: 0, ...this.closedTotals }
    for (const { shared } of this.views.values()) {
      const view = shared.view.stats()
      out.spectators += shared.spectators
      out.queueDepth += view.queueDepth
      out.queueBytes += view.queueBytes
      out.projectionWrites += view.projectionWrites
      out.rebuilds += view.rebuilds
      out.sourceEpochs += view.sourceEpochs
    }
    return out
  }

  /** Closes every view and stops listening to the peer. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stopEpochs()
    for (const entry of [...this.views.values()]) this.closeView(entry)
  }

  /** The filter a spectator asked for (or the default), by name. */
  private filterNamed(requested: string | undefined): [string, SpectatorFilter] {
    const filters = this.options.filters
    const name = requested ?? this.options.defaultFilter
    if (filters === undefined && (name === undefined || name === '')) return ['', SHOW_EVERYTHING]
    if (name === undefined) throw new SpectatorRequestError('spectator-filter', `name a filter: one of ${Object.keys(filters ?? {}).join(', ')}`)
    const filter = filters !== undefined && Object.hasOwn(filters, name) ? filters[name] : undefined
    if (filter === undefined) throw new SpectatorRequestError('spectator-filter', `unknown spectator filter '${name.slice(0, 40)}'`)
    return [name, filter]
  }

  private open(key: string, doc: string, delayMs: Millis, filterName: string, filter: SpectatorFilter): ViewEntry {
    const source = this.options.peer.getDoc(doc)
    if (source === undefined) throw new SpectatorRequestError('spectator-document', `document '${doc.slice(0, 80)}' is not open on this peer`)
    const view = new SpectatorView({
      delayMs,
      filter,
      random: this.random.fork(),
      ...(this.options.rebuildRatio !== undefined ? { rebuildRatio: this.options.rebuildRatio } : {}),
      ...(this.options.rebuildMinBytes !== undefined ? { rebuildMinBytes: this.options.rebuildMinBytes } : {}),
    })
    const tap = this.tapOf(doc, source)
    // The other views get what came before the snapshot first, so every queue stays in arrival order.
    this.handOver(tap)
    // A new view has no past to show: it starts from the source as it is now, shown once that is
    // `delayMs` old (until then its projection is empty: never anything younger than the delay).
    view.receive(Y.encodeStateAsUpdate(tap.ydoc), this.options.clock.now())
    const entry: ViewEntry = { shared: { key, doc, filterName, view, spectators: 0 }, lingerTimer: undefined }
    this.views.set(key, entry)
    tap.views.add(entry)
    return entry
  }

  private tapOf(doc: string, source: Y.Doc): SourceTap {
    const existing = this.taps.get(doc)
    if (existing !== undefined) return existing
    const tap: SourceTap = {
      ydoc: source,
      views: new Set(),
      onUpdate: (update) => {
        tap.open.push(update)
        tap.openAt = this.options.clock.now()
      },
      open: [],
      openAt: 0,
      timer: undefined,
    }
    source.on('update', tap.onUpdate)
    this.taps.set(doc, tap)
    this.scheduleTick(doc, tap)
    return tap
  }

  /** Merges the tap's open updates and hands them to every view of it, stamped with the newest arrival. */
  private handOver(tap: SourceTap): void {
    if (tap.open.length === 0) return
    const update = tap.open.length === 1 ? (tap.open[0] as Uint8Array) : Y.mergeUpdates(tap.open)
    for (const entry of tap.views) entry.shared.view.receive(update, tap.openAt)
    tap.open = []
  }

  private onEpochSwitch(event: EpochSwitch): void {
    const tap = this.taps.get(event.doc)
    if (tap === undefined) return
    tap.ydoc.off('update', tap.onUpdate)
    tap.ydoc = event.ydoc
    tap.ydoc.on('update', tap.onUpdate)
    // What the old replica sent before the switch goes first: its updates never merge with the new one's.
    this.handOver(tap)
    const state = Y.encodeStateAsUpdate(event.ydoc)
    const now = this.options.clock.now()
    for (const entry of tap.views) entry.shared.view.receiveEpoch(state, now)
  }

  private scheduleTick(doc: string, tap: SourceTap): void {
    tap.timer = this.options.clock.setTimer(this.tickMs, () => {
      if (this.taps.get(doc) !== tap) return
      this.handOver(tap)
      const now = this.options.clock.now()
      for (const entry of [...tap.views]) {
        if (entry.shared.view.tick(now).rebuilt) for (const listener of this.rebuildListeners) listener(entry.shared)
      }
      this.scheduleTick(doc, tap)
    })
  }

  private closeView(entry: ViewEntry): void {
    const { key, doc, view } = entry.shared
    if (this.views.get(key) !== entry) return
    this.views.delete(key)
    if (entry.lingerTimer !== undefined) this.options.clock.cancelTimer(entry.lingerTimer)
    const tap = this.taps.get(doc)
    tap?.views.delete(entry)
    if (tap !== undefined && tap.views.size === 0) {
      tap.ydoc.off('update', tap.onUpdate)
      if (tap.timer !== undefined) this.options.clock.cancelTimer(tap.timer)
      this.taps.delete(doc)
    }
    for (const listener of this.closeListeners) listener(entry.shared)
    const stats = view.stats()
    this.closedTotals.projectionWrites += stats.projectionWrites
    this.closedTotals.rebuilds += stats.rebuilds
    this.closedTotals.sourceEpochs += stats.sourceEpochs
    view.destroy()
  }
}
