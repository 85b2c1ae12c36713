import * as Y from 'yjs'
import { digest } from 'lib0/hash/sha256'
import { toHexString } from './epoch-hex.js'
import { RealmsyncError } from './errors.js'

/**
 * The Yjs client id that writes every epoch's base content. Real replicas draw client ids from
 * [1, 2^32 - 1], so 0 never collides with a writer; and because every replica rebuilds with the same
 * id, in the same order, the same content gives the same structs, byte for byte.
 */
export const EPOCH_BASE_CLIENT_ID = 0

/** A document's current content rebuilt into a fresh Y.Doc: the base of a new epoch. */
export interface EpochBase {
  /** `Y.encodeStateAsUpdate` of the fresh document: identical bytes for identical content. */
  readonly update: Uint8Array
  /** SHA-256 of `update`, hex: names the content, so replicas can check they built the same one. */
  readonly hash: string
}

/** Content a rebuild cannot carry over faithfully (XML types, embedded documents, formatted text). */
export class UnsupportedEpochContentError extends RealmsyncError {
  constructor(readonly path: string) {
    super('epoch-unsupported-content', `cannot rebuild ${path} into a new epoch: only maps, arrays, plain text and JSON values are supported`)
  }
}

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** A JSON-ish value with object keys in canonical order, so embedded objects encode identically. */
const canonicalValue = (value: unknown): unknown => {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value
  if (Array.isArray(value)) return value.map(canonicalValue)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort(byKey)) out[key] = canonicalValue((value as Record<string, unknown>)[key])
  return out
}

/** The root types of a document, typed: a root nobody asked for by type is read as a map (the world layout). */
const rootsOf = (doc: Y.Doc): Array<[string, Y.AbstractType<unknown>]> =>
  [...doc.share.keys()].sort(byKey).map((name) => {
    const type = doc.share.get(name) as Y.AbstractType<unknown>
    if (type instanceof Y.Map || type instanceof Y.Array || type instanceof Y.Text) return [name, type as Y.AbstractType<unknown>]
    if (type.constructor === Y.AbstractType) return [name, doc.getMap(name) as Y.AbstractType<unknown>]
    throw new UnsupportedEpochContentError(name)
  })

/** Copies one value into the fresh document (nested types are created first, then filled). */
const copyValue = (value: unknown, path: string): unknown => {
  if (value instanceof Y.Map) {
    const map = new Y.Map<unknown>()
    for (const key of [...value.keys()].sort(byKey)) map.set(key, copyValue(value.get(key), `${path}.${key}`))
    return map
  }
  if (value instanceof Y.Array) {
    const array = new Y.Array<unknown>()
    array.push(value.toArray().map((inner, i) => copyValue(inner, `${path}[${i}]`)))
    return array
  }
  if (value instanceof Y.Text) {
    if (value.toDelta().some((op: { attributes?: unknown; insert?: unknown }) => op.attributes !== undefined || typeof op.insert !== 'string')) {
      throw new UnsupportedEpochContentError(path)
    }
    return new Y.Text(value.toString())
  }
  if (value instanceof Y.AbstractType || value instanceof Y.Doc) throw new UnsupportedEpochContentError(path)
  return canonicalValue(value)
}

/**
 * Rebuilds `doc`'s current content into a fresh document written by `EPOCH_BASE_CLIENT_ID`, roots
 * and map keys in sorted order. Two replicas holding the same content, whatever histories built
 * it, get byte-identical updates and the same hash. History, tombstones and pending structs are
 * left behind: that is the point.
 */
export const rebuildContent = (doc: Y.Doc): EpochBase => {
  const fresh = new Y.Doc({ gc: true })
  fresh.clientID = EPOCH_BASE_CLIENT_ID
  fresh.transact(() => {
    for (const [name, type] of rootsOf(doc)) {
      if (type instanceof Y.Map) {
        const target = fresh.getMap<unknown>(name)
        for (const key of [...type.keys()].sort(byKey)) target.set(key, copyValue(type.get(key), `${name}.${key}`))
      } else if (type instanceof Y.Array) {
        fresh.getArray<unknown>(name).push(type.toArray().map((inner, i) => copyValue(inner, `${name}[${i}]`)))
      } else {
        copyValue(type, name)
        fresh.getText(name).insert(0, type.toString())
      }
    }
  })
  const update = Y.encodeStateAsUpdate(fresh)
  fresh.destroy()
  return { update, hash: contentHash(update) }
}

/** SHA-256 (hex) of an epoch base update. */
export const contentHash = (update: Uint8Array): string => toHexString(digest(update))

/**
 * Content of a document as plain JSON (roots sorted, empty roots left out, since a rebuilt document
 * has no trace of a root that is empty), for comparing replicas across epochs.
 */
export const contentJson = (doc: Y.Doc): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, type] of rootsOf(doc)) {
    const value = canonicalValue(type.toJSON())
    const empty = value === '' || (Array.isArray(value) ? value.length === 0 : typeof value === 'object' && value !== null && Object.keys(value).length === 0)
    if (!empty) out[name] = value
  }
  return out
}
