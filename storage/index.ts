// storage/: durable update log and snapshots (embedded SQLite), history reading. Depends on core/ only.
export * from './errors.js'
export * from './sqlite-store.js'
export * from './history.js'
export * from './verify.js'
export * from './audit-ledger.js'
