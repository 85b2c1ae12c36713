// transports/: moving frames between endpoints.
export * from './transport.js'
export * from './memory-transport.js'
