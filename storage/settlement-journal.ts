import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import Database from 'better-sqlite3'
import { isWorldValue, type SettlementJournal, type SettlementRecord, type WorldValue } from '../core/index.js'
import { CorruptRowError, MissingDataDirError, StoreClosedError } from './errors.js'

/** The settlement journal's database file inside a data directory (its own file: its writes are small, synchronous and must not wait on the document log). */
export const settlementJournalPath = (dataDir: string): string => join(dataDir, 'settlements.db')

/** Settings of the settlement journal. */
export interface SettlementJournalOptions {
  /** Create the data directory and database if missing (default true). */
  readonly create?: boolean
  /** `full` fsyncs every write (default); `memory` keeps nothing, for tests. */
  readonly durability?: 'full' | 'memory'
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS settlement_state (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    value TEXT NOT NULL,
    checksum INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  ) WITHOUT ROWID;
`

const checksumOf = (scope: string, key: string, value: string): number => crc32(value, crc32(`s\u0000${scope}\u0000${key}`))

/**
 * The durable `SettlementJournal` on embedded SQLite: one row per (scope, key), written in its own
 * transaction with `synchronous = FULL`, so a reservation or an outcome is on disk before the vote
 * or answer it backs leaves the peer. Rows carry a CRC; a damaged row raises `CorruptRowError`.
 */
export class SqliteSettlementJournal implements SettlementJournal {
  private readonly db: Database.Database
  private readonly upsert: Database.Statement
  private readonly deleteRow: Database.Statement
  private closed = false
  private n = 0

  constructor(dataDir: string, options: SettlementJournalOptions = {}) {
    if (options.durability === 'memory') {
      this.db = new Database(':memory:')
    } else {
      const file = settlementJournalPath(dataDir)
      if (options.create === false && !existsSync(file)) throw new MissingDataDirError(dataDir, file)
      mkdirSync(dataDir, { recursive: true })
      this.db = new Database(file)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = FULL')
    }
    this.db.exec(SCHEMA)
    this.upsert = this.db.prepare('INSERT OR REPLACE INTO settlement_state (scope, key, n, value, checksum) VALUES (?, ?, ?, ?, ?)')
    this.deleteRow = this.db.prepare('DELETE FROM settlement_state WHERE scope = ? AND key = ?')
    const row = this.db.prepare('SELECT MAX(n) AS n FROM settlement_state').get() as { n: number | null }
    this.n = (row.n ?? -1) + 1
  }

  load(scope: string): SettlementRecord[] {
    this.assertOpen()
    const rows = this.db.prepare('SELECT key, n, value, checksum FROM settlement_state WHERE scope = ? ORDER BY n').all(scope) as Array<{ key: string; n: number; value: string; checksum: number }>
    return rows.map((row) => {
      if (checksumOf(scope, row.key, row.value) !== row.checksum) throw new CorruptRowError(scope, 'settlement_state', row.n, `checksum mismatch for ${row.key}`)
      let value: unknown
      try {
        value = JSON.parse(row.value)
      } catch (error) {
        throw new CorruptRowError(scope, 'settlement_state', row.n, error instanceof Error ? error.message : String(error))
      }
      if (!isWorldValue(value)) throw new CorruptRowError(scope, 'settlement_state', row.n, `${row.key} is not a world value`)
      return { key: row.key, value }
    })
  }

  write(scope: string, key: string, value: WorldValue): void {
    this.assertOpen()
    const text = JSON.stringify(value)
    this.upsert.run(scope, key, this.n++, text, checksumOf(scope, key, text))
  }

  remove(scope: string, key: string): void {
    this.assertOpen()
    this.deleteRow.run(scope, key)
  }

  /** Closes the database. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError()
  }
}

/** Opens (creating if needed) the settlement journal of a data directory. */
export const openSettlementJournal = (dataDir: string, options: SettlementJournalOptions = {}): SqliteSettlementJournal => new SqliteSettlementJournal(dataDir, options)
