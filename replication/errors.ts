import { RealmsyncError } from '../core/index.js'

/** A document name is empty or too long. */
export class InvalidDocumentNameError extends RealmsyncError {
  constructor(readonly doc: string) {
    super('invalid-document-name', `invalid document name ${JSON.stringify(doc.slice(0, 80))}: must be 1-512 bytes`)
  }
}
