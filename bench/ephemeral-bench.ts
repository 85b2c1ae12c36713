import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { decodeFrame, encodeFrame, EphemeralStore, HybridLogicalClock, type EphemeralEntry } from '../core/index.js'
import { measure, type BenchRow } from './harness.js'

/**
 * Ephemeral merge: realmsync's LWW registers against y-protocols awareness, the ephemeral channel a
 * Yjs user would reach for (one state object per client, replaced whole on every change).
 */
export const runEphemeralBench = async (): Promise<BenchRow[]> => {
  const players = 10_000
  let now = 1_000_000
  const writerClock = new HybridLogicalClock('writer', () => now)
  const entries: EphemeralEntry[] = []
  for (let i = 0; i < players; i++) {
    entries.push({ entity: `p${i}`, field: 'position', value: [i, i * 2, 0], stamp: writerClock.tick() })
  }
  // Both sides start from bytes on the wire, so decoding is part of the measured path.
  const frames: Uint8Array[] = []
  for (let i = 0; i < entries.length; i += 512) frames.push(encodeFrame({ type: 'ephemeral', entries: entries.slice(i, i + 512) }))
  const rows: BenchRow[] = []
  const realmsync = await measure('ephemeral merge', players, () => {
    now += 1
    const store = new EphemeralStore({ hlc: new HybridLogicalClock('reader', () => now), now: () => now, ttlMs: 60_000, maxEntries: 1_000_000 })
    for (const frame of frames) {
      const message = decodeFrame(frame)
      if (message.type === 'ephemeral') store.merge(message.entries)
    }
  })
  const mergeOnly = await measure('ephemeral merge (decoded)', players, () => {
    now += 1
    const store = new EphemeralStore({ hlc: new HybridLogicalClock('reader', () => now), now: () => now, ttlMs: 60_000, maxEntries: 1_000_000 })
    store.merge(entries)
  })
  // The same 10k position updates as awareness updates: one client per player.
  const source = new awarenessProtocol.Awareness(new Y.Doc())
  const updates: Uint8Array[] = []
  for (let i = 0; i < players; i++) {
    source.states.set(i + 1, { position: [i, i * 2, 0] })
    source.meta.set(i + 1, { clock: 1, lastUpdated: 0 })
    updates.push(awarenessProtocol.encodeAwarenessUpdate(source, [i + 1]))
  }
  source.destroy()
  const awareness = await measure('awareness apply', players, () => {
    const target = new awarenessProtocol.Awareness(new Y.Doc())
    for (const update of updates) awarenessProtocol.applyAwarenessUpdate(target, update, 'bench')
    target.destroy()
  })
  rows.push({ section: 'ephemeral merge', name: 'y-protocols awareness apply', perSecond: awareness, unit: 'registers/s' })
  rows.push({ section: 'ephemeral merge', name: 'realmsync decode + merge', perSecond: realmsync, unit: 'registers/s', baseline: 'y-protocols awareness apply' })
  rows.push({ section: 'ephemeral merge', name: 'realmsync EphemeralStore.merge (decoded)', perSecond: mergeOnly, unit: 'registers/s', baseline: 'y-protocols awareness apply', target: 1_000_000 })
  return rows
}
