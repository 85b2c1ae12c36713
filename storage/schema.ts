import type Database from 'better-sqlite3'
import { UnsupportedSchemaError } from './errors.js'

/** Schema version written to `user_version`; bump with a migration when the layout changes. */
export const SCHEMA_VERSION = 2

/**
 * Creates the tables in a fresh database, or checks an existing one has this layout. One append-only
 * update log and one snapshot table per data directory, keyed by document id.
 */
export const ensureSchema = (db: Database.Database): void => {
  const version = db.pragma('user_version', { simple: true }) as number
  const hasTables = (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n > 0
  if (hasTables && version !== SCHEMA_VERSION) throw new UnsupportedSchemaError(version, SCHEMA_VERSION)
  if (hasTables) return
  db.exec(`
    CREATE TABLE documents (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      -- Updated in the same transaction as the rows, so a log cut short at its end is caught too.
      last_seq INTEGER NOT NULL DEFAULT 0
    );
    -- Update rows are small (tens to hundreds of bytes), so they live in the primary-key b-tree.
    CREATE TABLE updates (
      doc INTEGER NOT NULL REFERENCES documents(id),
      seq INTEGER NOT NULL,
      hlc_wall INTEGER NOT NULL,
      hlc_counter INTEGER NOT NULL,
      hlc_peer TEXT NOT NULL,
      wall_ms INTEGER NOT NULL,
      origin TEXT NOT NULL,
      data BLOB NOT NULL,
      checksum INTEGER NOT NULL,
      PRIMARY KEY (doc, seq)
    ) WITHOUT ROWID;
    -- Snapshots can be megabytes: a rowid table keeps them out of the key b-tree.
    CREATE TABLE snapshots (
      id INTEGER PRIMARY KEY,
      doc INTEGER NOT NULL REFERENCES documents(id),
      seq INTEGER NOT NULL,
      wall_ms INTEGER NOT NULL,
      created_ms INTEGER NOT NULL,
      data BLOB NOT NULL,
      checksum INTEGER NOT NULL,
      UNIQUE (doc, seq)
    );
  `)
  db.pragma(`user_version = ${SCHEMA_VERSION}`)
}
