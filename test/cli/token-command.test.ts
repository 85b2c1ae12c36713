import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCli } from '../../cli/program.js'
import { AUTH_SECRET_ENV, canRead, canWrite, verifyToken } from '../../gateway/index.js'

const SECRET = 'a-development-secret-of-32-bytes!'

const capture = () => {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err }
}

describe('realmsync token', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
    process.exitCode = undefined
  })

  it('prints a token that verifyToken accepts, with default read world/* and ttl 3600', async () => {
    const c = capture()
    const before = Date.now()
    expect(await runCli(['token', '--player', 'p1', '--auth-secret', SECRET], c.io)).toBe(0)
    const token = c.out.join('').trim()
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const grants = await verifyToken(token, { kind: 'secret', secret: SECRET })
    expect(grants.player).toBe('p1')
    expect(grants.read.map((p) => p.source)).toEqual(['world/*'])
    expect(grants.write).toEqual([])
    expect(grants.expiresAt! - before).toBeGreaterThan(3590_000)
    expect(grants.expiresAt! - before).toBeLessThanOrEqual(3601_000)
  })

  it('takes repeated --read and --write, --ttl, and the secret from the environment', async () => {
    vi.stubEnv(AUTH_SECRET_ENV, SECRET)
    const c = capture()
    const argv = ['token', '--player', 'p7', '--read', 'world/1/*', '--read', 'world/2/**', '--write', 'player/p7/*', '--write', 'player/p7/bag/**', '--ttl', '120']
    expect(await runCli(argv, c.io)).toBe(0)
    const grants = await verifyToken(c.out.join('').trim(), { kind: 'secret', secret: SECRET })
    expect(grants.read.map((p) => p.source)).toEqual(['world/1/*', 'world/2/**'])
    expect(canRead(grants, 'world/2/a/b')).toBe(true)
    expect(canRead(grants, 'world/3')).toBe(false)
    expect(canWrite(grants, 'player/p7/bag/slot/1')).toBe(true)
    expect(grants.expiresAt! - Date.now()).toBeLessThanOrEqual(120_000)
  })

  it('refuses bad flags and short secrets with a clear message and a non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['token', '--auth-secret', SECRET], /required option '--player <id>'/],
      [['token', '--player', 'p1'], /token needs a secret: --auth-secret or REALMSYNC_AUTH_SECRET/],
      [['token', '--player', 'p1', '--auth-secret', 'too-short'], /at least 32 bytes/],
      [['token', '--player', 'p1', '--auth-secret', SECRET, '--ttl', '0'], /--ttl <seconds>.*positive whole number/],
      [['token', '--player', 'p1', '--auth-secret', SECRET, '--ttl', '1h'], /positive whole number/],
      [['token', '--player', 'p1', '--auth-secret', SECRET, '--write', 'world/*'], /may write only documents under 'player\/p1\/'/],
      [['token', '--player', 'p1', '--auth-secret', SECRET, '--read', 'world/p*'], /wildcard must be a whole segment/],
      [['token', '--player', 'a/b', '--auth-secret', SECRET], /player id must not contain/],
    ]
    for (const [argv, pattern] of cases) {
      const c = capture()
      expect(await runCli(argv, c.io), argv.join(' ')).not.toBe(0)
      expect(c.err.join(''), argv.join(' ')).toMatch(pattern)
      expect(c.out.join('')).toBe('')
    }
  })

  it('prefers --auth-secret over the environment', async () => {
    vi.stubEnv(AUTH_SECRET_ENV, 'x')
    const c = capture()
    expect(await runCli(['token', '--player', 'p1', '--auth-secret', SECRET], c.io)).toBe(0)
    await expect(verifyToken(c.out.join('').trim(), { kind: 'secret', secret: SECRET })).resolves.toMatchObject({ player: 'p1' })
  })
})
