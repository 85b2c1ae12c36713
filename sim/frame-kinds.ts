import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import { MESSAGE_TAGS } from '../core/index.js'

const TAG_NAMES = new Map<number, string>(Object.entries(MESSAGE_TAGS).map(([name, tag]) => [tag, name]))

const SYNC_KINDS = new Map<number, string>([
  [syncProtocol.messageYjsSyncStep1, 'sync-step1'],
  [syncProtocol.messageYjsSyncStep2, 'sync-step2'],
  [syncProtocol.messageYjsUpdate, 'sync-update'],
])

/**
 * Names what a realmsync frame carries, for the simulator's per-kind traffic counters: the message
 * type from the frame header and, for document sync, the y-protocols step (state vectors are
 * digests, step 2 and updates carry data). Reads only the header; never throws (a frame it cannot
 * read is `unreadable`).
 */
export const classifyFrame = (frame: Uint8Array): string => {
  try {
    const decoder = decoding.createDecoder(frame)
    decoding.readVarUint(decoder) // wire version
    const tag = decoding.readVarUint(decoder)
    const name = TAG_NAMES.get(tag) ?? `tag-${tag}`
    if (tag !== MESSAGE_TAGS.sync) return name
    // Skip the document name and the payload's length prefix without decoding either.
    // (Read the length first: `pos += read()` would add it to the position from before the read.)
    const nameLength = decoding.readVarUint(decoder)
    decoder.pos += nameLength
    decoding.readVarUint(decoder)
    const step = decoding.readVarUint(decoder)
    return SYNC_KINDS.get(step) ?? 'sync-unknown'
  } catch {
    return 'unreadable'
  }
}

/** Frame kinds that carry document updates (as opposed to digests, probes and ephemeral state). */
export const UPDATE_CARRYING_KINDS: ReadonlySet<string> = new Set(['gossip', 'sync-update', 'sync-step2'])

/** Frame kinds that only announce or ask (clock ranges, state vectors): the lazy side of replication. */
export const DIGEST_KINDS: ReadonlySet<string> = new Set(['digest', 'pull', 'sync-step1'])
