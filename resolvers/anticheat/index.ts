// resolvers/anticheat/: deterministic intent validators (speed, reach, cooldowns, rate limits,
// ownership) and statistical cheat detection per player with a graduated, evidenced response.
export * from './validator.js'
export * from './payload.js'
export * from './speed-validator.js'
export * from './reach-validator.js'
export * from './cooldown-validator.js'
export * from './rate-limit-validator.js'
export * from './ownership-validator.js'
export * from './player-stats.js'
export * from './detector.js'
export * from './response-guard.js'
