import type { Random } from '../core/index.js'

/** A square matrix of one-way base latencies in ms: `matrix[a][b]` from peer a to peer b. */
export type LatencyMatrix = number[][]

/** How to lay peers out in regions: intra-region and inter-region latency ranges. */
export interface RegionLayout {
  /** Number of regions; peers are assigned round-robin. */
  readonly regions: number
  /** One-way latency between peers of the same region, [min, max] ms. */
  readonly intraMs: readonly [number, number]
  /** One-way latency between regions, [min, max] ms, drawn once per region pair. */
  readonly interMs: readonly [number, number]
}

/** Region of each peer under round-robin assignment. */
export const regionOf = (peer: number, regions: number): number => peer % Math.max(1, regions)

/** Builds a symmetric latency matrix from a region layout, drawing values from the seeded source. */
export const latencyMatrixFromRegions = (peers: number, layout: RegionLayout, random: Random): LatencyMatrix => {
  const draw = ([min, max]: readonly [number, number]): number => min + random.next() * (max - min)
  const between: number[][] = []
  for (let r = 0; r < layout.regions; r++) {
    between.push([])
    for (let s = 0; s < layout.regions; s++) between[r]!.push(r === s ? 0 : s < r ? between[s]![r]! : draw(layout.interMs))
  }
  const matrix: LatencyMatrix = []
  for (let a = 0; a < peers; a++) {
    matrix.push([])
    for (let b = 0; b < peers; b++) {
      if (a === b) matrix[a]!.push(0)
      else if (b < a) matrix[a]!.push(matrix[b]![a]!)
      else {
        const ra = regionOf(a, layout.regions)
        const rb = regionOf(b, layout.regions)
        matrix[a]!.push(ra === rb ? draw(layout.intraMs) : between[ra]![rb]! + draw(layout.intraMs) / 2)
      }
    }
  }
  return matrix
}

/** A uniform matrix: every pair `ms` apart. */
export const uniformLatencyMatrix = (peers: number, ms: number): LatencyMatrix =>
  Array.from({ length: peers }, (_, a) => Array.from({ length: peers }, (_, b) => (a === b ? 0 : ms)))
