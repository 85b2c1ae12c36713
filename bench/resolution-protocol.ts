// The contract between bench/resolution-bench.ts and bench/resolution-worker.ts.

/**
 * Now in ms on the machine's monotonic clock (CLOCK_MONOTONIC), which every process on the machine
 * reads alike: the bench's times cross processes (a claim here, the outcome seen there). The
 * per-process wall clock `performance.timeOrigin + performance.now()` is fixed when each process
 * starts and was seen 10-25 ms apart between three workers started on a loaded machine, enough to
 * make the winner visible before it was claimed.
 */
export const monotonicNow = (): number => Number(process.hrtime.bigint()) / 1e6

/**
 * What a resolution worker runs. `realmsync`: a peer as `realmsync serve` runs it (libp2p) with a
 * ResolverGate; `realmsync-ws`: the same over the WebSocket peer transport; `floor`: a bare ws mesh
 * passing the same messages (claim to the owner, answer to the claimants, outcome to every process)
 * with no realmsync code at all, the least this pattern costs on this machine.
 */
export type ResolutionSystem = 'realmsync' | 'realmsync-ws' | 'floor'

/** What a resolution worker is started with (argv[2], JSON). */
export interface ResolutionWorkerConfig {
  readonly index: number
  readonly listen: string
  readonly bootstrap: readonly string[]
  readonly dataDir: string
  readonly secret: string
  /** Items seeded in the world (every node seeds the same bytes). */
  readonly items: number
  /** Default `realmsync`. */
  readonly system?: ResolutionSystem
}

/** A command on a worker's stdin. */
export type ResolutionCommand =
  | { readonly cmd: 'setup'; readonly members: readonly string[]; readonly windowMs: number | 'auto' }
  | { readonly cmd: 'peers' }
  /** Submit a pickup of `item` for `player` at wall-clock ms `at`; `owner`: the item's owner's index in `members` (the floor's routing; a gate finds it itself). */
  | { readonly cmd: 'claim'; readonly item: string; readonly player: string; readonly at: number; readonly owner?: number }
  | { readonly cmd: 'report' }
  | { readonly cmd: 'quit' }

/** An answer on a worker's stdout. */
export type ResolutionAnswer =
  | { readonly event: 'ready'; readonly id: string; readonly addresses: readonly string[] }
  | { readonly event: 'setup' | 'scheduled' }
  | { readonly event: 'peers'; readonly peers: number }
  | {
      readonly event: 'report'
      readonly claims: ReadonlyArray<{ item: string; submittedAt: number; answeredAt: number; granted: boolean }>
      /** Item -> the player first seen holding it here and when (wall ms). */
      readonly seen: Readonly<Record<string, { holder: string; at: number }>>
      /** The gate's settlement counters (the floor's message counters). */
      readonly stats: Readonly<Record<string, number>>
      /** Garbage-collection pauses of this process while rounds ran: wall-clock start and length, ms. */
      readonly gcPauses: ReadonlyArray<{ readonly at: number; readonly ms: number }>
      /** Longest event-loop delay seen while rounds ran, ms. */
      readonly loopDelayMaxMs: number
      /** This process's `performance.timeOrigin + performance.now()` minus `monotonicNow()`: how far apart the processes' wall clocks are. */
      readonly wallClockOffsetMs: number
      /** CPU time (user + system) this process used from its first claim to the report, ms. */
      readonly cpuMs: number
    }
  | { readonly event: 'error'; readonly message: string }

/** One process's side of the resolution pattern, driven by bench/resolution-worker.ts. */
export interface ResolutionNode {
  /** Its id in the membership the parent installs. */
  readonly id: string
  readonly addresses: readonly string[]
  /** Processes connected to this one. */
  connectedPeers(): number
  /** Installs the membership (every process's id) and the owners' settlement window. */
  setup(members: readonly string[], windowMs: number | 'auto'): void
  /** Submits a pickup now; `answer` is called once, with whether it was granted. `owner`: the item's owner's index in the members. */
  claim(item: string, player: string, owner: number | undefined, answer: (granted: boolean) => void): void
  /** Settlement or message counters. */
  stats(): Record<string, number>
  close(): Promise<void>
}

/** Told when a player becomes the holder of an item on this process. */
export type VisibleListener = (item: string, holder: string) => void
