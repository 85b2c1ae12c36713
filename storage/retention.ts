import type { Millis } from '../core/index.js'
import type { SnapshotInfo } from './log-tables.js'
import type { Retention } from './store-options.js'

/**
 * The sequence through which a document's history may be dropped, given its snapshots (oldest
 * first, the newest just written) and the retention policy; 0 means keep everything.
 *
 * The cut always falls on a snapshot: the snapshot at the cut stays as the base, so every moment
 * after it can still be rebuilt from that snapshot plus the retained updates. Time-based retention
 * reads the wall time of the snapshots' last updates, taking the log's order as time order (a peer
 * stamps rows from one clock), so no index on time is needed.
 */
export const retentionCut = (policy: Retention, snapshots: readonly SnapshotInfo[], now: Millis): number => {
  if (policy === 'all') return 0
  const latest = snapshots[snapshots.length - 1]
  if (!latest) return 0
  const keepUpdates = policy === 'none' ? 0 : (policy.updates ?? 0)
  const youngerThan = policy === 'none' || policy.ms === undefined ? Number.POSITIVE_INFINITY : now - policy.ms
  let cut = 0
  for (const snapshot of snapshots) {
    if (snapshot.seq <= latest.seq - keepUpdates && snapshot.wallMs < youngerThan) cut = snapshot.seq
  }
  return cut
}
