import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { validateUpdate, type DocumentStore, type LoadedDocument, type StoredUpdateMeta } from '../core/index.js'
import { CorruptRowError, StoreClosedError, UnknownDocumentError } from './errors.js'
import { ensureSchema } from './schema.js'

/** How hard a commit tries to survive: `full` survives power loss, `normal` survives a process crash. */
export type Durability = 'full' | 'normal'

/** Settings of the SQLite store. */
export interface SqliteStoreOptions {
  /** `full` (default): synchronous=FULL, a commit survives power loss. `normal`: WAL with synchronous=NORMAL, survives a process crash (SIGKILL) but may lose the last commits on power loss. */
  readonly durability?: Durability
  /** Keep the database in memory (tests); nothing survives the process. */
  readonly inMemory?: boolean
  /** Most updates committed in one transaction. Default 2000: bounds how long one commit blocks the event loop. */
  readonly maxBatch?: number
  /** Delay before a group commit, letting more appends join. Default 0 (the next macrotask). */
  readonly flushDelayMs?: number
  /** Write a snapshot of a document after this many logged updates. Default 1000. */
  readonly snapshotEvery?: number
  /** Updates kept before the latest snapshot: `all` (default, full history) or a count. */
  readonly retainUpdates?: 'all' | number
  /** Wall time for snapshot rows. Default `Date.now`. */
  readonly now?: () => number
}

/** One logged update with its metadata, as history tools read it. */
export interface UpdateRow {
  readonly seq: number
  readonly hlc: StoredUpdateMeta['hlc']
  readonly wallMs: number
  readonly origin: string
  readonly update: Uint8Array
}

/** One snapshot: the merged state of every update up to and including `seq`. */
export interface SnapshotRow {
  readonly seq: number
  readonly wallMs: number
  readonly state: Uint8Array
}

interface Pending {
  readonly docId: number
  readonly seq: number
  readonly update: Uint8Array
  readonly meta: StoredUpdateMeta
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

interface RawUpdateRow {
  seq: number
  hlc_wall: number
  hlc_counter: number
  hlc_peer: string
  wall_ms: number
  origin: string
  data: Buffer
  checksum: number
}

interface RawSnapshotRow {
  seq: number
  wall_ms: number
  data: Buffer
  checksum: number
}

/** The checksum stored next to every row, so a flipped or truncated blob is caught on load. */
export const rowChecksum = (bytes: Uint8Array): number => crc32(bytes)

/** The database file inside a data directory. */
export const databasePath = (dataDir: string): string => join(dataDir, 'realmsync.db')

/**
 * Durable document storage on embedded SQLite (WAL): an append-only update log per document with
 * group commit (an append resolves only after the transaction holding it committed), periodic
 * snapshots that compact loading, and checksummed rows.
 */
export class SqliteDocumentStore implements DocumentStore {
  private readonly db: Database.Database
  private readonly docIds = new Map<string, number>()
  private readonly nextSeq = new Map<number, number>()
  private readonly sinceSnapshot = new Map<number, number>()
  private queue: Pending[] = []
  private flushScheduled = false
  private closed = false
  private readonly maxBatch: number
  private readonly flushDelayMs: number
  private readonly snapshotEvery: number
  private readonly retainUpdates: 'all' | number
  private readonly now: () => number
  private readonly insertUpdate: Database.Statement
  /** Counters. */
  readonly stats = { commits: 0, updatesCommitted: 0, snapshots: 0 }

  constructor(dataDir: string, options: SqliteStoreOptions = {}) {
    if (!options.inMemory) mkdirSync(dataDir, { recursive: true })
    this.db = new Database(options.inMemory ? ':memory:' : databasePath(dataDir))
    this.db.pragma('journal_mode = WAL')
    this.db.pragma(`synchronous = ${options.durability === 'normal' ? 'NORMAL' : 'FULL'}`)
    ensureSchema(this.db)
    this.maxBatch = options.maxBatch ?? 2000
    this.flushDelayMs = options.flushDelayMs ?? 0
    this.snapshotEvery = options.snapshotEvery ?? 1000
    this.retainUpdates = options.retainUpdates ?? 'all'
    this.now = options.now ?? Date.now
    this.insertUpdate = this.db.prepare(
      'INSERT INTO updates (doc, seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    for (const row of this.db.prepare('SELECT id, name FROM documents').all() as Array<{ id: number; name: string }>) {
      this.docIds.set(row.name, row.id)
    }
  }

  async listDocuments(): Promise<readonly string[]> {
    return [...this.docIds.keys()].sort()
  }

  append(doc: string, update: Uint8Array, meta: StoredUpdateMeta): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError())
    const docId = this.documentId(doc)
    const seq = this.allocateSeq(docId)
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ docId, seq, update, meta, resolve, reject })
      if (this.queue.length >= this.maxBatch) this.flush()
      else this.scheduleFlush()
    })
  }

  async load(doc: string): Promise<LoadedDocument | undefined> {
    const docId = this.docIds.get(doc)
    if (docId === undefined) return undefined
    await this.flushed()
    const snapshot = this.latestSnapshot(doc, docId)
    const rows = this.db
      .prepare('SELECT seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum FROM updates WHERE doc = ? AND seq > ? ORDER BY seq')
      .all(docId, snapshot?.seq ?? 0) as RawUpdateRow[]
    const updates = rows.map((row) => this.checkedUpdate(doc, row).update)
    const loaded = { snapshot: snapshot?.state, updates }
    this.assertDecodable(doc, loaded, rows, snapshot?.seq ?? 0)
    return loaded
  }

  /** Every logged update of a document in sequence order, optionally bounded by sequence. */
  readUpdates(doc: string, range: { fromSeq?: number; toSeq?: number } = {}): UpdateRow[] {
    const docId = this.requireDocument(doc)
    const rows = this.db
      .prepare('SELECT seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum FROM updates WHERE doc = ? AND seq >= ? AND seq <= ? ORDER BY seq')
      .all(docId, range.fromSeq ?? 0, range.toSeq ?? Number.MAX_SAFE_INTEGER) as RawUpdateRow[]
    return rows.map((row) => this.checkedUpdate(doc, row))
  }

  /** Every snapshot of a document, oldest first. */
  readSnapshots(doc: string): SnapshotRow[] {
    const docId = this.requireDocument(doc)
    const rows = this.db.prepare('SELECT seq, wall_ms, data, checksum FROM snapshots WHERE doc = ? ORDER BY seq').all(docId) as RawSnapshotRow[]
    return rows.map((row) => this.checkedSnapshot(doc, row))
  }

  /** Writes a snapshot of a document now (normally done every `snapshotEvery` updates). */
  async snapshot(doc: string): Promise<SnapshotRow | undefined> {
    await this.flushed()
    return this.writeSnapshot(doc, this.requireDocument(doc))
  }

  /** Resolves once every append made so far is committed. */
  async flushed(): Promise<void> {
    while (this.queue.length > 0) this.flush()
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.flushed()
    this.closed = true
    this.db.close()
  }

  private requireDocument(doc: string): number {
    const id = this.docIds.get(doc)
    if (id === undefined) throw new UnknownDocumentError(doc)
    return id
  }

  private documentId(doc: string): number {
    let id = this.docIds.get(doc)
    if (id === undefined) {
      id = Number(this.db.prepare('INSERT INTO documents (name) VALUES (?)').run(doc).lastInsertRowid)
      this.docIds.set(doc, id)
    }
    return id
  }

  private allocateSeq(docId: number): number {
    let next = this.nextSeq.get(docId)
    if (next === undefined) {
      const row = this.db.prepare('SELECT MAX(seq) AS seq FROM updates WHERE doc = ?').get(docId) as { seq: number | null }
      const snap = this.db.prepare('SELECT MAX(seq) AS seq FROM snapshots WHERE doc = ?').get(docId) as { seq: number | null }
      next = Math.max(row.seq ?? 0, snap.seq ?? 0) + 1
    }
    this.nextSeq.set(docId, next + 1)
    return next
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    const run = (): void => {
      this.flushScheduled = false
      if (!this.closed) this.flush()
    }
    if (this.flushDelayMs > 0) setTimeout(run, this.flushDelayMs)
    else setImmediate(run)
  }

  private flush(): void {
    if (this.queue.length === 0) return
    const batch = this.queue.slice(0, this.maxBatch)
    this.queue = this.queue.slice(batch.length)
    try {
      this.db.transaction(() => {
        for (const p of batch) {
          this.insertUpdate.run(p.docId, p.seq, p.meta.hlc.wallMs, p.meta.hlc.counter, p.meta.hlc.peer, p.meta.wallMs, p.meta.origin, p.update, rowChecksum(p.update))
        }
      })()
    } catch (error) {
      for (const p of batch) p.reject(error)
      return
    }
    this.stats.commits++
    this.stats.updatesCommitted += batch.length
    for (const p of batch) p.resolve()
    for (const p of batch) this.sinceSnapshot.set(p.docId, (this.sinceSnapshot.get(p.docId) ?? 0) + 1)
    for (const [docId, count] of this.sinceSnapshot) {
      if (count < this.snapshotEvery) continue
      const name = [...this.docIds].find(([, id]) => id === docId)?.[0]
      if (name !== undefined) this.writeSnapshot(name, docId)
    }
    if (this.queue.length > 0) this.scheduleFlush()
  }

  private writeSnapshot(doc: string, docId: number): SnapshotRow | undefined {
    this.sinceSnapshot.set(docId, 0)
    const previous = this.latestSnapshot(doc, docId)
    const rows = this.db.prepare('SELECT seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum FROM updates WHERE doc = ? AND seq > ? ORDER BY seq').all(docId, previous?.seq ?? 0) as RawUpdateRow[]
    if (rows.length === 0) return previous
    const parts = rows.map((row) => this.checkedUpdate(doc, row).update)
    const state = Y.mergeUpdates(previous ? [previous.state, ...parts] : parts)
    const seq = (rows[rows.length - 1] as RawUpdateRow).seq
    const wallMs = this.now()
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO snapshots (doc, seq, wall_ms, data, checksum) VALUES (?, ?, ?, ?, ?)').run(docId, seq, wallMs, state, rowChecksum(state))
      if (this.retainUpdates !== 'all') {
        this.db.prepare('DELETE FROM updates WHERE doc = ? AND seq <= ?').run(docId, seq - this.retainUpdates)
        // Older snapshots are superseded once their updates are gone.
        this.db.prepare('DELETE FROM snapshots WHERE doc = ? AND seq < ?').run(docId, seq)
      }
    })()
    this.stats.snapshots++
    return { seq, wallMs, state }
  }

  private latestSnapshot(doc: string, docId: number): SnapshotRow | undefined {
    const row = this.db.prepare('SELECT seq, wall_ms, data, checksum FROM snapshots WHERE doc = ? ORDER BY seq DESC LIMIT 1').get(docId) as RawSnapshotRow | undefined
    return row ? this.checkedSnapshot(doc, row) : undefined
  }

  private checkedUpdate(doc: string, row: RawUpdateRow): UpdateRow {
    const update = new Uint8Array(row.data)
    if (rowChecksum(update) !== row.checksum) throw new CorruptRowError(doc, 'updates', row.seq, 'checksum mismatch')
    return { seq: row.seq, hlc: { wallMs: row.hlc_wall, counter: row.hlc_counter, peer: row.hlc_peer }, wallMs: row.wall_ms, origin: row.origin, update }
  }

  private checkedSnapshot(doc: string, row: RawSnapshotRow): SnapshotRow {
    const state = new Uint8Array(row.data)
    if (rowChecksum(state) !== row.checksum) throw new CorruptRowError(doc, 'snapshots', row.seq, 'checksum mismatch')
    return { seq: row.seq, wallMs: row.wall_ms, state }
  }

  private assertDecodable(doc: string, loaded: LoadedDocument, rows: RawUpdateRow[], snapshotSeq: number): void {
    // Yjs decodes garbage leniently (lib0 reads past the end as undefined), so every row is fully
    // decoded and sanity-checked before the peer may serve it.
    if (loaded.snapshot) {
      try {
        validateUpdate(doc, loaded.snapshot)
      } catch {
        throw new CorruptRowError(doc, 'snapshots', snapshotSeq, 'not a decodable Yjs update')
      }
    }
    loaded.updates.forEach((update, index) => {
      try {
        validateUpdate(doc, update)
      } catch {
        throw new CorruptRowError(doc, 'updates', rows[index]?.seq ?? 0, 'not a decodable Yjs update')
      }
    })
  }
}

/** Opens (creating if needed) the store in a data directory. */
export const openSqliteStore = (dataDir: string, options: SqliteStoreOptions = {}): SqliteDocumentStore =>
  new SqliteDocumentStore(dataDir, options)
