// resolvers/: applying intents (validation, handlers, exactly-once answers), replay, and later
// authority, conflict resolution and anti-cheat.
export * from './action-handler.js'
export * from './intent-engine.js'
export * from './world-state-hash.js'
export * from './session-replay.js'
export * from './anticheat/index.js'
export * from './decisions/index.js'
export * from './exclusive/index.js'
