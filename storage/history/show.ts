import * as Y from 'yjs'
import type { Millis } from '../../core/index.js'
import { documentJson } from '../document-json.js'
import type { SqliteDocumentStore } from '../sqlite-store.js'
import { resolveMoment, type Moment } from './moment.js'
import { docAtSeq } from './replay.js'

/** A document's state at a moment. */
export interface DocumentStateAt {
  readonly doc: string
  /** The last log sequence included. */
  readonly seq: number
  /** Wall time of that update (undefined at sequence 0, or when retention dropped the row). */
  readonly wallMs: Millis | undefined
  /** Every root type as JSON. */
  readonly content: Record<string, unknown>
}

const wallTimeOf = (store: SqliteDocumentStore, doc: string, seq: number): Millis | undefined => {
  if (seq === 0) return undefined
  return store.readUpdates(doc, { fromSeq: seq, toSeq: seq })[0]?.wallMs ?? store.readSnapshot(doc, seq)?.wallMs
}

/** The document's state at a moment: which sequence that is, when it was stored, and the content as JSON. */
export const stateAt = (store: SqliteDocumentStore, doc: string, at: Moment): DocumentStateAt => {
  const seq = resolveMoment(store, doc, at)
  const scratch = docAtSeq(store, doc, seq)
  try {
    return { doc, seq, wallMs: wallTimeOf(store, doc, seq), content: documentJson(scratch) }
  } finally {
    scratch.destroy()
  }
}

/** The document's content at a moment, as JSON by root name (what `history show --at` prints). */
export const showHistory = (store: SqliteDocumentStore, doc: string, at: Moment): Record<string, unknown> => stateAt(store, doc, at).content

/** The document's state at a moment as one Yjs update, e.g. to seed a document or hand to other tools. */
export const encodedStateAt = (store: SqliteDocumentStore, doc: string, at: Moment): Uint8Array => {
  const scratch = docAtSeq(store, doc, resolveMoment(store, doc, at))
  try {
    return Y.encodeStateAsUpdate(scratch)
  } finally {
    scratch.destroy()
  }
}
