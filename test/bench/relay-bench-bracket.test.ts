// The relay benchmark's saturation bisection must narrow the gap between the last rate that kept up
// and the first that did not, and stop when there is none or it is already narrow.
import { describe, expect, it } from 'vitest'
import { breakBracket } from '../../bench/relay-bench.js'
import type { PhaseResult } from '../../bench/relay-harness.js'

const phase = (rate: number, ok: boolean): PhaseResult => ({
  rate,
  p50Ms: 1,
  p95Ms: 2,
  p99Ms: ok ? 3 : 5000,
  maxMs: 4,
  p99ByServerMs: [],
  p50ByServerMs: [],
  delivered: ok ? 1 : 0.5,
  writesPerSecond: rate,
  deliveriesPerSecond: rate * 100,
  serverCpuUsPerDelivery: 1,
  serverCpuPercent: [50],
  serverLoopPercent: [50],
  loadCpuPercent: [50],
  maxTickLateMs: 0,
  closedReaders: 0,
  refusals: 0,
  machineBusyPercent: 50,
})

describe('relay bench break bracket', () => {
  it('is the highest rate that kept up and the lowest failing one above it', () => {
    expect(breakBracket([phase(100, true), phase(200, true), phase(400, false)])).toEqual({ ok: 200, failed: 400 })
    // A miss below a later success (a noisy phase) does not bound the bracket.
    expect(breakBracket([phase(100, false), phase(200, true), phase(283, true), phase(400, false), phase(800, false)])).toEqual({ ok: 283, failed: 400 })
  })

  it('is undefined when the ramp never broke, broke at once, or the gap is under 5%', () => {
    expect(breakBracket([phase(100, true), phase(200, true)])).toBeUndefined()
    expect(breakBracket([phase(100, false)])).toBeUndefined()
    expect(breakBracket([phase(1000, true), phase(1040, false)])).toBeUndefined()
  })
})
