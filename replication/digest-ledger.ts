import type * as Y from 'yjs'
import type { ClockRange } from '../core/index.js'
import { stateVectorOf } from './clock-ranges.js'

/**
 * The lazy half of Plumtree by clock ranges: per document, which updates this peer saw recently
 * enough to announce, and per peer which of them it has been told already.
 *
 * A digest used to carry state vectors: every client that moved since the digest before last to
 * that peer. Each peer thereby told every other peer of every update (its random digest targets
 * reach them all in time, and the delta since the last visit holds everything since), so digest
 * bytes grew with the square of the cluster. A digest now names only updates newly seen within the
 * last `windowRounds` digest rounds, never twice to one peer and never to a peer known to hold it;
 * to near peers always, to others (budgeted) at most `targetsPerUpdate` of them per update
 * (Plumtree's lazy push of each message to a few lazy peers, once). Every peer that gets an update
 * announces it to its near peers, so a peer that lacks it hears of it from several neighbours; if
 * from none, a later update that cannot integrate, or anti-entropy, repairs it.
 */
export class DigestLedger {
  /** Per document, its state vector at the end of each of the last rounds, oldest first. */
  private readonly rounds = new Map<string, Map<number, number>[]>()
  /** Per document, the ranges newly seen within the window, as of the latest round. */
  private readonly fresh = new Map<string, ClockRange[]>()
  /** Per document and client, the newest clock seen and how many budgeted peers have been told of it. */
  private readonly spread = new Map<string, Map<number, { to: number; targets: number }>>()
  /** Per peer and document, per client the clock this peer has told it up to. */
  private readonly told = new Map<string, Map<string, Map<number, number>>>()

  constructor(
    private readonly windowRounds: number,
    private readonly targetsPerUpdate: number,
  ) {}

  /**
   * A document changed. The first change after this ledger last looked at it also fixes where the
   * window starts: the replica's state before `update` (so an update opening a quiet document is
   * announced too, and nothing older is).
   */
  changed(name: string, doc: Y.Doc, before: () => ReadonlyMap<number, number>): void {
    if (this.rounds.has(name)) return
    const start = stateVectorOf(doc)
    for (const [client, clock] of before()) if (clock < (start.get(client) ?? 0)) start.set(client, clock)
    this.rounds.set(name, [start])
  }

  /** Opens a digest round of a document: its current state closes the window; returns the ranges newly seen within it. */
  beginRound(name: string, doc: Y.Doc): readonly ClockRange[] {
    const current = stateVectorOf(doc)
    const history = this.rounds.get(name) ?? [new Map<number, number>()]
    history.push(current)
    while (history.length > this.windowRounds + 1) history.shift()
    this.rounds.set(name, history)
    const start = history[0] as Map<number, number>
    let spread = this.spread.get(name)
    if (spread === undefined) this.spread.set(name, (spread = new Map()))
    const fresh: ClockRange[] = []
    for (const [client, clock] of current) {
      const from = start.get(client) ?? 0
      if (clock <= from) continue
      fresh.push({ client, from, to: clock })
      // A newer update of the client has a budget of its own.
      if (spread.get(client)?.to !== clock) spread.set(client, { to: clock, targets: 0 })
    }
    for (const client of spread.keys()) if ((start.get(client) ?? 0) >= (current.get(client) ?? 0)) spread.delete(client)
    this.fresh.set(name, fresh)
    return fresh
  }

  /**
   * What to tell `peer` of a document this round: the fresh ranges (if `budgeted`, only those not
   * yet told to `targetsPerUpdate` budgeted peers), less what it was told before and what it is
   * known to hold (`holds`, per client). Records them as told.
   */
  rangesFor(peer: string, name: string, holds: ReadonlyMap<number, number> | undefined, budgeted: boolean): ClockRange[] {
    let byDoc = this.told.get(peer)
    if (byDoc === undefined) this.told.set(peer, (byDoc = new Map()))
    let told = byDoc.get(name)
    if (told === undefined) byDoc.set(name, (told = new Map()))
    const spread = this.spread.get(name)
    const ranges: ClockRange[] = []
    for (const range of this.fresh.get(name) ?? []) {
      const budget = spread?.get(range.client)
      if (budget === undefined || (budgeted && budget.targets >= this.targetsPerUpdate)) continue
      const from = Math.max(range.from, told.get(range.client) ?? 0, holds?.get(range.client) ?? 0)
      if (range.to <= from) continue
      ranges.push({ client: range.client, from, to: range.to })
      told.set(range.client, range.to)
      if (budgeted) budget.targets++
    }
    return ranges
  }

  /** A document went quiet: its window closes, and the next change opens a new one. */
  idle(name: string): void {
    this.rounds.delete(name)
    this.fresh.delete(name)
    this.spread.delete(name)
  }

  /** A peer disconnected: it may come back having lost what it was told. */
  forgetPeer(peer: string): void {
    this.told.delete(peer)
  }

  /** A document is no longer replicated here. */
  forgetDocument(name: string): void {
    this.idle(name)
    for (const byDoc of this.told.values()) byDoc.delete(name)
  }
}
