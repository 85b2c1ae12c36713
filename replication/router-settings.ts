import type { Millis } from '../core/index.js'

/** How updates spread: `flood` (every connection), `random` (gossipsub-like random mesh), `latency` (ours: latency-aware trees). */
export type RouterKind = 'flood' | 'random' | 'latency'

/** Every router kind, in the order tools list them. */
export const ROUTER_KINDS: readonly RouterKind[] = ['flood', 'random', 'latency']

/** Settings of the gossip routers; `resolveRouterSettings` fills defaults. */
export interface RouterSettings {
  readonly kind: RouterKind
  /** Fan-out: children per relay in a `latency` tree; mesh degree for `random`. Default 6. */
  readonly d: number
  /** `random`: the mesh is refilled when it falls below this. Default 4. */
  readonly dLow: number
  /** `random`: the mesh is trimmed above this. Default 12. */
  readonly dHigh: number
  /** `latency`: children of the origin itself (its own uplink sends first copies). Default 2 x d. */
  readonly rootFanout: number
  /** Interval of round-trip probes per peer. Default 1000 ms. */
  readonly pingIntervalMs: Millis
  /**
   * Interval of lazy digests (clock ranges to a few peers) while a document changes. Default 10 ms,
   * or 25 ms over a reliable transport: there a lost frame means a dropped connection, which the
   * reconnect's sync repairs, so digests only speed repairs around a slow or failed relay, and each
   * digest frame costs a peer CPU (25 ms cut a 5-process loopback cluster's CPU by about 13% at
   * 10k updates/s, bench/cluster-bench.ts).
   */
  readonly digestIntervalMs: Millis
  /** Peers each digest round goes to. Default 4. */
  readonly lazyFanout: number
  /** Digest rounds a document keeps being announced after its last change. Default 5. */
  readonly digestLingerRounds: number
  /** How long a peer that saw a digest naming updates it lacks waits for them before pulling. Default 5 ms. */
  readonly graftTimeoutMs: Millis
  /** Trees per update: a number, or `adaptive` (1 without loss; 2, 3 or 4 as probes show 1%, 5%, 10% loss). Default `adaptive`, or 1 over a reliable transport. */
  readonly redundancy: number | 'adaptive'
}

/** Partial settings as users pass them. */
export type RouterOptions = Partial<RouterSettings> & { readonly kind: RouterKind }

/** What the transport underneath promises, which changes some defaults. */
export interface TransportTraits {
  /**
   * Frames arrive in order or the connection drops (TCP, WebSocket, libp2p streams). Redundant
   * trees then default to one: an unanswered probe there means a busy peer, not a lost frame, and
   * extra copies would only deepen the overload; digests default to every 25 ms instead of 10.
   */
  readonly reliable?: boolean
}

/** Fills in defaults and checks ranges (a bad setting is a programming error: RangeError). */
export const resolveRouterSettings = (options: RouterOptions, traits: TransportTraits = {}): RouterSettings => {
  const d = options.d ?? 6
  const settings: RouterSettings = {
    kind: options.kind,
    d,
    dLow: options.dLow ?? Math.max(1, d - 2),
    dHigh: options.dHigh ?? d * 2,
    rootFanout: options.rootFanout ?? d * 2,
    pingIntervalMs: options.pingIntervalMs ?? 1000,
    digestIntervalMs: options.digestIntervalMs ?? (traits.reliable === true ? 25 : 10),
    lazyFanout: options.lazyFanout ?? 4,
    digestLingerRounds: options.digestLingerRounds ?? 5,
    graftTimeoutMs: options.graftTimeoutMs ?? 5,
    redundancy: options.redundancy ?? (traits.reliable === true ? 1 : 'adaptive'),
  }
  if (!ROUTER_KINDS.includes(settings.kind)) throw new RangeError(`unknown router '${String(settings.kind)}': use ${ROUTER_KINDS.join(', ')}`)
  for (const key of ['d', 'dLow', 'dHigh', 'rootFanout', 'lazyFanout'] as const) {
    if (!Number.isInteger(settings[key]) || settings[key] < 1) throw new RangeError(`router ${key} must be a positive integer, got ${settings[key]}`)
  }
  if (settings.dLow > settings.d || settings.d > settings.dHigh) throw new RangeError('router degrees must satisfy dLow <= d <= dHigh')
  for (const key of ['pingIntervalMs', 'digestIntervalMs', 'graftTimeoutMs'] as const) {
    if (!(settings[key] > 0)) throw new RangeError(`router ${key} must be positive, got ${settings[key]}`)
  }
  if (settings.redundancy !== 'adaptive' && (!Number.isInteger(settings.redundancy) || settings.redundancy < 1 || settings.redundancy > 4)) {
    throw new RangeError('router redundancy must be adaptive or an integer from 1 to 4')
  }
  return settings
}
