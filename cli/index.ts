// cli/: the `realmsync` command.
export * from './io.js'
export * from './program.js'
export * from './sim-command.js'
export * from './history-command.js'
export * from './server.js'
export * from './serve-command.js'
export * from './token-command.js'
export * from './demo-command.js'
