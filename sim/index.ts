// sim/: deterministic network simulator, scenarios, checkers, replay.
export * from './scheduler.js'
export * from './latency.js'
export * from './sim-network.js'
export * from './scenario.js'
export * from './propagation.js'
export * from './checkers/convergence.js'
export * from './checkers/invariants.js'
export * from './runner.js'
