import type { EphemeralEntry } from './ephemeral-types.js'

/** A y-protocols sync message (step 1, step 2 or update), unchanged, for one named document. */
export interface SyncFrame {
  readonly type: 'sync'
  /** Document name, for example `world/w1/region/3:4`. */
  readonly doc: string
  /** The y-protocols sync message bytes, so Yjs tools interoperate. */
  readonly payload: Uint8Array
}

/** A batch of ephemeral registers (positions, aim, ...), merged last-writer-wins by the receiver. */
export interface EphemeralFrame {
  readonly type: 'ephemeral'
  readonly entries: readonly EphemeralEntry[]
}

/**
 * A document update pushed along a dissemination tree (or mesh): the Yjs update as its origin made
 * it, with what a relay needs to pass it on exactly once per tree.
 */
export interface GossipFrame {
  readonly type: 'gossip'
  readonly doc: string
  /** The peer that made the update: the root of the tree it travels. */
  readonly origin: string
  /** The origin's own counter of the updates it sent; with `origin` it names the message. */
  readonly seq: number
  /** Which of the origin's redundant trees this copy travels (0 normally; more under loss). */
  readonly tree: number
  /** The origin's clock when it sent the update (ms), for propagation-latency metrics. */
  readonly sentAt: number
  /** The Yjs update (not wrapped in a y-protocols message). */
  readonly update: Uint8Array
}

/** Updates of one Yjs client (one replica's causal chain): clocks `from` (inclusive) to `to` (exclusive). */
export interface ClockRange {
  readonly client: number
  readonly from: number
  readonly to: number
}

/**
 * A lazy digest: per Yjs client, the clock range of the updates the sender newly holds and has not
 * yet told this receiver. A receiver whose own clock for a client is below a range's `to` lacks
 * updates the sender holds (Yjs clocks are contiguous per client) and pulls them.
 */
export interface DigestFrame {
  readonly type: 'digest'
  readonly doc: string
  /** At most one range per client, each non-empty. */
  readonly ranges: readonly ClockRange[]
}

/**
 * A pull (Plumtree's graft): asks the receiver for each listed client's updates from `from` on. The
 * answer is a sync step 2 holding at least `from` to `to` of each client, as far as the receiver
 * has them, and may hold later ones of those clients too.
 */
export interface PullFrame {
  readonly type: 'pull'
  readonly doc: string
  /** At most one range per client, each non-empty. */
  readonly ranges: readonly ClockRange[]
}

/** A peer's network coordinate (Vivaldi: a 2-D position plus a height for the access link), in ms. */
export interface NetworkCoordinate {
  readonly x: number
  readonly y: number
  readonly height: number
  /** The owner's confidence: relative error estimate, 0 (sure) to 1 and more. */
  readonly error: number
}

/** What a peer measured to another: one-way latency estimate in ms, or `null` if the link is down. */
export interface LinkReport {
  readonly peer: string
  readonly oneWayMs: number | null
}

/** A round-trip probe; it carries the sender's coordinate and its measured links, so all peers share one latency map. */
export interface PingFrame {
  readonly type: 'ping'
  readonly nonce: number
  readonly coordinate: NetworkCoordinate
  /** Whether `links` is the sender's whole report (replacing what the receiver had) or only what changed. */
  readonly full: boolean
  readonly links: readonly LinkReport[]
}

/** The answer to a ping, with the answerer's coordinate. */
export interface PongFrame {
  readonly type: 'pong'
  readonly nonce: number
  readonly coordinate: NetworkCoordinate
}

/**
 * An opaque message for a named application channel (resolver claims, signed decisions, epoch
 * announcements): the peer hands the payload to whoever listens on the channel, which decodes it
 * strictly itself.
 */
export interface ChannelFrame {
  readonly type: 'channel'
  /** Channel name, for example `resolvers/claims`. */
  readonly channel: string
  readonly payload: Uint8Array
}

/** Every message realmsync peers exchange. */
export type WireMessage = SyncFrame | EphemeralFrame | GossipFrame | DigestFrame | PullFrame | PingFrame | PongFrame | ChannelFrame

/** The numeric tag of each message type on the wire. Never reuse a retired number. */
export const MESSAGE_TAGS = {
  sync: 0,
  ephemeral: 1,
  gossip: 2,
  // 3 is retired: digests that carried a state vector (before clock ranges).
  // 4 is retired: pings that always carried the whole link report (before delta reports).
  pong: 5,
  channel: 6,
  digest: 7,
  pull: 8,
  ping: 9,
} as const satisfies Record<WireMessage['type'], number>
