// core/: the world model and primitives. No I/O, no timers of its own, no imports from other folders.
export * from './errors.js'
export * from './clock.js'
export * from './random.js'
export * from './hlc.js'
export * from './ephemeral-types.js'
export * from './wire-messages.js'
export * from './wire-codec.js'
export * from './strict-decoding.js'
