// gateway/: the client-facing edge. So far: auth (JWT verification) and per-document permissions.
export * from './permissions.js'
export * from './secret.js'
export * from './auth.js'
export * from './token.js'
