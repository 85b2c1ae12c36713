import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_BACKOFF, redialDelayMs } from '../../transports/index.js'

describe('redial backoff', () => {
  it('grows exponentially from the initial delay up to the cap, with jitter only downwards', () => {
    expect(redialDelayMs(0, 0)).toBe(250)
    expect(redialDelayMs(1, 0)).toBe(500)
    expect(redialDelayMs(3, 0)).toBe(2000)
    expect(redialDelayMs(100, 0)).toBe(15_000)
    expect(redialDelayMs(0, 0.999)).toBe(200)
    fc.assert(
      fc.property(fc.nat(1000), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, unit) => {
        const delay = redialDelayMs(attempt, unit)
        expect(delay).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs)
        expect(delay).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.initialMs * (1 - DEFAULT_BACKOFF.jitter))
        expect(redialDelayMs(attempt + 1, unit)).toBeGreaterThanOrEqual(delay)
      }),
    )
  })

  it('takes a policy and clamps odd inputs', () => {
    const policy = { initialMs: 10, maxMs: 100, factor: 3, jitter: 0 }
    expect([0, 1, 2, 3].map((n) => redialDelayMs(n, 0.5, policy))).toEqual([10, 30, 90, 100])
    expect(redialDelayMs(-5, 2, policy)).toBe(10)
  })
})
