import * as Y from 'yjs'
import { createRandom, decodeFrame, encodeFrame } from '../core/index.js'
import { encodeSyncUpdate, SyncCore } from '../replication/index.js'
import { measure, type BenchRow } from './harness.js'

const makeUpdates = (count: number, keys: number): Uint8Array[] => {
  const source = new Y.Doc()
  source.clientID = 1
  const updates: Uint8Array[] = []
  source.on('update', (update: Uint8Array) => updates.push(update))
  const map = source.getMap('entities')
  for (let i = 0; i < count; i++) map.set(`e${i % keys}`, i)
  return updates
}

const batch = (updates: readonly Uint8Array[], size: number): Uint8Array[] => {
  const out: Uint8Array[] = []
  for (let i = 0; i < updates.length; i += size) out.push(Y.mergeUpdates(updates.slice(i, i + size)))
  return out
}

/** Remote apply: raw Yjs (the floor) against the full realmsync path (frame decode, strict parse, validation, apply). */
export const runReplicationBench = async (): Promise<BenchRow[]> => {
  const count = 5000
  const singles = makeUpdates(count, 1000)
  const batched = batch(singles, 100)
  const frames = (updates: readonly Uint8Array[]) =>
    updates.map((update) => encodeFrame({ type: 'sync', doc: 'world', payload: encodeSyncUpdate(update) }))
  const singleFrames = frames(singles)
  const batchedFrames = frames(batched)

  const rawApply = (updates: readonly Uint8Array[]) => () => {
    const doc = new Y.Doc()
    for (const update of updates) Y.applyUpdate(doc, update)
  }
  // What a y-websocket server does per update: apply, with an update listener that re-encodes the
  // change for broadcast. Any replicating server pays this; it is the fair floor for our path.
  const listenerApply = (updates: readonly Uint8Array[]) => () => {
    const doc = new Y.Doc()
    doc.on('update', () => {})
    for (const update of updates) Y.applyUpdate(doc, update)
  }
  const coreApply = (encoded: readonly Uint8Array[]) => () => {
    const core = new SyncCore({ self: 'bench', random: createRandom(1), maxUpdateBytes: 1 << 24 })
    core.openDocument('world', new Y.Doc())
    for (const bytes of encoded) {
      const message = decodeFrame(bytes, { maxFrameBytes: 1 << 24 })
      if (message.type === 'sync') core.handle({ type: 'frame', from: 'remote', frame: message }, 0)
    }
  }
  const rows: BenchRow[] = []
  rows.push({ section: 'remote apply', name: 'Yjs applyUpdate, single updates', perSecond: await measure('raw single', count, rawApply(singles)), unit: 'updates/s' })
  rows.push({ section: 'remote apply', name: 'Yjs apply + update listener (y-websocket server path), single', perSecond: await measure('listener single', count, listenerApply(singles)), unit: 'updates/s', baseline: 'Yjs applyUpdate, single updates' })
  rows.push({ section: 'remote apply', name: 'realmsync peer path, single updates', perSecond: await measure('core single', count, coreApply(singleFrames)), unit: 'updates/s', baseline: 'Yjs apply + update listener (y-websocket server path), single' })
  rows.push({ section: 'remote apply', name: 'Yjs applyUpdate, merged by 100', perSecond: await measure('raw batched', count, rawApply(batched)), unit: 'updates/s' })
  rows.push({ section: 'remote apply', name: 'Yjs apply + update listener (y-websocket server path), merged', perSecond: await measure('listener batched', count, listenerApply(batched)), unit: 'updates/s', baseline: 'Yjs applyUpdate, merged by 100' })
  rows.push({
    section: 'remote apply',
    name: 'realmsync peer path, merged by 100',
    perSecond: await measure('core batched', count, coreApply(batchedFrames)),
    unit: 'updates/s',
    baseline: 'Yjs apply + update listener (y-websocket server path), merged',
    target: 100_000,
  })
  return rows
}
