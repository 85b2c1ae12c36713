// Which gossip frames a router has already taken, as (origin, seq, tree), in bounded memory.
//
// The first version kept one insertion-ordered Set of `${origin}\0${seq}\0${tree}` strings, capped
// at 65,536 keys. Each key held a libp2p peer id (52 characters) in a concatenated string: about
// 125 bytes a key, so the two such sets of a busy peer (frames taken, first copies delivered) grew
// by 16 MiB before reaching their cap. In the 10-minute epoch cluster benchmark that filling was the
// heap "creep" (35 -> 55 MiB) that looked like a per-cut leak. Here each origin gets a Set of small
// integers (seq relative to the first seq seen from it, times TREE_SLOTS, plus the tree), which V8
// stores without allocating: about 20 bytes a key, and a cap per origin, so one busy origin cannot
// push out what another's duplicates are still checked against.

/** Tree indexes below this are told apart; a frame naming a higher tree is refused (no tree is that high). */
export const TREE_SLOTS = 128

/** Defaults: frames remembered per origin, and origins remembered at all. */
export const DEFAULT_SEEN_PER_ORIGIN = 8192
export const DEFAULT_SEEN_ORIGINS = 4096

interface OriginFrames {
  /** The first seq seen from this origin: keys are relative to it, so they stay small integers. */
  base: number
  keys: Set<number>
}

// Farthest a seq may lie from its origin's base before the origin starts afresh from it: keys then
// stay within V8's small integers (2^30). A restarted origin jumps its seqs forward by its clock
// (gossip-router.ts), so this happens after a restart; what is forgotten belongs to the old run.
const MAX_OFFSET = 2 ** 30 / TREE_SLOTS

/** A bounded memory of (origin, seq, tree) triples; the oldest of an origin falls out first. */
export class SeenFrames {
  private readonly origins = new Map<string, OriginFrames>()

  constructor(
    private readonly perOrigin = DEFAULT_SEEN_PER_ORIGIN,
    private readonly maxOrigins = DEFAULT_SEEN_ORIGINS,
  ) {
    if (!(perOrigin >= 1) || !(maxOrigins >= 1)) throw new RangeError('SeenFrames: limits must be at least 1')
  }

  /**
   * Remembers a frame; true if it is new. A tree index outside [0, TREE_SLOTS) counts as seen, so a
   * frame that cannot belong to any tree is dropped rather than allowed to alias another frame's key.
   */
  remember(origin: string, seq: number, tree = 0): boolean {
    if (!Number.isInteger(tree) || tree < 0 || tree >= TREE_SLOTS) return false
    let frames = this.origins.get(origin)
    if (frames === undefined) {
      if (this.origins.size >= this.maxOrigins) this.origins.delete(this.origins.keys().next().value as string)
      this.origins.set(origin, (frames = { base: seq, keys: new Set() }))
    }
    if (Math.abs(seq - frames.base) >= MAX_OFFSET) {
      frames.base = seq
      frames.keys = new Set()
    }
    const key = (seq - frames.base) * TREE_SLOTS + tree
    if (frames.keys.has(key)) return false
    frames.keys.add(key)
    if (frames.keys.size > this.perOrigin) frames.keys.delete(frames.keys.values().next().value as number)
    return true
  }

  /** Frames remembered, over all origins (for tests and memory accounting). */
  get size(): number {
    let total = 0
    for (const frames of this.origins.values()) total += frames.keys.size
    return total
  }
}
