import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { expectEnd, readStrictBytes, readStrictString, readStrictUint, type Millis, type StoredEpoch, type StoredEpochLink } from '../core/index.js'
import { CorruptRowError } from './errors.js'

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

/** Columns a database written before switch records were kept lacks; added on open (NULL in old rows). */
const SWITCH_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['coordinator', 'TEXT'],
  ['cut', 'BLOB'],
  ['chain', 'BLOB'],
  ['base', 'BLOB'],
]

/** Encodes a chain (oldest first) for the `chain` column. */
export const encodeStoredChain = (chain: readonly StoredEpochLink[]): Uint8Array => {
  const out = encoding.createEncoder()
  encoding.writeVarUint(out, chain.length)
  for (const link of chain) {
    encoding.writeVarUint(out, link.n)
    encoding.writeVarString(out, link.coordinator)
    encoding.writeVarString(out, link.hash)
    encoding.writeVarUint8Array(out, link.cut)
  }
  return encoding.toUint8Array(out)
}

/** Decodes a `chain` column strictly: at least one link, numbers rising by one; throws `MalformedFrameError` otherwise. */
export const decodeStoredChain = (bytes: Uint8Array): StoredEpochLink[] => {
  const decoder = decoding.createDecoder(bytes)
  const count = readStrictUint(decoder, 'stored chain length')
  const chain: StoredEpochLink[] = []
  for (let i = 0; i < count; i++) {
    const n = readStrictUint(decoder, 'stored epoch number')
    const coordinator = readStrictString(decoder, 'stored epoch coordinator', bytes.length)
    const hash = readStrictString(decoder, 'stored epoch hash', 64)
    const cut = readStrictBytes(decoder, 'stored epoch cut', bytes.length)
    const previous = chain[chain.length - 1]
    if (previous !== undefined && n !== previous.n + 1) throw new RangeError('stored chain numbers must rise by one')
    chain.push({ n, coordinator, hash, cut })
  }
  expectEnd(decoder, 'stored chain')
  if (chain.length === 0) throw new RangeError('stored chain is empty')
  return chain
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
    // The switch record (coordinator, cut, and for the current epoch the chain and base) came later: add its columns to an older table.
    const present = new Set((db.prepare('PRAGMA table_info(epochs)').all() as Array<{ name: string }>).map((column) => column.name))
    for (const [name, type] of SWITCH_COLUMNS) if (!present.has(name)) db.exec(`ALTER TABLE epochs ADD COLUMN ${name} ${type}`)
    this.statements = {
      insert: db.prepare('INSERT OR IGNORE INTO epochs (wire, doc, n, tag, hash, switched_ms, base_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      // The order this peer entered them: by switch time, insertion order breaking ties.
      chain: db.prepare('SELECT doc, n, tag, wire, hash, switched_ms, base_bytes, dropped_ms FROM epochs WHERE doc = ? ORDER BY n = 0 DESC, switched_ms, rowid'),
      byWire: db.prepare('SELECT doc, n, tag, wire, hash, switched_ms, base_bytes, dropped_ms FROM epochs WHERE wire = ?'),
      markDropped: db.prepare('UPDATE epochs SET dropped_ms = ? WHERE wire = ?'),
      setSwitch: db.prepare('UPDATE epochs SET coordinator = ?, cut = ?, chain = ?, base = ? WHERE wire = ?'),
      // Only the current epoch's record keeps its chain and base: a document's stored switch records stay small.
      clearHeads: db.prepare('UPDATE epochs SET chain = NULL, base = NULL WHERE doc = ? AND wire <> ?'),
      head: db.prepare('SELECT wire, chain, base FROM epochs WHERE doc = ? AND chain IS NOT NULL AND base IS NOT NULL ORDER BY rowid DESC LIMIT 1'),
    }
  }

  /**
   * Records the switch to `epoch` on its row (which must exist: `record` it first, in the same
   * transaction) and makes it the document's current epoch: its chain and base are kept, every
   * other epoch's are cleared.
   */
  recordSwitch(epoch: StoredEpoch): void {
    const tip = epoch.chain[epoch.chain.length - 1]
    if (tip === undefined) throw new RangeError(`epoch switch of ${epoch.doc} without a chain`)
    this.statements.setSwitch.run(tip.coordinator, tip.cut, encodeStoredChain(epoch.chain), epoch.base, epoch.wire)
    this.statements.clearHeads.run(epoch.doc, epoch.wire)
  }

  /** The epoch a document last switched to, with its chain and base; undefined if none was recorded. Throws `CorruptRowError` on an unreadable chain. */
  head(doc: string): StoredEpoch | undefined {
    const row = this.statements.head.get(doc) as { wire: string; chain: Uint8Array; base: Uint8Array } | undefined
    if (row === undefined) return undefined
    let chain: StoredEpochLink[]
    try {
      chain = decodeStoredChain(row.chain)
    } catch (error) {
      throw new CorruptRowError(doc, 'epochs', 0, `switch record of ${row.wire}: ${error instanceof Error ? error.message : String(error)}`)
    }
    return { doc, wire: row.wire, chain, base: new Uint8Array(row.base) }
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
