import { RealmsyncError } from '../core/index.js'

/** A stored row failed its checksum or cannot be decoded: the document must not be served. */
export class CorruptRowError extends RealmsyncError {
  constructor(
    readonly doc: string,
    readonly table: 'updates' | 'snapshots',
    readonly seq: number,
    detail: string,
  ) {
    super('corrupt-row', `document ${doc}: ${table} row ${seq} is corrupt (${detail}); refusing to load it`)
  }
}

/** A document the caller named is not in storage. */
export class UnknownDocumentError extends RealmsyncError {
  constructor(readonly doc: string) {
    super('unknown-document', `document ${doc} is not in this data directory`)
  }
}

/** History before the requested moment was compacted away by the retention setting. */
export class HistoryUnavailableError extends RealmsyncError {
  constructor(readonly doc: string, detail: string) {
    super('history-unavailable', `document ${doc}: ${detail}`)
  }
}

/** The store was used after `close()`. */
export class StoreClosedError extends RealmsyncError {
  constructor() {
    super('store-closed', 'the document store is closed')
  }
}
