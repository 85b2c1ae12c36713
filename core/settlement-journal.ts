import type { WorldValue } from './world-schema.js'

/** One record of a peer's settlement state: a key (`outcome:<claim>`, `prepared:<claim>`, ...) and its value. */
export interface SettlementRecord {
  readonly key: string
  readonly value: WorldValue
}

/**
 * Where a settlement core keeps what must survive a restart of its peer: outcomes it settled (a
 * resent claim must get the same answer) and reservations of cross-owner claims in progress (a yes
 * vote must not be forgotten). Synchronous, because the core is a sans-IO state machine that the
 * simulator drives in virtual time; a write is durable when it returns, before the vote or outcome
 * it backs is sent. Like `IntentJournal`, resolvers are handed an implementation (storage/ provides
 * one on SQLite) and never import storage.
 */
export interface SettlementJournal {
  /** Every record of a scope (one peer's settlement state), oldest write first. */
  load(scope: string): SettlementRecord[]
  /** Writes (or replaces) a record. */
  write(scope: string, key: string, value: WorldValue): void
  /** Removes a record; nothing happens if it is absent. */
  remove(scope: string, key: string): void
}
