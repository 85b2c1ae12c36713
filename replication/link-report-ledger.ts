import { wireLinkLatency, type LinkReport } from '../core/index.js'
import { quantizeLatency } from './latency-map.js'

/** Every this many pings to a peer carries the whole link report, whatever it is known to hold. */
export const FULL_LINK_REPORT_EVERY = 8

/** Pings whose answer is still awaited per peer, at most; older ones count as lost. */
const MAX_UNANSWERED = 16

/** A link value as receivers compare it: its latency bucket, or null for a link that is down. */
type Bucket = number | null

interface SentReport {
  readonly full: boolean
  readonly entries: ReadonlyMap<string, Bucket>
}

interface PeerLedger {
  /** What the peer is known to hold of our report (as of the newest answered ping); undefined: nothing known. */
  held: Map<string, Bucket> | undefined
  /** Reports in pings not answered yet, by nonce (ascending). */
  readonly unanswered: Map<number, SentReport>
  pings: number
  newestAnswered: number
}

// The bucket of the value the receiver decodes, not of ours: near a bucket edge the wire's rounding
// can move a value across it, and the receiver must end up with what a whole report would give it.
const bucketOf = (link: LinkReport): Bucket => (link.oneWayMs === null ? null : quantizeLatency(wireLinkLatency(link.oneWayMs)))

/**
 * What each peer holds of this peer's link report, so a ping carries only what changed. A ping's
 * report counts as held once its pong arrives; until then its links are sent again in every later
 * ping, so a lost ping or pong costs a little repetition, never a stale entry. Every
 * `FULL_LINK_REPORT_EVERY`th ping, the first one to a peer, any ping after one of our links went
 * away, and every ping while a whole report is unanswered carry the whole report, which the
 * receiver takes in place of what it had.
 *
 * Links are compared by latency bucket (the latency map's ~10% buckets): a change inside a bucket
 * does not move any tree, so it is not worth a byte.
 */
export class LinkReportLedger {
  private readonly peers = new Map<string, PeerLedger>()

  /** The report for the ping `nonce` to `peer`, given our current links: whole, or only what the peer may lack. */
  compose(peer: string, nonce: number, links: readonly LinkReport[]): { readonly full: boolean; readonly links: readonly LinkReport[] } {
    let ledger = this.peers.get(peer)
    if (ledger === undefined) {
      ledger = { held: undefined, unanswered: new Map(), pings: 0, newestAnswered: -1 }
      this.peers.set(peer, ledger)
    }
    ledger.pings++
    const current = new Map<string, Bucket>()
    for (const link of links) current.set(link.peer, bucketOf(link))
    const held = ledger.held
    let full = held === undefined || ledger.pings % FULL_LINK_REPORT_EVERY === 0
    if (!full) for (const key of held!.keys()) if (!current.has(key)) full = true
    // A whole report in flight may have replaced the peer's view, dropping links it did not name:
    // only another whole report leaves the peer exact either way.
    if (!full) for (const report of ledger.unanswered.values()) if (report.full) full = true
    let sent: LinkReport[]
    if (full) {
      sent = [...links]
      this.remember(ledger, nonce, { full: true, entries: current })
    } else {
      // Anything differing from what the peer holds, plus anything sent in a ping not answered yet
      // (it may have arrived, and a value may have moved back since): the receiver ends up exact.
      const keys = new Set<string>()
      for (const [key, bucket] of current) if (held!.get(key) !== bucket || !held!.has(key)) keys.add(key)
      for (const report of ledger.unanswered.values()) for (const key of report.entries.keys()) keys.add(key)
      sent = []
      const entries = new Map<string, Bucket>()
      for (const link of links) {
        if (!keys.has(link.peer)) continue
        sent.push(link)
        entries.set(link.peer, current.get(link.peer) ?? null)
      }
      // A link sent in an unanswered full report and gone since: say it is down.
      for (const key of keys) {
        if (current.has(key)) continue
        sent.push({ peer: key, oneWayMs: null })
        entries.set(key, null)
      }
      this.remember(ledger, nonce, { full: false, entries })
    }
    return { full, links: sent }
  }

  /** The pong for ping `nonce` from `peer` arrived: what that ping carried is now held there. */
  answered(peer: string, nonce: number): void {
    const ledger = this.peers.get(peer)
    const report = ledger?.unanswered.get(nonce)
    if (ledger === undefined || report === undefined || nonce <= ledger.newestAnswered) return
    ledger.newestAnswered = nonce
    if (report.full) ledger.held = new Map(report.entries)
    else for (const [key, bucket] of report.entries) ledger.held!.set(key, bucket)
    for (const older of ledger.unanswered.keys()) {
      if (older > nonce) break
      ledger.unanswered.delete(older)
    }
  }

  /** The connection to `peer` went down: it may forget our report, so the next ping is whole. */
  forget(peer: string): void {
    this.peers.delete(peer)
  }

  private remember(ledger: PeerLedger, nonce: number, report: SentReport): void {
    ledger.unanswered.set(nonce, report)
    if (ledger.unanswered.size > MAX_UNANSWERED) {
      const oldest = ledger.unanswered.keys().next().value as number
      ledger.unanswered.delete(oldest)
    }
  }
}
