import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import Database from 'better-sqlite3'
import {
  decodeIntent,
  decodeIntentResult,
  encodeIntent,
  encodeIntentResult,
  RealmsyncError,
  type AnsweringIntentJournal,
  type IntentResult,
  type JournaledIntent,
  type RecordingHeader,
  type SessionRecording,
  type StoredSessionAnswers,
} from '../core/index.js'
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
  CREATE TABLE IF NOT EXISTS answers (
    world TEXT NOT NULL,
    session TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    effect BLOB,
    PRIMARY KEY (world, session, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS answer_floors (
    world TEXT NOT NULL,
    session TEXT NOT NULL,
    floor INTEGER NOT NULL,
    PRIMARY KEY (world, session)
  ) WITHOUT ROWID;
`

const rowChecksum = (world: string, n: number, atMs: number, session: string, data: Uint8Array): number =>
  crc32(data, crc32(`i\u0000${world}\u0000${n}\u0000${atMs}\u0000${session}`))

/** One queued write: a journal entry (with its answer, if any), an answer alone, a forgotten range or session. */
type PendingWrite =
  | { readonly kind: 'intent'; readonly world: string; readonly entry: JournaledIntent; readonly data: Uint8Array; readonly answer?: Uint8Array; readonly effect?: Uint8Array }
  | { readonly kind: 'answer'; readonly world: string; readonly session: string; readonly seq: number; readonly answer: Uint8Array }
  | { readonly kind: 'forget'; readonly world: string; readonly session: string; readonly floor: number }
  | { readonly kind: 'drop'; readonly world: string; readonly session: string }

type PendingEntry = PendingWrite & { readonly resolve: () => void; readonly reject: (error: unknown) => void }

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
 * transaction committed, so the engine acknowledges an intent only once it can be replayed. It also
 * keeps the engine's answers (`AnsweringIntentJournal`): an accepted intent's answer goes in the
 * same transaction as its journal row, and answers survive `begin` (they are about sessions, not
 * about one recording).
 */
export class SqliteIntentJournal implements AnsweringIntentJournal {
  private readonly db: Database.Database
  private queue: PendingEntry[] = []
  private flushScheduled = false
  private closed = false
  private readonly nextN = new Map<string, number>()
  private readonly insert: Database.Statement
  private readonly bumpN: Database.Statement
  private readonly insertAnswer: Database.Statement
  private readonly deleteAnswersBelow: Database.Statement
  private readonly upsertFloor: Database.Statement
  private readonly deleteSessionAnswers: Database.Statement
  private readonly deleteSessionFloor: Database.Statement

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
    this.insertAnswer = this.db.prepare('INSERT OR REPLACE INTO answers (world, session, seq, data, effect) VALUES (?, ?, ?, ?, ?)')
    this.deleteAnswersBelow = this.db.prepare('DELETE FROM answers WHERE world = ? AND session = ? AND seq < ?')
    this.upsertFloor = this.db.prepare(
      'INSERT INTO answer_floors (world, session, floor) VALUES (?, ?, ?) ON CONFLICT (world, session) DO UPDATE SET floor = max(floor, excluded.floor)',
    )
    this.deleteSessionAnswers = this.db.prepare('DELETE FROM answers WHERE world = ? AND session = ?')
    this.deleteSessionFloor = this.db.prepare('DELETE FROM answer_floors WHERE world = ? AND session = ?')
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
    return this.appendEntry(world, entry)
  }

  appendAnswered(world: string, entry: JournaledIntent, answer: IntentResult, effect?: Uint8Array): Promise<void> {
    return this.appendEntry(world, entry, encodeIntentResult(answer), effect)
  }

  rememberAnswer(world: string, session: string, answer: IntentResult): Promise<void> {
    return this.enqueue({ kind: 'answer', world, session, seq: answer.seq, answer: encodeIntentResult(answer) })
  }

  forgetAnswers(world: string, session: string, floor: number): Promise<void> {
    return this.enqueue({ kind: 'forget', world, session, floor })
  }

  dropSession(world: string, session: string): Promise<void> {
    return this.enqueue({ kind: 'drop', world, session })
  }

  async loadAnswers(world: string): Promise<StoredSessionAnswers[]> {
    this.assertOpen()
    await this.flush()
    return this.loadAnswersSync(world)
  }

  /** Every session's remembered answers for a world, read synchronously; a row that does not decode raises `CorruptRowError`. */
  loadAnswersSync(world: string): StoredSessionAnswers[] {
    const bySession = new Map<string, { floor: number; answers: IntentResult[]; effects: Uint8Array[] }>()
    for (const row of this.db.prepare('SELECT session, floor FROM answer_floors WHERE world = ? ORDER BY session').all(world) as Array<{ session: string; floor: number }>) {
      bySession.set(row.session, { floor: row.floor, answers: [], effects: [] })
    }
    const rows = this.db.prepare('SELECT session, seq, data, effect FROM answers WHERE world = ? ORDER BY session, seq').iterate(world) as Iterable<{
      session: string
      seq: number
      data: Buffer
      effect: Buffer | null
    }>
    for (const row of rows) {
      let answer: IntentResult
      try {
        answer = decodeIntentResult(new Uint8Array(row.data))
      } catch (error) {
        throw new CorruptRowError(world, 'answers', row.seq, error instanceof Error ? error.message : String(error))
      }
      if (answer.seq !== row.seq) throw new CorruptRowError(world, 'answers', row.seq, `the row holds the answer to ${answer.seq}`)
      let session = bySession.get(row.session)
      if (session === undefined) bySession.set(row.session, (session = { floor: 0, answers: [], effects: [] }))
      if (row.seq < session.floor) continue
      session.answers.push(answer)
      if (row.effect !== null) session.effects.push(new Uint8Array(row.effect))
    }
    return [...bySession].map(([session, { floor, answers, effects }]) => ({ session, floor, answers, effects }))
  }

  private appendEntry(world: string, entry: JournaledIntent, answer?: Uint8Array, effect?: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError())
    if (!this.nextN.has(world)) {
      const row = this.db.prepare('SELECT next_n FROM recordings WHERE world = ?').get(world) as { next_n: number } | undefined
      if (row === undefined) return Promise.reject(new NoRecordingError(world))
      this.nextN.set(world, row.next_n)
    }
    const data = encodeIntent(entry.intent)
    return this.enqueue({ kind: 'intent', world, entry, data, ...(answer !== undefined ? { answer } : {}), ...(effect !== undefined ? { effect } : {}) })
  }

  private enqueue(write: PendingWrite): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError())
    return new Promise((resolve, reject) => {
      this.queue.push({ ...write, resolve, reject })
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
        for (const pending of batch) this.write(pending, used)
        for (const [world, next] of used) this.bumpN.run(next, world)
      })()
    } catch (error) {
      for (const pending of batch) pending.reject(error)
      return
    }
    for (const [world, next] of used) this.nextN.set(world, next)
    for (const pending of batch) pending.resolve()
  }

  /** Writes one queued entry inside the commit's transaction; `used` counts the journal rows taken per world. */
  private write(pending: PendingWrite, used: Map<string, number>): void {
    switch (pending.kind) {
      case 'intent': {
        const n = used.get(pending.world) ?? this.nextN.get(pending.world) ?? 0
        const { atMs, session, intent } = pending.entry
        this.insert.run(pending.world, n, atMs, session, Buffer.from(pending.data), rowChecksum(pending.world, n, atMs, session, pending.data))
        used.set(pending.world, n + 1)
        if (pending.answer !== undefined) {
          this.insertAnswer.run(pending.world, session, intent.seq, Buffer.from(pending.answer), pending.effect === undefined ? null : Buffer.from(pending.effect))
        }
        return
      }
      case 'answer':
        this.insertAnswer.run(pending.world, pending.session, pending.seq, Buffer.from(pending.answer), null)
        return
      case 'forget':
        this.deleteAnswersBelow.run(pending.world, pending.session, pending.floor)
        this.upsertFloor.run(pending.world, pending.session, pending.floor)
        return
      case 'drop':
        this.deleteSessionAnswers.run(pending.world, pending.session)
        this.deleteSessionFloor.run(pending.world, pending.session)
        return
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError()
  }
}

/** Opens (creating if needed) the intent journal of a data directory. */
export const openIntentJournal = (dataDir: string, options: IntentJournalOptions = {}): SqliteIntentJournal => new SqliteIntentJournal(dataDir, options)
