import type { HlcTimestamp } from './hlc.js'

/** A value an ephemeral register can hold: JSON-like data or bytes (encoded with lib0's `writeAny`). */
export type EphemeralValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | readonly EphemeralValue[]
  | { readonly [key: string]: EphemeralValue }

/** One last-writer-wins register of one entity (for example entity `p1`, field `position`). */
export interface EphemeralEntry {
  /** The entity the register belongs to. */
  readonly entity: string
  /** The register's name within the entity: `position`, `velocity`, `aim`, ... */
  readonly field: string
  /** The register's value. */
  readonly value: EphemeralValue
  /** When and by whom it was written; the higher stamp wins a merge. */
  readonly stamp: HlcTimestamp
}
