import type Database from 'better-sqlite3'

/** Schema version written to `user_version`; bump with a migration when the layout changes. */
export const SCHEMA_VERSION = 1

/** Creates the tables if they do not exist. One append-only log and one snapshot table per data dir. */
export const ensureSchema = (db: Database.Database): void => {
  db.exec(`
    CREATE TABLE IF NOT EXISTS documents (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS updates (
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
    CREATE TABLE IF NOT EXISTS snapshots (
      doc INTEGER NOT NULL REFERENCES documents(id),
      seq INTEGER NOT NULL,
      wall_ms INTEGER NOT NULL,
      data BLOB NOT NULL,
      checksum INTEGER NOT NULL,
      PRIMARY KEY (doc, seq)
    ) WITHOUT ROWID;
  `)
  db.pragma(`user_version = ${SCHEMA_VERSION}`)
}
