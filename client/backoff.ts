/** Settings of `reconnectDelay`. */
export interface BackoffOptions {
  /** Delay scale of the first retry, in ms. Default 250. */
  readonly baseMs?: number
  /** Longest delay, in ms. Default 10 000. */
  readonly capMs?: number
}

/**
 * The wait before reconnect attempt `attempt` (0 for the first retry): exponential growth from
 * `baseMs` up to `capMs`, with "equal jitter": half the step is fixed, half drawn from `random`
 * (a number in [0, 1)). The fixed half keeps a retry storm from ever collapsing to zero delay; the
 * random half spreads clients that lost the same server so they do not all return at once.
 */
export const reconnectDelay = (attempt: number, random: number, options: BackoffOptions = {}): number => {
  const base = options.baseMs ?? 250
  const cap = options.capMs ?? 10_000
  // 2 ** attempt overflows to Infinity long before it matters; min() keeps the step finite.
  const step = Math.min(cap, base * 2 ** Math.max(0, Math.floor(attempt)))
  const jitter = Math.min(Math.max(random, 0), 1)
  return step / 2 + (step / 2) * jitter
}
