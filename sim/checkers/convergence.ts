import * as Y from 'yjs'
import { canonicalJson } from '../../core/index.js'

/** One replica of one document, as the checker sees it. */
export interface Replica {
  readonly peer: string
  readonly doc: Y.Doc
}

/** Why two replicas differ, for the report. */
export interface Divergence {
  readonly doc: string
  readonly peer: string
  readonly reference: string
  readonly reason: 'state-vector' | 'delete-set' | 'content' | 'pending' | 'missing'
}

/**
 * Whether a replica's pending structs wait for something no replica has: structs that lived only in
 * the memory of a peer that crashed without storage. Yjs integrates a client's structs strictly in
 * clock order, so such later structs can never integrate anywhere. That is lost unacknowledged data,
 * not divergence, and the simulator reports it separately (`orphanedReplicas`).
 */
export const isOrphanedPending = (doc: Y.Doc, replicas: readonly Replica[]): boolean => {
  const { pendingStructs, pendingDs } = doc.store
  if (pendingStructs === null && pendingDs === null) return false
  const anyoneHas = (client: number, clockEnd: number): boolean => replicas.some((replica) => Y.getState(replica.doc.store, client) >= clockEnd)
  if (pendingStructs !== null) {
    // `missing` names the clock of the struct waited for; a replica that has it holds state > clock.
    for (const [client, clock] of pendingStructs.missing) if (anyoneHas(client, clock + 1)) return false
  }
  if (pendingDs !== null) {
    // Deletions wait for the structs they delete; orphaned when no replica has those structs.
    for (const [client, ranges] of Y.decodeUpdateV2(pendingDs).ds.clients) {
      for (const range of ranges) if (anyoneHas(client, range.clock + range.len)) return false
    }
  }
  return true
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((byte, i) => byte === b[i])

/** Everything a document holds, as JSON: every root type by name. */
export const documentContent = (doc: Y.Doc): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, type] of [...doc.share.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Root types created by getMap/getArray keep their kind; an untouched placeholder reads as a map.
    out[name] = type instanceof Y.Array ? type.toJSON() : type instanceof Y.Text ? type.toString() : doc.getMap(name).toJSON()
  }
  return out
}

/**
 * Checks that every replica of every document is equal: same state vector, same delete set, same
 * content, no pending structs (the yjs test suite's `compare`, grown up). Returns the divergences;
 * empty means converged.
 */
export const checkConvergence = (replicasByDoc: ReadonlyMap<string, readonly Replica[]>, deep = true): Divergence[] => {
  const divergences: Divergence[] = []
  for (const [name, replicas] of replicasByDoc) {
    const reference = replicas[0]
    if (!reference) continue
    const referenceVector = Y.encodeStateVector(reference.doc)
    const referenceDs = Y.createDeleteSetFromStructStore(reference.doc.store)
    const referenceContent = deep ? canonicalJson(documentContent(reference.doc)) : ''
    for (const replica of replicas) {
      const store = replica.doc.store
      if ((store.pendingStructs !== null || store.pendingDs !== null) && !isOrphanedPending(replica.doc, replicas)) {
        divergences.push({ doc: name, peer: replica.peer, reference: reference.peer, reason: 'pending' })
      } else if (replica !== reference && !equalBytes(Y.encodeStateVector(replica.doc), referenceVector)) {
        divergences.push({ doc: name, peer: replica.peer, reference: reference.peer, reason: 'state-vector' })
      } else if (replica !== reference && !Y.equalDeleteSets(Y.createDeleteSetFromStructStore(store), referenceDs)) {
        divergences.push({ doc: name, peer: replica.peer, reference: reference.peer, reason: 'delete-set' })
      } else if (deep && replica !== reference && canonicalJson(documentContent(replica.doc)) !== referenceContent) {
        divergences.push({ doc: name, peer: replica.peer, reference: reference.peer, reason: 'content' })
      }
    }
  }
  return divergences
}
