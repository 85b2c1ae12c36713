import * as prng from 'lib0/prng'

/** A seeded source of chance. Same seed, same sequence, on every machine. */
export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number
  /** True with probability `p`. */
  chance(p: number): boolean
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T
  /** A new independent source derived from this one, so sub-components do not perturb each other. */
  fork(): Random
}

/** Creates a seeded random source (lib0's xoroshiro128+). */
export const createRandom = (seed: number): Random => {
  // xoroshiro128+ with an all-zero state returns 0 forever, and lib0 seeds it straight from the
  // number, so seed 0 would be degenerate: scramble the seed bijectively first.
  const mixed = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) >>> 0
  const gen = prng.create(mixed === 0 ? 0x6d2b79f5 : mixed)
  const random: Random = {
    next: () => gen.next(),
    int: (min, max) => prng.int53(gen, min, max),
    chance: (p) => gen.next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick from an empty array')
      return items[prng.int53(gen, 0, items.length - 1)] as T
    },
    fork: () => createRandom(prng.uint32(gen, 0, 0xffffffff)),
  }
  return random
}
