// resolvers/exclusive/: one winner for every exclusive conflict. Resolvers per action type, ownership
// over an installed membership view, the claims protocol (settlement, cross-owner two-phase commit)
// and built-ins (pickup, drop, trade, slots, counters, escrow).
export * from './resolver.js'
export * from './registry.js'
export * from './ownership.js'
export * from './claim-codec.js'
export * from './settlement-core.js'
export * from './settlement-window.js'
export * from './resolver-gate.js'
export * from './settlement-decision.js'
export * from './cross-owner-decision.js'
export * from './cross-owner-vote.js'
export * from './settlement-rollback.js'
export * from './item-resolvers.js'
export * from './slot-resolvers.js'
export * from './counter-resolvers.js'
export * from './escrow.js'
export * from './escrow-balancer.js'
