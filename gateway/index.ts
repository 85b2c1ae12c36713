// gateway/: the client-facing edge: auth (JWT verification), per-document permissions, and the WebSocket endpoint.
export * from './permissions.js'
export * from './secret.js'
export * from './auth.js'
export * from './token.js'
export * from './y-websocket-frames.js'
export * from './client-connection.js'
export * from './ws-gateway.js'
