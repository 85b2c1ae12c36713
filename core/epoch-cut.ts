import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { canonicalJson } from './canonical-json.js'
import { MalformedFrameError } from './errors.js'

/**
 * Which writes a new epoch's base already holds (docs/epochs.md). The coordinator cuts at its
 * replica's state vector: a struct with id (client, clock) is in the base iff `clock < cut[client]`.
 * A writer that moves to the new epoch carries only its writes past the cut, so nothing the base
 * holds is written again over a later value of another writer. Shared by the peer (its own writes)
 * and the realmsync client (a client's writes, told the cut by the gateway).
 */

/** How a write crosses a cut: carried, left (the base holds it), or (a delete the base may hold) carried only if its key is unchanged. */
export type CutCarry = 'yes' | 'no' | 'if-unchanged'

/** A write as the carry rule sees it: its replica's client id and own clock after it, and for a pure delete the id of the value it removed. */
export interface CutWrite {
  readonly client: number
  /** The replica's own clock after the write's transaction. */
  readonly clock: number
  /** Whether the transaction created no struct (deletes only): its clock is the author's previous one. */
  readonly pure: boolean
  /** For a deleted key, the struct id of the value the delete removed, when known. */
  readonly deletedId?: { readonly client: number; readonly clock: number } | undefined
}

/** The clocks of an encoded Yjs state vector by client id; throws `MalformedFrameError` on bytes that are not one. */
export const cutClocks = (stateVector: Uint8Array): Map<number, number> => {
  const clocks = new Map<number, number>()
  try {
    const decoder = decoding.createDecoder(stateVector)
    const count = decoding.readVarUint(decoder)
    for (let i = 0; i < count; i++) clocks.set(decoding.readVarUint(decoder), decoding.readVarUint(decoder))
    if (decoding.hasContent(decoder)) throw new Error('trailing bytes')
  } catch (error) {
    throw new MalformedFrameError(`cut state vector unreadable: ${error instanceof Error ? error.message : String(error)}`)
  }
  return clocks
}

/** Whether the struct `(client, clock)` is in a base cut at `clocks`. */
export const coveredByCut = (clocks: ReadonlyMap<number, number>, client: number, clock: number): boolean => clock < (clocks.get(client) ?? 0)

/**
 * Whether a write made in the epoch that was cut is carried into the new one. A write with a struct
 * past the cut is; one whose structs the cut covers is not. A transaction of deletes only creates no
 * struct, and deletes are not in a state vector: it is past the cut if its author's clock is, or if
 * the value it deleted is (the coordinator cannot have had it); otherwise the base may or may not
 * hold it, so it is carried to delete only if the key still holds the value it removed.
 */
export const carryAcrossCut = (clocks: ReadonlyMap<number, number>, write: CutWrite): CutCarry => {
  if (write.clock > (clocks.get(write.client) ?? 0)) return 'yes'
  if (!write.pure) return 'no'
  const deleted = write.deletedId
  return deleted !== undefined && !coveredByCut(clocks, deleted.client, deleted.clock) ? 'yes' : 'if-unchanged'
}

/** A fingerprint of a value, to tell whether a key still holds what a delete removed: its JSON, or its kind for a nested type. */
export const valueFingerprint = (value: unknown): string => {
  if (value instanceof Y.AbstractType) return `type:${value.constructor.name}`
  if (value instanceof Uint8Array) return `bytes:${[...value].join(',')}`
  return `json:${canonicalJson(value)}`
}
