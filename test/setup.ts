// Shared test setup. libp2p 3 calls Promise.withResolvers, which Node 20 lacks: install the polyfill
// before any test module loads libp2p.
import '../transports/promise-with-resolvers.js'
