import * as Y from 'yjs'
import { createRandom, rebuildContent, RealmsyncError, type Millis, type Random } from '../core/index.js'
import { DelayQueue } from './delay-queue.js'
import { ProjectionWriter } from './projection-writer.js'
import type { SpectatorFilter } from './spectator-filter.js'

/** A spectator view setting is out of range (a negative delay, a rebuild ratio of 1 or less). */
export class SpectatorSettingsError extends RealmsyncError {
  constructor(detail: string) {
    super('spectator-settings', `invalid spectator view settings: ${detail}`)
  }
}

/** Settings of a `SpectatorView`. */
export interface SpectatorViewOptions {
  /** How old a source change must be before spectators see it, in ms. */
  readonly delayMs: Millis
  /** What spectators may see. Default: everything. */
  readonly filter?: SpectatorFilter
  /** Client ids of the projection's writers (one per projection generation). Default: seed 1. */
  readonly random?: Random
  /**
   * The projection is rebuilt (and its spectators resync) once its encoded size passes this many
   * times the size of its content rebuilt fresh. Default 4, as document epochs.
   */
  readonly rebuildRatio?: number
  /** A projection smaller than this is never rebuilt. Default 4096 bytes. */
  readonly rebuildMinBytes?: number
}

/** What one tick did. */
export interface SpectatorTick {
  /** Queue entries released into the delayed source. */
  readonly released: number
  /** Epoch markers among them: the delayed source was replaced by a new epoch's content. */
  readonly epochs: number
  /** Map sets and deletes made in the projection. */
  readonly writes: number
  /** The projection was rebuilt into a fresh document: every spectator must resync against `projection`. */
  readonly rebuilt: boolean
}

/** Counters of a view. */
export interface SpectatorViewStats {
  /** Entries waiting in the delay queue. */
  queueDepth: number
  /** Bytes waiting in the delay queue. */
  queueBytes: number
  /** Map sets and deletes made in the projection since the view opened. */
  projectionWrites: number
  /** Source epoch switches applied to the delayed source. */
  sourceEpochs: number
  /** Projection rebuilds (each one resyncs the view's spectators). */
  rebuilds: number
}

/** Root name and key of the top-level entry a changed type lives in, or undefined for a change outside any map entry. */
const entryOf = (type: Y.AbstractType<unknown>, key: string | null): [string, string] | undefined => {
  if (type._item === null) return key === null ? undefined : [Y.findRootTypeKey(type), key]
  let child = type
  for (;;) {
    const item = child._item as Y.Item
    const parent = item.parent as Y.AbstractType<unknown>
    if (parent._item === null) return item.parentSub === null ? undefined : [Y.findRootTypeKey(parent), item.parentSub]
    child = parent
  }
}

/**
 * A delayed, filtered projection of one document for spectators. Sans-IO: the driver hands it the
 * source's updates and epoch switches with their arrival times (`receive`, `receiveEpoch`) and calls
 * `tick` on a timer; nothing here reads a clock.
 *
 * It is a projection, not a replica. Updates wait in a delay queue (merged per tick), then are
 * applied to a private "delayed source" document; each tick, the entries that changed are filtered
 * and written by difference into `projection`, a document only the view writes. Spectators sync
 * `projection`, so hidden keys never reach them, not even in history, and a source epoch switch
 * (a marker in the queue carrying the new replica's state) just replaces the delayed source: the
 * content is the same across a cut, so the diff writes nothing and spectators see no gap. The
 * projection's own history is bounded the same way epochs bound documents: past `rebuildRatio`
 * times its content it is rebuilt fresh (`rebuildContent`) and `generation` goes up.
 */
export class SpectatorView {
  /** The delay applied to every change. */
  readonly delayMs: Millis
  private readonly queue = new DelayQueue()
  private readonly writer: ProjectionWriter
  private readonly random: Random
  private readonly rebuildRatio: number
  private readonly rebuildMinBytes: number
  private delayed: Y.Doc
  private dirty = new Map<string, Set<string>>()
  private everythingDirty = false
  private projectionGeneration = 0
  /** Encoded size of the projection: measured at the last check, plus every update since (an upper bound). */
  private projectionBytes = 0
  /** Encoded size of the projection's content rebuilt fresh, at the last check. */
  private contentBytes = 0
  private sourceEpochs = 0
  private rebuilds = 0
  private readonly onTransaction = (transaction: Y.Transaction): void => {
    for (const [type, keys] of transaction.changed) {
      for (const key of type._item === null ? keys : [null]) {
        const entry = entryOf(type as Y.AbstractType<unknown>, key)
        if (entry === undefined) continue
        let dirtyKeys = this.dirty.get(entry[0])
        if (dirtyKeys === undefined) {
          dirtyKeys = new Set()
          this.dirty.set(entry[0], dirtyKeys)
        }
        dirtyKeys.add(entry[1])
      }
    }
  }
  private readonly onProjectionUpdate = (update: Uint8Array): void => {
    this.projectionBytes += update.length
  }

  constructor(options: SpectatorViewOptions) {
    if (!(options.delayMs >= 0) || !Number.isFinite(options.delayMs)) throw new SpectatorSettingsError(`delayMs must be a finite number >= 0, not ${options.delayMs}`)
    const ratio = options.rebuildRatio ?? 4
    if (!(ratio > 1)) throw new SpectatorSettingsError(`rebuildRatio must be above 1, not ${ratio}`)
    this.delayMs = options.delayMs
    this.rebuildRatio = ratio
    this.rebuildMinBytes = options.rebuildMinBytes ?? 4096
    this.random = options.random ?? createRandom(1)
    this.delayed = this.freshDelayedSource()
    this.writer = new ProjectionWriter(this.freshProjection(), options.filter ?? {})
  }

  /** The document spectators sync: filtered, delayed content, written only by this view. */
  get projection(): Y.Doc {
    return this.writer.projection
  }

  /** How many times the projection was rebuilt: a spectator holding an older generation's document must start a fresh one. */
  get generation(): number {
    return this.projectionGeneration
  }

  /** Counters so far. */
  stats(): SpectatorViewStats {
    return {
      queueDepth: this.queue.depth,
      queueBytes: this.queue.bytes,
      projectionWrites: this.writer.writes,
      sourceEpochs: this.sourceEpochs,
      rebuilds: this.rebuilds,
    }
  }

  /** A source update (a Yjs update of the source's current epoch) that arrived at `at`. */
  receive(update: Uint8Array, at: Millis): void {
    this.queue.push(update, at)
  }

  /** The source moved to a new epoch at `at`; `state` is the new replica's whole state (`Y.encodeStateAsUpdate`). */
  receiveEpoch(state: Uint8Array, at: Millis): void {
    this.queue.pushEpoch(state, at)
  }

  /**
   * Seals the updates received since the last tick into one queue entry, applies every entry at
   * least `delayMs` old to the delayed source, and writes what changed into the projection.
   */
  tick(now: Millis): SpectatorTick {
    this.queue.seal()
    const released = this.queue.release(now - this.delayMs)
    let epochs = 0
    for (const entry of released) {
      if (entry.kind === 'updates') {
        Y.applyUpdate(this.delayed, entry.update)
        continue
      }
      // A new epoch holds the same content under fresh structs: start the delayed source over from
      // it and let the diff find what (if anything) differs from what spectators were shown.
      this.delayed.off('afterTransaction', this.onTransaction)
      this.delayed.destroy()
      this.delayed = this.freshDelayedSource()
      Y.applyUpdate(this.delayed, entry.state)
      this.everythingDirty = true
      this.sourceEpochs++
      epochs++
    }
    const dirty = this.everythingDirty ? 'all' : this.dirty
    const writes = dirty === 'all' || dirty.size > 0 ? this.writer.project(this.delayed, dirty) : 0
    this.dirty = new Map()
    this.everythingDirty = false
    return { released: released.length, epochs, writes, rebuilt: this.rebuildIfBloated() }
  }

  /** Stops the view; its documents are destroyed. */
  destroy(): void {
    this.delayed.off('afterTransaction', this.onTransaction)
    this.delayed.destroy()
    this.projection.off('update', this.onProjectionUpdate)
    this.projection.destroy()
  }

  private freshDelayedSource(): Y.Doc {
    const doc = new Y.Doc({ gc: true })
    doc.on('afterTransaction', this.onTransaction)
    return doc
  }

  private freshProjection(base?: Uint8Array): Y.Doc {
    const doc = new Y.Doc({ gc: true })
    // Client 0 writes rebuilt bases (EPOCH_BASE_CLIENT_ID); the writer takes any other id.
    doc.clientID = this.random.int(1, 0xffffffff)
    if (base !== undefined) Y.applyUpdate(doc, base)
    this.projectionBytes = base?.length ?? 0
    this.contentBytes = base?.length ?? 0
    doc.on('update', this.onProjectionUpdate)
    return doc
  }

  /** Rebuilds the projection when its history outweighs its content `rebuildRatio` times over. */
  private rebuildIfBloated(): boolean {
    // The running estimate only grows, so the exact (costly) check runs only when it could pass.
    if (this.projectionBytes < this.rebuildMinBytes || this.projectionBytes <= this.rebuildRatio * this.contentBytes) return false
    const encoded = Y.encodeStateAsUpdate(this.projection).length
    const base = rebuildContent(this.projection)
    this.projectionBytes = encoded
    this.contentBytes = base.update.length
    if (encoded < this.rebuildMinBytes || encoded <= this.rebuildRatio * base.update.length) return false
    const old = this.projection
    old.off('update', this.onProjectionUpdate)
    // The old document is left to its holders (the gateway's room closes its spectators first); it no longer changes.
    this.writer.replace(this.freshProjection(base.update))
    this.projectionGeneration++
    this.rebuilds++
    return true
  }
}
