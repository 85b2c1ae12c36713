import type Database from 'better-sqlite3'
import { InvalidUpdateError, validateUpdate, type HlcTimestamp, type Millis, type StoredUpdateMeta } from '../core/index.js'
import { CorruptRowError, type StoredTable } from './errors.js'
import { snapshotRowChecksum, updateRowChecksum } from './row-checksum.js'

/** One logged update with its metadata, as history tools read it. */
export interface UpdateRow {
  /** Position in the document's log, from 1, without gaps. */
  readonly seq: number
  /** Hybrid-logical-clock time at the peer that stored it. */
  readonly hlc: HlcTimestamp
  /** Wall time the update was stored, in ms. */
  readonly wallMs: Millis
  /** The peer (or client) whose change this is. */
  readonly origin: string
  /** The Yjs update (V1). */
  readonly update: Uint8Array
}

/** What a snapshot covers, without its bytes. */
export interface SnapshotInfo {
  /** The last log sequence the snapshot includes. */
  readonly seq: number
  /** Wall time of that last included update. */
  readonly wallMs: Millis
  /** When the snapshot was written. */
  readonly createdMs: Millis
  /** Size of the encoded state. */
  readonly bytes: number
}

/** One snapshot: `Y.encodeStateAsUpdate` of every update up to and including `seq`. */
export interface SnapshotRow extends SnapshotInfo {
  readonly state: Uint8Array
}

/** Rows read per query when walking a long log, so it never sits in memory at once. */
export const LOG_PAGE_ROWS = 4096

/** Where a document's log stands. */
export interface LogInfo {
  /** The last sequence committed (0: nothing yet). */
  readonly lastSeq: number
  /** First and last sequence still in the log (0 when no rows are kept), and the row count. */
  readonly firstRetainedSeq: number
  readonly lastRetainedSeq: number
  readonly retainedUpdates: number
  /** Every snapshot, oldest first. */
  readonly snapshots: readonly SnapshotInfo[]
  /** The earliest sequence whose state can be rebuilt (0: the whole history). */
  readonly historyStartSeq: number
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
  created_ms: number
  data: Buffer
  checksum: number
}

const bytesOf = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

/** Throws `CorruptRowError` unless Yjs can decode `bytes` completely. */
export const assertDecodableRow = (doc: string, table: StoredTable, seq: number, bytes: Uint8Array): void => {
  try {
    validateUpdate(doc, bytes)
  } catch (error) {
    const reason = error instanceof InvalidUpdateError ? error.message.replace(/^invalid update for document .*?: /, '') : String(error)
    throw new CorruptRowError(doc, table, seq, `not a decodable Yjs update: ${reason}`)
  }
}

/**
 * The tables of one database and the statements over them. Every row read here has had its checksum
 * checked; decoding the Yjs bytes is left to the callers that need it (`assertDecodableRow`).
 */
export class LogTables {
  private readonly ids = new Map<string, number>()
  private readonly statements

  constructor(private readonly db: Database.Database) {
    const updateColumns = 'seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum'
    this.statements = {
      documents: db.prepare('SELECT id, name FROM documents ORDER BY name'),
      lastSeq: db.prepare('SELECT last_seq FROM documents WHERE id = ?').pluck(),
      setLastSeq: db.prepare('UPDATE documents SET last_seq = ? WHERE id = ?'),
      createDocument: db.prepare('INSERT INTO documents (name) VALUES (?) RETURNING id'),
      insertUpdate: db.prepare(
        'INSERT INTO updates (doc, seq, hlc_wall, hlc_counter, hlc_peer, wall_ms, origin, data, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      updates: db.prepare(`SELECT ${updateColumns} FROM updates WHERE doc = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`),
      updateBounds: db.prepare('SELECT MIN(seq) AS first, MAX(seq) AS last, COUNT(*) AS count FROM updates WHERE doc = ?'),
      bytesAfter: db.prepare('SELECT COALESCE(SUM(length(data)), 0) FROM updates WHERE doc = ? AND seq > ?').pluck(),
      lastSeqAtTime: db.prepare('SELECT MAX(seq) AS seq FROM updates WHERE doc = ? AND seq > ? AND seq <= ? AND wall_ms <= ?'),
      snapshotInfos: db.prepare('SELECT seq, wall_ms, created_ms, length(data) AS bytes FROM snapshots WHERE doc = ? ORDER BY seq'),
      snapshotAtOrBefore: db.prepare('SELECT seq, wall_ms, created_ms, data, checksum FROM snapshots WHERE doc = ? AND seq <= ? ORDER BY seq DESC LIMIT 1'),
      insertSnapshot: db.prepare('INSERT INTO snapshots (doc, seq, wall_ms, created_ms, data, checksum) VALUES (?, ?, ?, ?, ?, ?)'),
      deleteUpdatesThrough: db.prepare('DELETE FROM updates WHERE doc = ? AND seq <= ?'),
      deleteSnapshotsBefore: db.prepare('DELETE FROM snapshots WHERE doc = ? AND seq < ?'),
    }
    for (const row of this.statements.documents.all() as Array<{ id: number; name: string }>) this.ids.set(row.name, row.id)
  }

  /** Names of every stored document, sorted. */
  documentNames(): string[] {
    return [...this.ids.keys()].sort()
  }

  /** The internal id of a document, if it is stored. */
  documentId(doc: string): number | undefined {
    return this.ids.get(doc)
  }

  /** Creates a document row (inside the caller's transaction) and returns its id. */
  createDocument(doc: string): number {
    const { id } = this.statements.createDocument.get(doc) as { id: number }
    this.ids.set(doc, id)
    return id
  }

  /** Forgets a document created in a transaction that rolled back. */
  forgetDocument(doc: string): void {
    this.ids.delete(doc)
  }

  /** The last sequence ever committed for a document (rows may since have been dropped by retention). */
  lastSeq(docId: number): number {
    return this.statements.lastSeq.get(docId) as number
  }

  /** Records the last committed sequence (inside the transaction that inserted it). */
  setLastSeq(docId: number, seq: number): void {
    this.statements.setLastSeq.run(seq, docId)
  }

  /** Inserts one update row with its checksum. */
  insertUpdate(docId: number, doc: string, seq: number, meta: StoredUpdateMeta, data: Uint8Array): void {
    const { hlc } = meta
    this.statements.insertUpdate.run(docId, seq, hlc.wallMs, hlc.counter, hlc.peer, meta.wallMs, meta.origin, data, updateRowChecksum(doc, seq, meta, data))
  }

  /** First and last logged sequence and the row count (first/last 0 when the log is empty). */
  updateBounds(docId: number): { first: number; last: number; count: number } {
    const row = this.statements.updateBounds.get(docId) as { first: number | null; last: number | null; count: number }
    return { first: row.first ?? 0, last: row.last ?? 0, count: row.count }
  }

  /** Total size of the update rows after `seq`. */
  bytesAfter(docId: number, seq: number): number {
    return this.statements.bytesAfter.get(docId, seq) as number
  }

  /** Checked update rows with `fromSeq <= seq <= toSeq`, in order, at most `limit`. */
  updates(doc: string, docId: number, fromSeq: number, toSeq: number, limit = -1): UpdateRow[] {
    const rows = this.statements.updates.all(docId, fromSeq, toSeq, limit) as RawUpdateRow[]
    return rows.map((row) => this.checkedUpdate(doc, row))
  }

  /** Calls `each` with successive pages of at most `LOG_PAGE_ROWS` checked rows with `fromSeq <= seq <= toSeq`. */
  forEachUpdatePage(doc: string, docId: number, fromSeq: number, toSeq: number, each: (page: readonly UpdateRow[]) => void): void {
    let from = fromSeq
    for (;;) {
      const page = this.updates(doc, docId, from, toSeq, LOG_PAGE_ROWS)
      if (page.length > 0) each(page)
      const last = page[page.length - 1]
      if (page.length < LOG_PAGE_ROWS || !last) return
      from = last.seq + 1
    }
  }

  /**
   * The sequence of the last update stored at or before `timeMs` (0 if none). Snapshots record the
   * wall time of their last update, so only one snapshot interval of rows is scanned; the log's
   * order is taken as time order.
   */
  seqAtTime(docId: number, timeMs: Millis): number {
    let after = 0
    let through = Number.MAX_SAFE_INTEGER
    for (const snapshot of this.snapshotInfos(docId)) {
      if (snapshot.wallMs <= timeMs) after = snapshot.seq
      else {
        through = snapshot.seq
        break
      }
    }
    const row = this.statements.lastSeqAtTime.get(docId, after, through, timeMs) as { seq: number | null }
    return row.seq ?? after
  }

  /** Where a document's log stands: sequences, retained rows, snapshots, how far back history goes. */
  logInfo(docId: number): LogInfo {
    const bounds = this.updateBounds(docId)
    const snapshots = this.snapshotInfos(docId)
    // Retention cuts at a snapshot and keeps it, so when early rows are gone the oldest snapshot is the base.
    const historyStartSeq = bounds.first === 1 || (bounds.count === 0 && snapshots.length === 0) ? 0 : (snapshots[0]?.seq ?? bounds.first - 1)
    return {
      lastSeq: this.lastSeq(docId),
      firstRetainedSeq: bounds.first,
      lastRetainedSeq: bounds.last,
      retainedUpdates: bounds.count,
      snapshots,
      historyStartSeq,
    }
  }

  /** Every snapshot of a document (without bytes), oldest first. */
  snapshotInfos(docId: number): SnapshotInfo[] {
    const rows = this.statements.snapshotInfos.all(docId) as Array<{ seq: number; wall_ms: number; created_ms: number; bytes: number }>
    return rows.map((row) => ({ seq: row.seq, wallMs: row.wall_ms, createdMs: row.created_ms, bytes: row.bytes }))
  }

  /** The newest checked snapshot covering at most `seq`. */
  snapshotAtOrBefore(doc: string, docId: number, seq: number): SnapshotRow | undefined {
    const row = this.statements.snapshotAtOrBefore.get(docId, seq) as RawSnapshotRow | undefined
    if (!row) return undefined
    const state = bytesOf(row.data)
    if (snapshotRowChecksum(doc, row.seq, row.wall_ms, state) !== row.checksum) throw new CorruptRowError(doc, 'snapshots', row.seq, 'checksum mismatch')
    return { seq: row.seq, wallMs: row.wall_ms, createdMs: row.created_ms, bytes: state.byteLength, state }
  }

  /** Inserts a snapshot row with its checksum. */
  insertSnapshot(docId: number, doc: string, snapshot: SnapshotRow): void {
    const checksum = snapshotRowChecksum(doc, snapshot.seq, snapshot.wallMs, snapshot.state)
    this.statements.insertSnapshot.run(docId, snapshot.seq, snapshot.wallMs, snapshot.createdMs, snapshot.state, checksum)
  }

  /** Drops the update rows up to and including `seq`, and the snapshots before `seq` (retention). */
  dropHistoryBefore(docId: number, seq: number): number {
    const dropped = this.statements.deleteUpdatesThrough.run(docId, seq).changes
    this.statements.deleteSnapshotsBefore.run(docId, seq)
    return dropped
  }

  private checkedUpdate(doc: string, row: RawUpdateRow): UpdateRow {
    const update = bytesOf(row.data)
    const meta = { hlc: { wallMs: row.hlc_wall, counter: row.hlc_counter, peer: row.hlc_peer }, wallMs: row.wall_ms, origin: row.origin }
    if (updateRowChecksum(doc, row.seq, meta, update) !== row.checksum) throw new CorruptRowError(doc, 'updates', row.seq, 'checksum mismatch')
    return { seq: row.seq, ...meta, update }
  }
}
