// realmsync's public API.
export * from './core/index.js'
export * from './transports/index.js'
