// Storage benchmarks: durable appends per second with group commit, recovery time of a document
// with a long log (1M updates by default), and `history show --at` on it.
//
//   npx tsx bench/storage-bench.ts [recoveryUpdates=1000000]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import type { StoredUpdateMeta } from '../core/index.js'
import { applyRows, history, MERGE_CHUNK, openSqliteStore, type SqliteStoreOptions } from '../storage/index.js'
import type { BenchRow } from './harness.js'

/** Options of the storage benchmarks. */
export interface StorageBenchOptions {
  /** Updates appended in each throughput run. Default 100 000. */
  readonly appendUpdates?: number
  /** Size of the document whose recovery is timed. Default 1 000 000. */
  readonly recoveryUpdates?: number
}

/** `count` small Yjs updates: overwrites of 1,000 keys of one map, as a busy world document makes them. */
const makeUpdates = (count: number, clientID = 1): Uint8Array[] => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  const map = doc.getMap('entities')
  for (let i = 0; i < count; i++) map.set(`e${i % 1000}`, i)
  return updates
}

const meta = (n: number): StoredUpdateMeta => ({ hlc: { wallMs: 1_700_000_000_000 + n, counter: 0, peer: 'bench' }, wallMs: 1_700_000_000_000 + n, origin: 'bench' })

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'realmsync-bench-'))

const seconds = (since: number): number => (performance.now() - since) / 1000

/** Appends `updates` with the given concurrency and returns durable (acknowledged) updates per second. */
const appendRate = async (updates: readonly Uint8Array[], options: SqliteStoreOptions, writers: number | 'all'): Promise<number> => {
  const dir = tempDir()
  const store = openSqliteStore(dir, { snapshotEvery: 0, ...options })
  const start = performance.now()
  if (writers === 'all') {
    // Open loop: a burst of appends in flight at once (a peer applying a merged batch of remote updates).
    await Promise.all(updates.map((update, n) => store.append('world', update, meta(n))))
  } else {
    // Closed loop: `writers` callers, each awaiting its acknowledgement before its next update.
    let next = 0
    const writer = async (): Promise<void> => {
      for (let n = next++; n < updates.length; n = next++) await store.append('world', updates[n] as Uint8Array, meta(n))
    }
    await Promise.all(Array.from({ length: writers }, writer))
  }
  const rate = updates.length / seconds(start)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  return rate
}

/** Builds a data directory holding one document with `total` updates (snapshots every 1,000, full history kept). */
const buildLongLog = async (dir: string, total: number): Promise<void> => {
  const store = openSqliteStore(dir, { synchronous: 'normal', maxBatch: 5000 })
  // One writer client, generated in chunks so the updates never all sit in memory: one causal history.
  const writer = new Y.Doc()
  writer.clientID = 42
  let pending: Uint8Array[] = []
  writer.on('update', (update: Uint8Array) => pending.push(update))
  const map = writer.getMap('entities')
  const chunk = 50_000
  for (let start = 0; start < total; start += chunk) {
    pending = []
    for (let i = start; i < Math.min(total, start + chunk); i++) map.set(`e${i % 1000}`, i)
    await Promise.all(pending.map((update, k) => store.append('world', update, meta(start + k))))
  }
  await store.close()
}

/** Runs the storage benchmarks and returns their rows (JSON-serialisable). */
export const runStorageBench = async (options: StorageBenchOptions = {}): Promise<BenchRow[]> => {
  const rows: BenchRow[] = []
  const appendCount = options.appendUpdates ?? 100_000
  const updates = makeUpdates(appendCount)
  const baselineName = 'one commit per update (durability sync, synchronous=FULL)'
  rows.push({ section: 'storage appends', name: baselineName, perSecond: await appendRate(updates.slice(0, 3000), { durability: 'sync' }, 1), unit: 'updates/s' })
  const grouped: Array<[string, SqliteStoreOptions, number | 'all']> = [
    ['group commit, burst in flight (synchronous=FULL)', {}, 'all'],
    ['group commit, 256 writers awaiting acks (synchronous=FULL)', {}, 256],
    ['group commit, 32 writers awaiting acks (synchronous=FULL)', {}, 32],
    ['group commit, burst in flight (synchronous=NORMAL)', { synchronous: 'normal' }, 'all'],
  ]
  for (const [name, storeOptions, writers] of grouped) {
    rows.push({ section: 'storage appends', name, perSecond: await appendRate(updates, storeOptions, writers), unit: 'updates/s', baseline: baselineName, target: 50_000 })
  }

  const total = options.recoveryUpdates ?? 1_000_000
  const dir = tempDir()
  const buildStart = performance.now()
  await buildLongLog(dir, total)
  const buildSeconds = seconds(buildStart)

  // Recovery: what a restarting peer does, open the store, load the document, rebuild the Y.Doc.
  const recoveryStart = performance.now()
  const store = openSqliteStore(dir, { snapshotEvery: 0 })
  const loaded = await store.load('world')
  const recovered = new Y.Doc()
  if (loaded?.snapshot) Y.applyUpdate(recovered, loaded.snapshot)
  const tail = loaded?.updates ?? []
  for (let i = 0; i < tail.length; i += MERGE_CHUNK) Y.applyUpdate(recovered, Y.mergeUpdates(tail.slice(i, i + MERGE_CHUNK)))
  const recoverySeconds = seconds(recoveryStart)
  const recoveredKeys = recovered.getMap('entities').size

  // Baseline: recovering by replaying the whole log, as a store without snapshots must.
  const replayStart = performance.now()
  const replayed = new Y.Doc()
  store.forEachUpdatePage('world', {}, (page) => applyRows('world', replayed, page))
  const replaySeconds = seconds(replayStart)

  const reader = history(store)
  const showSeqStart = performance.now()
  const middle = reader.stateAt('world', { seq: Math.floor(total / 2) + 7 })
  const showSeqSeconds = seconds(showSeqStart)
  const showTimeStart = performance.now()
  reader.stateAt('world', { timeMs: meta(Math.floor(total / 3) + 11).wallMs })
  const showTimeSeconds = seconds(showTimeStart)
  const info = store.logInfo('world')
  await store.close()
  rmSync(dir, { recursive: true, force: true })

  const extra = { updates: total, snapshots: info.snapshots.length, latestSnapshotBytes: info.snapshots.at(-1)?.bytes ?? 0, buildSeconds: Number(buildSeconds.toFixed(1)) }
  rows.push({ section: 'storage recovery', name: `full log replay, ${total} updates (no snapshots)`, perSecond: total / replaySeconds, unit: 'updates/s', extra: { seconds: Number(replaySeconds.toFixed(3)) } })
  rows.push({
    section: 'storage recovery',
    name: `realmsync load (snapshot + tail), ${total} updates`,
    perSecond: total / recoverySeconds,
    unit: 'updates/s',
    baseline: `full log replay, ${total} updates (no snapshots)`,
    extra: { ...extra, seconds: Number(recoverySeconds.toFixed(4)), targetSeconds: 5, keys: recoveredKeys, tailUpdates: loaded?.updates.length ?? 0 },
  })
  rows.push({ section: 'storage recovery', name: `history show --at seq (mid-log), ${total} updates`, perSecond: 1 / showSeqSeconds, unit: 'queries/s', extra: { seconds: Number(showSeqSeconds.toFixed(4)), seq: middle.seq } })
  rows.push({ section: 'storage recovery', name: `history show --at time, ${total} updates`, perSecond: 1 / showTimeSeconds, unit: 'queries/s', extra: { seconds: Number(showTimeSeconds.toFixed(4)) } })
  return rows
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await runStorageBench({ recoveryUpdates: Number(process.argv[2] ?? 1_000_000) })
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`)
}
