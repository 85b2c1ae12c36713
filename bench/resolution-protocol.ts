// The contract between bench/resolution-bench.ts and bench/resolution-worker.ts.

/** What a resolution worker is started with (argv[2], JSON). */
export interface ResolutionWorkerConfig {
  readonly index: number
  readonly listen: string
  readonly bootstrap: readonly string[]
  readonly dataDir: string
  readonly secret: string
  /** Items seeded in the world (every node seeds the same bytes). */
  readonly items: number
}

/** A command on a worker's stdin. */
export type ResolutionCommand =
  | { readonly cmd: 'setup'; readonly members: readonly string[]; readonly windowMs: number | 'auto' }
  | { readonly cmd: 'peers' }
  /** Submit a pickup of `item` for `player` at wall-clock ms `at`. */
  | { readonly cmd: 'claim'; readonly item: string; readonly player: string; readonly at: number }
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
      /** The gate's settlement counters. */
      readonly stats: Readonly<Record<string, number>>
      /** Garbage-collection pauses of this process while rounds ran: wall-clock start and length, ms. */
      readonly gcPauses: ReadonlyArray<{ readonly at: number; readonly ms: number }>
      /** Longest event-loop delay seen while rounds ran, ms. */
      readonly loopDelayMaxMs: number
    }
  | { readonly event: 'error'; readonly message: string }
