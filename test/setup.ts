// Shared test setup. libp2p 3 calls Promise.withResolvers, which Node 20 lacks; the polyfill lives
// in transports/ and is installed here too once the libp2p transport exists.
export {}
