import { describe, expect, it } from 'vitest'
import { SimScheduler } from '../../sim/index.js'

describe('SimScheduler', () => {
  it('fires events in time order, then insertion order, on virtual time', () => {
    const s = new SimScheduler()
    const fired: string[] = []
    s.setTimer(10, () => fired.push(`b@${s.now()}`))
    s.setTimer(5, () => fired.push(`a@${s.now()}`))
    s.setTimer(10, () => fired.push(`c@${s.now()}`))
    s.at(7, () => s.setTimer(0, () => fired.push(`d@${s.now()}`)))
    s.runUntil(20)
    expect(fired).toEqual(['a@5', 'd@7', 'b@10', 'c@10'])
    expect(s.now()).toBe(20)
    expect(s.eventsProcessed).toBe(5)
  })

  it('cancels timers and stops at the horizon', () => {
    const s = new SimScheduler()
    const fired: number[] = []
    const handle = s.setTimer(1, () => fired.push(1))
    s.setTimer(2, () => fired.push(2))
    s.setTimer(50, () => fired.push(50))
    s.cancelTimer(handle)
    s.cancelTimer(9999)
    s.runUntil(10)
    expect(fired).toEqual([2])
    expect(s.pending).toBe(1)
    expect(s.step(10)).toBe(1)
    expect(fired).toEqual([2, 50])
    expect(s.now()).toBe(50)
  })

  it('treats negative delays as now', () => {
    const s = new SimScheduler()
    s.runUntil(100)
    let at = -1
    s.setTimer(-5, () => (at = s.now()))
    s.step(1)
    expect(at).toBe(100)
  })
})
