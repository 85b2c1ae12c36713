import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { Millis } from '../core/index.js'

/** One epoch of a document as storage recorded it: what the peer stored under the epoch's name. */
export interface EpochRecord {
  /** The document. */
  readonly doc: string
  /** The epoch number (0: the document's first epoch). */
  readonly n: number
  /** The epoch id's tag from the wire name (empty for epoch 0). */
  readonly tag: string
  /** The name its rows are stored under: the document's own name for epoch 0, `name#n.tag` after. */
  readonly wire: string
  /** SHA-256 (hex) of the epoch's base, its first stored row: the content hash of the epoch id (empty for epoch 0 or when unknown). */
  readonly hash: string
  /** Wall time this peer entered the epoch (its base row's time; epoch 0: its first row's). */
  readonly switchedMs: Millis
  /** Size of the base update (0 for epoch 0). */
  readonly baseBytes: number
  /** When retention dropped the epoch's rows (it was closed and outside the kept window), if it did. */
  readonly droppedMs?: Millis
}

interface RawEpochRow {
  doc: string
  n: number
  tag: string
  wire: string
  hash: string
  switched_ms: number
  base_bytes: number
  dropped_ms: number | null
}

/** SHA-256 of an update as lowercase hex: an epoch's content hash is this of its base. */
export const baseHash = (update: Uint8Array): string => createHash('sha256').update(update).digest('hex')

const recordOf = (row: RawEpochRow): EpochRecord => ({
  doc: row.doc,
  n: row.n,
  tag: row.tag,
  wire: row.wire,
  hash: row.hash,
  switchedMs: row.switched_ms,
  baseBytes: row.base_bytes,
  ...(row.dropped_ms === null ? {} : { droppedMs: row.dropped_ms }),
})

/**
 * The epoch chain of each document, one row per epoch this peer stored. The table is additive (an
 * older database gets it on open, filled from what is stored), so the schema version stays; its
 * rows outlive the epochs' own rows when retention drops those, so the chain's answers stay whole.
 */
export class EpochTable {
  private readonly statements

  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS epochs (
        wire TEXT PRIMARY KEY,
        doc TEXT NOT NULL,
        n INTEGER NOT NULL,
        tag TEXT NOT NULL,
        hash TEXT NOT NULL,
        switched_ms INTEGER NOT NULL,
        base_bytes INTEGER NOT NULL,
        dropped_ms INTEGER
      );
      CREATE INDEX IF NOT EXISTS epochs_by_doc ON epochs (doc);
    `)
    this.statements = {
      insert: db.prepare('INSERT OR IGNORE INTO epochs (wire, doc, n, tag, hash, switched_ms, base_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      // The order this peer entered them: by switch time, insertion order breaking ties.
      chain: db.prepare('SELECT doc, n, tag, wire, hash, switched_ms, base_bytes, dropped_ms FROM epochs WHERE doc = ? ORDER BY n = 0 DESC, switched_ms, rowid'),
      byWire: db.prepare('SELECT doc, n, tag, wire, hash, switched_ms, base_bytes, dropped_ms FROM epochs WHERE wire = ?'),
      markDropped: db.prepare('UPDATE epochs SET dropped_ms = ? WHERE wire = ?'),
    }
  }

  /** Records an epoch unless it is recorded already; true if it was new. */
  record(epoch: Omit<EpochRecord, 'droppedMs'>): boolean {
    return this.statements.insert.run(epoch.wire, epoch.doc, epoch.n, epoch.tag, epoch.hash, epoch.switchedMs, epoch.baseBytes).changes > 0
  }

  /** A document's epochs in the order this peer entered them (empty: it never left epoch 0). */
  chain(doc: string): EpochRecord[] {
    return (this.statements.chain.all(doc) as RawEpochRow[]).map(recordOf)
  }

  /** The record of the epoch stored under `wire`, if any. */
  byWire(wire: string): EpochRecord | undefined {
    const row = this.statements.byWire.get(wire) as RawEpochRow | undefined
    return row && recordOf(row)
  }

  /** Marks an epoch's rows as dropped by retention. */
  markDropped(wire: string, atMs: Millis): void {
    this.statements.markDropped.run(atMs, wire)
  }
}
