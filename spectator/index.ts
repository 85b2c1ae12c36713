// spectator/: filtered, delayed views of documents for observers, and the hub that serves them from a peer.
export * from './spectator-filter.js'
export * from './delay-queue.js'
export * from './projection-writer.js'
export * from './spectator-view.js'
export * from './spectator-hub.js'
export * from './spectator-metrics.js'
