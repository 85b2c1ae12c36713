// realmsync's public API.
export * from './core/index.js'
export * from './transports/index.js'
export * from './replication/index.js'
export * from './resolvers/index.js'
export * from './gateway/index.js'
export * from './sim/index.js'
export * from './storage/index.js'
