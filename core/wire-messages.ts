import type { EphemeralEntry } from './ephemeral-types.js'

/** A y-protocols sync message (step 1, step 2 or update), unchanged, for one named document. */
export interface SyncFrame {
  readonly type: 'sync'
  /** Document name, for example `world/w1/region/3:4`. */
  readonly doc: string
  /** The y-protocols sync message bytes, so Yjs tools interoperate. */
  readonly payload: Uint8Array
}

/** A batch of ephemeral registers (positions, aim, ...), merged last-writer-wins by the receiver. */
export interface EphemeralFrame {
  readonly type: 'ephemeral'
  readonly entries: readonly EphemeralEntry[]
}

/** Every message realmsync peers exchange. */
export type WireMessage = SyncFrame | EphemeralFrame

/** The numeric tag of each message type on the wire. Never reuse a retired number. */
export const MESSAGE_TAGS = {
  sync: 0,
  ephemeral: 1,
} as const satisfies Record<WireMessage['type'], number>
