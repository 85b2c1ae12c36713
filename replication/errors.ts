import { RealmsyncError } from '../core/index.js'

/** A Yjs update or sync message from a peer could not be decoded; nothing was applied. */
export class InvalidUpdateError extends RealmsyncError {
  constructor(
    readonly doc: string,
    detail: string,
  ) {
    super('invalid-update', `invalid update for document ${doc}: ${detail}`)
  }
}

/** A document name is empty or too long. */
export class InvalidDocumentNameError extends RealmsyncError {
  constructor(readonly doc: string) {
    super('invalid-document-name', `invalid document name ${JSON.stringify(doc.slice(0, 80))}: must be 1-512 bytes`)
  }
}
