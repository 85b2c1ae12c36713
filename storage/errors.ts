import { RealmsyncError } from '../core/index.js'

/** Which table a stored row lives in, as named in error messages. */
export type StoredTable = 'updates' | 'snapshots' | 'intents' | 'epochs' | 'settlement_state' | 'answers'

/**
 * A stored row failed its checksum, cannot be decoded by Yjs, or is missing from the middle of a
 * log. The document must not be served: the peer refuses to open it, and every other document keeps
 * working.
 */
export class CorruptRowError extends RealmsyncError {
  constructor(
    readonly doc: string,
    readonly table: StoredTable,
    readonly seq: number,
    readonly detail: string,
  ) {
    super(
      'corrupt-row',
      `document ${doc}: ${table} row ${seq} is corrupt (${detail}); the document was not loaded. ` +
        'Restore the data directory from a backup, or remove the document so anti-entropy refills it from other peers.',
    )
  }
}

/** A document the caller named is not in this data directory. */
export class UnknownDocumentError extends RealmsyncError {
  constructor(readonly doc: string) {
    super('unknown-document', `document ${doc} is not in this data directory; list the stored documents with 'realmsync history verify'`)
  }
}

/** A data directory holds no realmsync database (and the caller asked not to create one). */
export class MissingDataDirError extends RealmsyncError {
  constructor(
    readonly dataDir: string,
    readonly expectedFile: string,
  ) {
    super('missing-data-dir', `no realmsync data in ${dataDir} (expected ${expectedFile}); check the path given as the data directory`)
  }
}

/** The database was written by a build with another storage layout. */
export class UnsupportedSchemaError extends RealmsyncError {
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super('unsupported-schema', `the database has storage schema version ${found}; this build reads version ${supported}. Use a matching realmsync version`)
  }
}

/** History at the requested moment is not available (compacted away by retention, or beyond the log). */
export class HistoryUnavailableError extends RealmsyncError {
  constructor(
    readonly doc: string,
    detail: string,
  ) {
    super('history-unavailable', `document ${doc}: ${detail}`)
  }
}

/** A moment (`--at`, `--from`, `--to`, `--since`, `--until`) could not be read. */
export class InvalidMomentError extends RealmsyncError {
  constructor(readonly text: string) {
    super('invalid-moment', `cannot read moment '${text}': use a sequence number (42 or seq:42), ms:<epoch ms>, or an ISO time such as 2026-11-24T21:04:00Z`)
  }
}

/** The store was used after `close()`. */
export class StoreClosedError extends RealmsyncError {
  constructor() {
    super('store-closed', 'the document store is closed; open a new one to keep writing')
  }
}

/** An append was refused before it was stored: the update is empty or not a Yjs update. */
export class UnstorableUpdateError extends RealmsyncError {
  constructor(
    readonly doc: string,
    detail: string,
  ) {
    super('unstorable-update', `update for document ${doc} was not stored: ${detail}`)
  }
}

/** The audit ledger cannot be read, or its hash chain or recorded heads do not agree. */
export class LedgerTamperedError extends RealmsyncError {
  constructor(readonly detail: string) {
    super('ledger-tampered', `audit ledger failed verification: ${detail}`)
  }
}

/** A batch of appends could not be committed (disk full, I/O error, a second writer); none of them is stored. */
export class StoreWriteError extends RealmsyncError {
  constructor(
    readonly docs: readonly string[],
    readonly failure: unknown,
  ) {
    super('store-write-failed', `could not commit updates of ${docs.join(', ')}: ${failure instanceof Error ? failure.message : String(failure)}; they were not stored`)
  }
}

/** An audit record is not well-formed (empty kind or peer, a non-finite time, details that are not JSON). */
export class InvalidAuditRecordError extends RealmsyncError {
  constructor(detail: string) {
    super('invalid-audit-record', `audit record refused: ${detail}`)
  }
}
