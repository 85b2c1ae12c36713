// client/: the realmsync client for players (exported as `realmsync/client`): browser-safe, imports
// only core/, yjs, y-protocols and lib0. Document sync over y-websocket, intents with exactly-once
// answers across reconnects.
export * from './websocket-like.js'
export * from './backoff.js'
export * from './reconnecting-socket.js'
export * from './document-sync.js'
export * from './pending-writes.js'
export * from './session-control.js'
export * from './intent-sender.js'
export * from './realmsync-client.js'
