// libp2p 3 (yamux, @libp2p/utils streams) calls Promise.withResolvers, which Node 20 lacks; without
// it the first noise handshake fails with "Promise.withResolvers is not a function". Importing this
// module installs a spec-shaped polyfill once. Drop this file when the minimum Node is >= 22.

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

/** Promise.withResolvers as ES2024 defines it, for runtimes that do not have it. */
export const promiseWithResolvers = <T>(): Resolvers<T> => {
  let resolve!: (value: T | PromiseLike<T>) => void
  let reject!: (reason?: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const promiseConstructor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof promiseConstructor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', { value: promiseWithResolvers, writable: true, configurable: true })
}
