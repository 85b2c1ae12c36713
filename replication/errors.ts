import { RealmsyncError } from '../core/index.js'

/** A document name is empty or too long. */
export class InvalidDocumentNameError extends RealmsyncError {
  constructor(readonly doc: string) {
    super('invalid-document-name', `invalid document name ${JSON.stringify(doc.slice(0, 80))}: must be 1-512 bytes`)
  }
}

/** A frame of an epoch the document has left: refused (not applied), and the sender is told the current epoch. */
export class StaleEpochError extends RealmsyncError {
  constructor(
    readonly doc: string,
    readonly frameEpoch: number,
    readonly currentEpoch: number,
    readonly peer: string,
  ) {
    super('epoch-stale', `frame from peer ${peer} for epoch ${frameEpoch} of ${doc} refused: the document is at epoch ${currentEpoch}; its author carries such writes into the new epoch`)
  }
}

/** An epoch announcement whose base does not match its hash or is not the canonical rebuild of its content. */
export class EpochBaseMismatchError extends RealmsyncError {
  constructor(
    readonly doc: string,
    readonly epoch: number,
    readonly peer: string,
    detail: string,
  ) {
    super('epoch-base-mismatch', `epoch ${epoch} of ${doc} from peer ${peer} refused: ${detail}`)
  }
}
