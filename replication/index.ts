// replication/: peer to peer document sync, anti-entropy, ephemeral state replication.
export * from './errors.js'
export * from './sync-message.js'
export * from './sync-core.js'
export * from './peer.js'
export * from './peer-metrics.js'
