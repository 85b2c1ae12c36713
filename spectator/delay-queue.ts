import * as Y from 'yjs'
import type { Millis } from '../core/index.js'

/** One entry of a delay queue, released once it is old enough. */
export type DelayedEntry =
  /** Updates of the source document that arrived up to `at` (merged: one entry per tick). */
  | { readonly kind: 'updates'; readonly at: Millis; readonly update: Uint8Array }
  /** The source moved to a new epoch at `at`; `state` is the whole new replica then. */
  | { readonly kind: 'epoch'; readonly at: Millis; readonly state: Uint8Array }

/**
 * Source updates waiting out a spectator delay. Updates arriving between two ticks are held open
 * and merged (`Y.mergeUpdates`) into one entry when the tick seals them, so the queue holds one
 * entry per tick of the delay window, not one per update. An entry's time is its newest update's
 * arrival: an entry is released only once everything in it is old enough, so nothing is ever
 * shown early. An epoch marker seals what came before it: updates of two epochs never merge.
 */
export class DelayQueue {
  private readonly sealed: DelayedEntry[] = []
  private open: Uint8Array[] = []
  private openAt: Millis = 0
  private sealedBytes = 0
  private openBytes = 0

  /** Holds an update of the source that arrived at `at`. */
  push(update: Uint8Array, at: Millis): void {
    this.open.push(update)
    this.openAt = Math.max(this.openAt, at)
    this.openBytes += update.length
  }

  /** Holds the source's move to a new epoch at `at`, whole new state included. */
  pushEpoch(state: Uint8Array, at: Millis): void {
    this.seal()
    this.sealed.push({ kind: 'epoch', at, state })
    this.sealedBytes += state.length
  }

  /** Merges the updates held open into one entry (a tick does this). */
  seal(): void {
    if (this.open.length === 0) return
    const update = this.open.length === 1 ? (this.open[0] as Uint8Array) : Y.mergeUpdates(this.open)
    this.sealed.push({ kind: 'updates', at: this.openAt, update })
    this.sealedBytes += update.length
    this.open = []
    this.openAt = 0
    this.openBytes = 0
  }

  /** Takes out, in arrival order, every sealed entry whose time is at or before `cutoff`. */
  release(cutoff: Millis): DelayedEntry[] {
    let count = 0
    while (count < this.sealed.length && (this.sealed[count] as DelayedEntry).at <= cutoff) count++
    const out = this.sealed.splice(0, count)
    for (const entry of out) this.sealedBytes -= entry.kind === 'updates' ? entry.update.length : entry.state.length
    return out
  }

  /** Entries held (sealed ones, plus one for the open batch if any). */
  get depth(): number {
    return this.sealed.length + (this.open.length > 0 ? 1 : 0)
  }

  /** Bytes held. */
  get bytes(): number {
    return this.sealedBytes + this.openBytes
  }
}
