/** One-way latency between two peers as the tree builder sees it (Infinity: no usable link). */
export type LatencyOf = (a: string, b: string) => number

/**
 * A dissemination tree rooted at an update's origin: `children` of each member. Built by every peer
 * from the shared latency map with the same rule, so peers agree on it without talking about it.
 */
export interface DisseminationTree {
  readonly root: string
  /** Children of each member that has any. */
  readonly children: ReadonlyMap<string, readonly string[]>
  /** Predicted arrival time (ms after the origin sends) at each reached member. */
  readonly arrival: ReadonlyMap<string, number>
}

/**
 * Greedy earliest-arrival tree with bounded fan-out: repeatedly attach the unreached member that can
 * be reached soonest through a member with spare fan-out (Dijkstra's order, with saturated parents
 * taken out). Ties break by id so every peer builds the same tree from the same map. Members that
 * no usable link reaches are left out (anti-entropy and digests still reach them).
 * O(n^2) for n members.
 */
export const buildTree = (root: string, members: readonly string[], latency: LatencyOf, fanout: number, rootFanout = fanout): DisseminationTree => {
  const others = [...new Set(members)].filter((member) => member !== root).sort()
  const arrival = new Map<string, number>([[root, 0]])
  const children = new Map<string, string[]>()
  const inTree: string[] = [root]
  // Best known way in for every member not yet attached.
  const best = new Map<string, { at: number; parent: string }>()
  const capacity = (member: string): number => (member === root ? rootFanout : fanout)
  const consider = (parent: string, target: string): void => {
    const at = (arrival.get(parent) as number) + latency(parent, target)
    if (!Number.isFinite(at)) return
    const current = best.get(target)
    if (current === undefined || at < current.at || (at === current.at && parent < current.parent)) best.set(target, { at, parent })
  }
  for (const other of others) consider(root, other)
  const remaining = new Set(others)
  while (remaining.size > 0) {
    let pick: string | undefined
    let pickAt = Infinity
    for (const member of remaining) {
      const way = best.get(member)
      if (way !== undefined && (way.at < pickAt || (way.at === pickAt && pick !== undefined && member < pick))) {
        pick = member
        pickAt = way.at
      }
    }
    if (pick === undefined) break
    const parent = (best.get(pick) as { parent: string }).parent
    remaining.delete(pick)
    best.delete(pick)
    arrival.set(pick, pickAt)
    const siblings = children.get(parent) ?? []
    siblings.push(pick)
    children.set(parent, siblings)
    inTree.push(pick)
    if (siblings.length >= capacity(parent)) {
      // The parent is full: everyone who counted on it looks again among the members with room.
      for (const member of remaining) {
        if (best.get(member)?.parent !== parent) continue
        best.delete(member)
        for (const candidate of inTree) if ((children.get(candidate)?.length ?? 0) < capacity(candidate)) consider(candidate, member)
      }
    }
    for (const member of remaining) consider(pick, member)
  }
  return { root, children, arrival }
}
