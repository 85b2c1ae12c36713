import { createHash } from 'node:crypto'

/** Rendezvous (highest random weight) score of a peer for a decision: SHA-256 of both, first 6 bytes. */
const scoreOf = (decisionId: string, peer: string): number => createHash('sha256').update(`${decisionId}\u0000${peer}`).digest().readUIntBE(0, 6)

/**
 * Every candidate re-validator of a decision, best first: rendezvous hashing over the cluster's
 * peers without the decider. Every peer that knows the same cluster computes the same order, so a
 * decider cannot pick friendly validators, and a peer joining or leaving moves few decisions.
 */
export const rankValidators = (decisionId: string, decider: string, peers: readonly string[]): string[] =>
  [...new Set(peers)]
    .filter((peer) => peer !== decider)
    .map((peer) => ({ peer, score: scoreOf(decisionId, peer) }))
    .sort((a, b) => b.score - a.score || (a.peer < b.peer ? -1 : 1))
    .map(({ peer }) => peer)

/**
 * The validators a decider asks: the first `k` reachable peers in rendezvous order among the first
 * `k + spare` (so a down peer is skipped, but the choice stays within a set every verifier can
 * recompute). Fewer than `k` means the decision cannot be confirmed now.
 */
export const chooseValidators = (decisionId: string, decider: string, peers: readonly string[], reachable: (peer: string) => boolean, k: number, spare: number): string[] =>
  rankValidators(decisionId, decider, peers)
    .slice(0, k + spare)
    .filter(reachable)
    .slice(0, k)
