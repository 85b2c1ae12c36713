// sim/programs/: built-in scenarios that drive their own workload and report (resolvers, anti-cheat, epochs).
export * from './program-scenario.js'
export * from './registry.js'
export * from './cheater-population.js'
export * from './cheaters.js'
export * from './churn.js'
