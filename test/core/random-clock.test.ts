import { describe, expect, it } from 'vitest'
import { createRandom, createSystemClock, RealmsyncError } from '../../core/index.js'

describe('createRandom', () => {
  it('gives the same sequence for the same seed, and a different one for another seed', () => {
    const a = createRandom(7)
    const b = createRandom(7)
    const c = createRandom(8)
    const seqA = Array.from({ length: 10 }, () => a.next())
    expect(Array.from({ length: 10 }, () => b.next())).toEqual(seqA)
    expect(Array.from({ length: 10 }, () => c.next())).not.toEqual(seqA)
  })

  it('is not degenerate for seed 0', () => {
    const r = createRandom(0)
    const values = new Set(Array.from({ length: 20 }, () => r.next()))
    expect(values.size).toBe(20)
  })

  it('draws integers in bounds, picks, chances and independent forks', () => {
    const r = createRandom(1)
    for (let i = 0; i < 1000; i++) {
      const n = r.int(-3, 3)
      expect(n).toBeGreaterThanOrEqual(-3)
      expect(n).toBeLessThanOrEqual(3)
      expect(Number.isInteger(n)).toBe(true)
    }
    expect(['a', 'b']).toContain(r.pick(['a', 'b']))
    expect(() => r.pick([])).toThrow(RangeError)
    expect(r.chance(1)).toBe(true)
    expect(r.chance(0)).toBe(false)
    const f1 = createRandom(5).fork()
    const f2 = createRandom(5).fork()
    expect(f1.next()).toBe(f2.next())
  })
})

describe('createSystemClock', () => {
  it('reads real time and fires and cancels real timers', async () => {
    const clock = createSystemClock()
    const before = clock.now()
    expect(Math.abs(before - Date.now())).toBeLessThan(1000)
    const fired: number[] = []
    const cancelled = clock.setTimer(1, () => fired.push(1))
    clock.cancelTimer(cancelled)
    clock.cancelTimer(12345)
    await new Promise<void>((resolve) => clock.setTimer(5, () => resolve()))
    await new Promise<void>((resolve) => clock.setTimer(-1, () => resolve()))
    expect(fired).toEqual([])
  })
})

describe('RealmsyncError', () => {
  it('carries a stable code and its class name', () => {
    const error = new RealmsyncError('some-code', 'message')
    expect(error.code).toBe('some-code')
    expect(error.name).toBe('RealmsyncError')
    expect(error).toBeInstanceOf(Error)
  })
})
