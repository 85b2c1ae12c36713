import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import Database from 'better-sqlite3'
import { decodeIntent, encodeIntent, RealmsyncError, type IntentJournal, type JournaledIntent, type RecordingHeader, type SessionRecording } from '../core/index.js'
import { CorruptRowError, MissingDataDirError, StoreClosedError } from './errors.js'

/** The journal's database file inside a data directory (apart from the document log, so the two writers never wait on one lock). */
export const intentJournalPath = (dataDir: string): string => join(dataDir, 'intents.db')

/** Settings of the intent journal. */
export interface IntentJournalOptions {
  /** Create the data directory and database if missing (default true; tools pass false). */
  readonly create?: boolean
  /** `full` fsyncs every group commit (default); `memory` keeps nothing, for tests. */
  readonly durability?: 'full' | 'memory'
}

/** An append to a world that has no recording: `begin` it first. */
export class NoRecordingError extends RealmsyncError {
  constructor(readonly world: string) {
    super('no-recording', `world ${world} has no session recording: begin one before appending intents`)
  }
}

const JOURNAL_SCHEMA = `
  CREATE TABLE IF NOT EXISTS recordings (
    world TEXT PRIMARY KEY,
    seed INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    base BLOB NOT NULL,
    next_n INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS intents (
    world TEXT NOT NULL,
    n INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    session TEXT NOT NULL,
    data BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    PRIMARY KEY (world, n)
  ) WITHOUT ROWID;
`

const rowChecksum = (world: string, n: number, atMs: number, session: string, data: Uint8Array): number =>
  crc32(data, crc32(`i\u0000${world}\u0000${n}\u0000${atMs}\u0000${session}`))

interface PendingEntry {
  readonly world: string
  readonly entry: JournaledIntent
  readonly data: Uint8Array
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

interface IntentRow {
  n: number
  at_ms: number
  session: string
  data: Buffer
  checksum: number
}

/**
 * The durable intent journal on embedded SQLite: per world, the recording header (seed, start time,
 * the world's state when recording began) and every accepted intent in the order the engine applied
 * it. Appends are group-committed like document updates: each promise resolves after its
 * transaction committed, so the engine acknowledges an intent only once it can be replayed.
 */
export class SqliteIntentJournal implements IntentJournal {
  private readonly db: Database.Database
  private queue: PendingEntry[] = []
  private flushScheduled = false
  private closed = false
  private readonly nextN = new Map<string, number>()
  private readonly insert: Database.Statement
  private readonly bumpN: Database.Statement

  constructor(dataDir: string, options: IntentJournalOptions = {}) {
    if (options.durability === 'memory') {
      this.db = new Database(':memory:')
    } else {
      const file = intentJournalPath(dataDir)
      if (options.create === false && !existsSync(file)) throw new MissingDataDirError(dataDir, file)
      mkdirSync(dataDir, { recursive: true })
      this.db = new Database(file)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = FULL')
    }
    this.db.exec(JOURNAL_SCHEMA)
    this.insert = this.db.prepare('INSERT INTO intents (world, n, at_ms, session, data, checksum) VALUES (?, ?, ?, ?, ?, ?)')
    this.bumpN = this.db.prepare('UPDATE recordings SET next_n = ? WHERE world = ?')
  }

  async begin(world: string, header: RecordingHeader): Promise<void> {
    this.assertOpen()
    await this.flush()
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM intents WHERE world = ?').run(world)
      this.db
        .prepare('INSERT OR REPLACE INTO recordings (world, seed, start_ms, base, next_n) VALUES (?, ?, ?, ?, 0)')
        .run(world, header.seed, header.startMs, Buffer.from(header.base ?? new Uint8Array()))
    })()
    this.nextN.set(world, 0)
  }

  append(world: string, entry: JournaledIntent): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError())
    if (!this.nextN.has(world)) {
      const row = this.db.prepare('SELECT next_n FROM recordings WHERE world = ?').get(world) as { next_n: number } | undefined
      if (row === undefined) return Promise.reject(new NoRecordingError(world))
      this.nextN.set(world, row.next_n)
    }
    const data = encodeIntent(entry.intent)
    return new Promise((resolve, reject) => {
      this.queue.push({ world, entry, data, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        // One transaction per turn of the event loop: every append made in this turn shares its fsync.
        setImmediate(() => this.commitQueued())
      }
    })
  }

  async read(world: string): Promise<SessionRecording | undefined> {
    this.assertOpen()
    await this.flush()
    return this.readSync(world)
  }

  /** The recording of a world, read synchronously (for tools); corrupt rows raise `CorruptRowError`. */
  readSync(world: string): SessionRecording | undefined {
    const header = this.db.prepare('SELECT seed, start_ms, base, next_n FROM recordings WHERE world = ?').get(world) as
      | { seed: number; start_ms: number; base: Buffer; next_n: number }
      | undefined
    if (header === undefined) return undefined
    const rows = this.db.prepare('SELECT n, at_ms, session, data, checksum FROM intents WHERE world = ? ORDER BY n').all(world) as IntentRow[]
    const intents: JournaledIntent[] = []
    for (const [index, row] of rows.entries()) {
      if (row.n !== index) throw new CorruptRowError(world, 'intents', index, `row ${index} is missing`)
      if (rowChecksum(world, row.n, row.at_ms, row.session, row.data) !== row.checksum) throw new CorruptRowError(world, 'intents', row.n, 'checksum mismatch')
      try {
        intents.push({ atMs: row.at_ms, session: row.session, intent: decodeIntent(new Uint8Array(row.data)) })
      } catch (error) {
        throw new CorruptRowError(world, 'intents', row.n, error instanceof Error ? error.message : String(error))
      }
    }
    if (intents.length !== header.next_n) throw new CorruptRowError(world, 'intents', intents.length, `the recording should hold ${header.next_n} intents`)
    return { header: { seed: header.seed, startMs: header.start_ms, base: new Uint8Array(header.base) }, intents }
  }

  /** Worlds with a recording, sorted. */
  worlds(): string[] {
    return (this.db.prepare('SELECT world FROM recordings ORDER BY world').all() as Array<{ world: string }>).map((row) => row.world)
  }

  /** Commits everything queued; resolves when it is durable. */
  async flush(): Promise<void> {
    if (this.queue.length > 0) this.commitQueued()
  }

  /** Commits what is queued and closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.commitQueued()
    this.closed = true
    this.db.close()
  }

  private commitQueued(): void {
    this.flushScheduled = false
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    const used = new Map<string, number>()
    try {
      this.db.transaction(() => {
        for (const pending of batch) {
          const n = used.get(pending.world) ?? this.nextN.get(pending.world) ?? 0
          const { atMs, session } = pending.entry
          this.insert.run(pending.world, n, atMs, session, Buffer.from(pending.data), rowChecksum(pending.world, n, atMs, session, pending.data))
          used.set(pending.world, n + 1)
        }
        for (const [world, next] of used) this.bumpN.run(next, world)
      })()
    } catch (error) {
      for (const pending of batch) pending.reject(error)
      return
    }
    for (const [world, next] of used) this.nextN.set(world, next)
    for (const pending of batch) pending.resolve()
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError()
  }
}

/** Opens (creating if needed) the intent journal of a data directory. */
export const openIntentJournal = (dataDir: string, options: IntentJournalOptions = {}): SqliteIntentJournal => new SqliteIntentJournal(dataDir, options)
