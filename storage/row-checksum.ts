import { crc32 } from 'node:zlib'
import type { StoredUpdateMeta } from '../core/index.js'

// The checksum covers the row's identity and metadata as well as its bytes, so a row copied to
// another document or sequence, or with an edited origin or time, fails just like a flipped bit.
// CRC-32 catches corruption (torn pages, bad sectors, truncation); tamper evidence is the audit
// ledger's job, not this one's.

/** The checksum stored next to an update row. */
export const updateRowChecksum = (doc: string, seq: number, meta: StoredUpdateMeta, data: Uint8Array): number =>
  crc32(data, crc32(`u\u0000${doc}\u0000${seq}\u0000${meta.hlc.wallMs}\u0000${meta.hlc.counter}\u0000${meta.hlc.peer}\u0000${meta.wallMs}\u0000${meta.origin}`))

/** The checksum stored next to a snapshot row. */
export const snapshotRowChecksum = (doc: string, seq: number, wallMs: number, data: Uint8Array): number =>
  crc32(data, crc32(`s\u0000${doc}\u0000${seq}\u0000${wallMs}`))
