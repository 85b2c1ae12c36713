// resolvers/decisions/: critical decisions signed by their decider (Ed25519) and re-validated by
// k peers chosen by rendezvous hashing; bad deciders are flagged and quarantined with evidence.
export * from './decision.js'
export * from './decision-keys.js'
export * from './decision-rule.js'
export * from './builtin-decision-rules.js'
export * from './validator-selection.js'
export * from './decision-wire.js'
export * from './decision-core.js'
export * from './decision-channel.js'
export * from './decision-metrics.js'
export * from './deferred-repairs.js'
export * from './signed-actions.js'
export * from './critical-actions.js'
