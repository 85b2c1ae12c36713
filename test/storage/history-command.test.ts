import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { registerHistoryCommands, VERIFY_FAILED_EXIT_CODE } from '../../cli/history-command.js'
import { AuditLedger, openSqliteStore } from '../../storage/index.js'
import { recordingWorld, tempDataDir } from './fixtures/helpers.js'

const BASE = Date.parse('2026-11-24T21:04:00Z')

/** A data directory where a sword is created, picked up by p1, taken by p2 (one update per second, from peer-0, peer-1, peer-2), and p1 gets hurt. */
const makeDataDir = async (): Promise<string> => {
  const dir = tempDataDir()
  const store = openSqliteStore(dir)
  const { world, updates } = recordingWorld()
  world.createItem('sword', 'weapon')
  world.setItemHolderUnversioned('sword', { type: 'player', id: 'p1' })
  world.setItemHolderUnversioned('sword', { type: 'player', id: 'p2' })
  world.createEntity('p1', 'player', { health: { hp: 10 } })
  world.setComponent('p1', 'health', { hp: 4 })
  for (const [n, u] of updates.entries()) {
    const wallMs = BASE + n * 1000
    await store.append('world/1', u, { hlc: { wallMs, counter: 0, peer: `peer-${n}` }, wallMs, origin: `peer-${n}` })
  }
  await store.close()
  return dir
}

/** Runs `history ...` on a fresh commander program; returns what it printed, or the error it raised. */
const run = async (...argv: string[]): Promise<{ out: string; err: string; error?: unknown }> => {
  const out: string[] = []
  const err: string[] = []
  const program = new Command('realmsync').exitOverride().configureOutput({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) })
  registerHistoryCommands(program, { out: (t) => out.push(t), err: (t) => err.push(t) })
  try {
    await program.parseAsync(['history', ...argv], { from: 'user' })
    return { out: out.join(''), err: err.join('') }
  } catch (error) {
    return { out: out.join(''), err: err.join(''), error }
  }
}

describe('realmsync history', () => {
  afterEach(() => {
    process.exitCode = undefined
  })

  it('lists updates as a table and as JSON, filtered by time or sequence', async () => {
    const dir = await makeDataDir()
    const table = await run('list', dir, 'world/1')
    const lines = table.out.trim().split('\n')
    expect(lines[0]).toMatch(/^\s*seq\s+time\s+origin\s+bytes\s+changed$/)
    expect(lines[1]).toMatch(/^\s+1\s+2026-11-24T21:04:00.000Z\s+peer-0\s+\d+\s+items\/sword created \(none\)$/)
    expect(lines[3]).toMatch(/peer-2\s+\d+\s+items\/sword holder player:p1 -> player:p2$/)
    expect(lines[5]).toMatch(/entities\/p1\/components\/health\/hp 10 -> 4$/)
    const json = await run('list', dir, 'world/1', '--json', '--since', '2026-11-24T21:04:01Z', '--until', `ms:${BASE + 2000}`)
    const entries = JSON.parse(json.out) as Array<{ seq: number; origin: string; summary: { holders: unknown[] } }>
    expect(entries.map((e) => [e.seq, e.origin])).toEqual([
      [2, 'peer-1'],
      [3, 'peer-2'],
    ])
    expect(entries[1]?.summary.holders).toEqual([{ item: 'sword', from: 'player:p1', to: 'player:p2' }])
    expect(JSON.parse((await run('list', dir, 'world/1', '--json', '--since', '4')).out).map((e: { seq: number }) => e.seq)).toEqual([4, 5])
  })

  it('says where the kept history starts when retention dropped earlier updates', async () => {
    const dir = await makeDataDir()
    const store = openSqliteStore(dir, { retention: 'none' })
    await store.snapshot('world/1')
    await store.close()
    expect((await run('list', dir, 'world/1')).out.split('\n')[0]).toBe('# history kept from seq 6; earlier updates were dropped by retention')
    expect(String((await run('show', dir, 'world/1', '--at', '2')).error)).toMatch(/history before sequence 5 was dropped by retention/)
  })

  it('shows the state at a moment, as JSON or with a heading', async () => {
    const dir = await makeDataDir()
    const json = await run('show', dir, 'world/1', '--at', '2026-11-24T21:04:01.500Z', '--json')
    expect(JSON.parse(json.out)).toEqual({ items: { sword: { kind: 'weapon', holder: { type: 'player', id: 'p1' } } } })
    const text = await run('show', dir, 'world/1', '--at', 'seq:5')
    expect(text.out.split('\n')[0]).toBe('# world/1 at seq 5 (2026-11-24T21:04:04.000Z)')
    expect(JSON.parse(text.out.slice(text.out.indexOf('\n') + 1)).entities.p1.components.health.hp).toBe(4)
  })

  it('diffs two moments', async () => {
    const dir = await makeDataDir()
    expect((await run('diff', dir, 'world/1', '--from', '2', '--to', 'seq:3')).out).toBe('items/sword/holder/id: "p1" -> "p2"\n')
    expect((await run('diff', dir, 'world/1', '--from', '3', '--to', '3')).out).toBe('no changes\n')
    const json = JSON.parse((await run('diff', dir, 'world/1', '--from', '0', '--to', '1', '--json')).out)
    expect(json).toEqual([
      { path: 'items/sword/holder/type', kind: 'added', after: 'none' },
      { path: 'items/sword/kind', kind: 'added', after: 'weapon' },
    ])
  })

  it('traces an item or an entity', async () => {
    const dir = await makeDataDir()
    const item = (await run('trace', dir, 'world/1', '--item', 'sword')).out.trim().split('\n')
    expect(item).toHaveLength(3)
    expect(item[0]).toMatch(/^\s*1\s+2026-11-24T21:04:00.000Z\s+peer-0\s+\{"kind":"weapon","holder":\{"type":"none"\}\}\s+created - -> none$/)
    expect(item[2]).toMatch(/peer-2\s+\{"kind":"weapon","holder":\{"type":"player","id":"p2"\}\}\s+moved player:p1 -> player:p2$/)
    const entity = (await run('trace', dir, 'world/1', '--entity', 'p1')).out.trim().split('\n')
    expect(entity[1]).toMatch(/peer-4 .* changed components\/health\/hp$/)
    expect(JSON.parse((await run('trace', dir, 'world/1', '--entity', 'nobody', '--json')).out)).toEqual([])
    expect((await run('trace', dir, 'world/1', '--item', 'nothing')).out).toBe('no changes recorded\n')
  })

  it('verifies a data directory, failing with its own exit code', async () => {
    const dir = await makeDataDir()
    const ok = await run('verify', dir)
    expect(ok.out).toMatch(/^ok\s+world\/1\s+5 updates, 0 snapshots: checksums, full replay/)
    expect(process.exitCode).toBeUndefined()
    const ledger = AuditLedger.open(dir)
    const heads = await ledger.append({ kind: 'pickup', peer: 'peer-1', timeMs: BASE, details: { item: 'sword', winner: 'p1' } })
    const withLedger = await run('verify', dir, '--ledger-heads', heads.join(','))
    expect(withLedger.out).toMatch(/ok\s+audit ledger\s+1 records: hash chain of 2 changes intact/)
    const json = JSON.parse((await run('verify', dir, '--json')).out)
    expect(json).toMatchObject({ ok: true, documents: [{ doc: 'world/1', ok: true }], ledger: { ok: true } })
    writeFileSync(join(dir, 'audit.heads.jsonl'), `${JSON.stringify({ records: 1, bytes: 1, heads: ['00'] })}\n`)
    const tampered = await run('verify', dir)
    expect(tampered.out).toMatch(/FAIL\s+audit ledger/)
    expect(process.exitCode).toBe(VERIFY_FAILED_EXIT_CODE)
    process.exitCode = undefined
    const empty = tempDataDir()
    await openSqliteStore(empty).close()
    expect((await run('verify', empty)).out).toBe('no documents stored\n')
  })

  it('gives clear errors for a missing data dir, a missing document, bad moments and bad flags', async () => {
    const dir = await makeDataDir()
    const missingDir = await run('list', '/nonexistent-dir', 'world/1')
    expect(String(missingDir.error)).toMatch(/no realmsync data in \/nonexistent-dir/)
    const missingDoc = await run('show', dir, 'nope', '--at', '1')
    expect(String(missingDoc.error)).toMatch(/document nope is not in this data directory/)
    const pastEnd = await run('show', dir, 'world/1', '--at', '99')
    expect(String(pastEnd.error)).toMatch(/the log ends at sequence 5/)
    const badMoment = await run('show', dir, 'world/1', '--at', 'yesterday-ish')
    expect(badMoment.error).toBeInstanceOf(CommanderError)
    expect(badMoment.err).toMatch(/cannot read moment 'yesterday-ish'/)
    const noTarget = await run('trace', dir, 'world/1')
    expect(noTarget.err).toMatch(/give exactly one of --item or --entity/)
    const both = await run('trace', dir, 'world/1', '--item', 'a', '--entity', 'b')
    expect(both.error).toBeInstanceOf(CommanderError)
  })
})
