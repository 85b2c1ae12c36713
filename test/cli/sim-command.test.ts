import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadScenario, runCli } from '../../cli/index.js'

const capture = () => {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err }
}

const quick = (extra: Record<string, unknown> = {}) => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-cli-'))
  const path = join(dir, 'scenario.json')
  writeFileSync(path, JSON.stringify({ name: 'quick', peers: 3, workload: { updatesPerSecond: 50, durationMs: 500 }, faults: [{ type: 'partition', at: 100, durationMs: 200 }], ...extra }))
  return { dir, path }
}

describe('realmsync sim', () => {
  afterEach(() => {
    process.exitCode = undefined
  })

  it('runs a scenario file and prints a table', async () => {
    const { path } = quick()
    const c = capture()
    expect(await runCli(['sim', path, '--seed', '3'], c.io)).toBe(0)
    const text = c.out.join('')
    expect(text).toMatch(/scenario\s+quick/)
    expect(text).toMatch(/converged\s+yes/)
    expect(text).toMatch(/trace hash\s+[0-9a-f]{64}/)
  })

  it('prints JSON with --json, reproducibly for a seed, and honours --peers', async () => {
    const { path } = quick()
    const a = capture()
    const b = capture()
    await runCli(['sim', path, '--seed', '5', '--json', '--peers', '4'], a.io)
    await runCli(['sim', path, '--seed', '5', '--json', '--peers', '4'], b.io)
    const report = JSON.parse(a.out.join(''))
    expect(report).toMatchObject({ scenario: 'quick', seed: 5, peers: 4, converged: true, router: 'latency' })
    expect(report.traceHash).toBe(JSON.parse(b.out.join('')).traceHash)
    const flood = capture()
    await runCli(['sim', path, '--seed', '5', '--json', '--peers', '4', '--router', 'flood'], flood.io)
    expect(JSON.parse(flood.out.join(''))).toMatchObject({ router: 'flood', converged: true, routerStats: {} })
  })

  it('refuses bad arguments with a clear message and a non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['sim', 'no-such-scenario'], /unknown scenario 'no-such-scenario'/],
      [['sim', 'partition-heal', '--seed', '-1'], /--seed must be an integer/],
      [['sim', 'partition-heal', '--peers', '1'], /--peers must be an integer/],
      [['sim', 'partition-heal', '--router', 'magic'], /--router must be one of/],
      [['sim', '/nonexistent/file.json'], /cannot read scenario file/],
    ]
    for (const [argv, pattern] of cases) {
      const c = capture()
      expect(await runCli(argv, c.io)).not.toBe(0)
      expect(c.err.join('')).toMatch(pattern)
    }
    const { dir } = quick()
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{ not json')
    const c = capture()
    expect(await runCli(['sim', broken], c.io)).toBe(1)
    expect(c.err.join('')).toMatch(/not valid JSON/)
    const invalid = join(dir, 'invalid.json')
    writeFileSync(invalid, JSON.stringify({ peers: 'many' }))
    const d = capture()
    expect(await runCli(['sim', invalid], d.io)).toBe(1)
    expect(d.err.join('')).toMatch(/invalid scenario: peers must be a number/)
  })

  it('prints help and the version', async () => {
    const c = capture()
    expect(await runCli(['--help'], c.io)).toBe(0)
    expect(c.out.join('')).toMatch(/sim \[options\] <scenario>/)
    const v = capture()
    expect(await runCli(['--version'], v.io)).toBe(0)
    expect(v.out.join('')).toMatch(/0\.1\.0/)
  })

  it('loads built-in scenarios by name', () => {
    expect(loadScenario('lossy').link.loss).toBe(0.3)
  })
})

describe('shipped example scenario', () => {
  it('examples/regional-outage.json runs and converges', async () => {
    const c = capture()
    expect(await runCli(['sim', 'examples/regional-outage.json', '--json'], c.io)).toBe(0)
    expect(JSON.parse(c.out.join(''))).toMatchObject({ scenario: 'regional-outage', peers: 9, converged: true })
  })
})
