/** How a dialer waits between attempts to reach a bootstrap address. */
export interface BackoffPolicy {
  /** Delay before the first retry. Default 250 ms. */
  readonly initialMs: number
  /** Upper bound on any delay. Default 15 000 ms. */
  readonly maxMs: number
  /** Growth per failed attempt. Default 2. */
  readonly factor: number
  /** Fraction of the delay drawn at random (0..1), so restarted clusters do not redial in lockstep. Default 0.2. */
  readonly jitter: number
}

/** The defaults: 250 ms doubling to 15 s, 20% jitter. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 15_000, factor: 2, jitter: 0.2 }

/**
 * Delay before retry number `attempt` (0 = first retry). Pure: the caller supplies `unit`, a number
 * in [0, 1), so tests can pin the jitter. The delay is the capped exponential minus up to `jitter`
 * of itself, so it never exceeds `maxMs`.
 */
export const redialDelayMs = (attempt: number, unit: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number => {
  const exponent = Math.max(0, Math.min(attempt, 60))
  const capped = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent)
  return Math.round(capped * (1 - policy.jitter * Math.min(Math.max(unit, 0), 1)))
}
