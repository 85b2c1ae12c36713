import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WorldDoc } from '../../core/index.js'
import { AuditLedger, openSqliteStore } from '../../storage/index.js'
import { parseMoment, runCli } from '../../cli/index.js'
import { EPOCH_DOC, epochWorld, TIMES } from '../storage/fixtures/epoch-world.js'

const capture = () => {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err }
}

const makeDataDir = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-history-'))
  const store = openSqliteStore(dir)
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  const world = new WorldDoc(doc)
  world.createItem('sword', 'weapon')
  world.setItemHolderUnversioned('sword', { type: 'player', id: 'p1' })
  world.setItemHolderUnversioned('sword', { type: 'player', id: 'p2' })
  const base = Date.parse('2026-11-24T21:04:00Z')
  for (const [n, u] of updates.entries()) await store.append('world/1', u, { hlc: { wallMs: base + n * 1000, counter: 0, peer: `peer-${n}` }, wallMs: base + n * 1000, origin: `peer-${n}` })
  await store.close()
  return dir
}

describe('realmsync history', () => {
  afterEach(() => {
    process.exitCode = undefined
  })

  it('lists updates as a table and as JSON, filtered by time', async () => {
    const dir = await makeDataDir()
    const c = capture()
    expect(await runCli(['history', 'list', dir, 'world/1'], c.io)).toBe(0)
    expect(c.out.join('')).toMatch(/1\s+2026-11-24T21:04:00.000Z\s+peer-0\s+\d+\s+items\/sword/)
    const j = capture()
    await runCli(['history', 'list', dir, 'world/1', '--json', '--since', '2026-11-24T21:04:01Z', '--until', `ms:${Date.parse('2026-11-24T21:04:02Z')}`], j.io)
    expect(JSON.parse(j.out.join('')).map((e: { seq: number }) => e.seq)).toEqual([2, 3])
  })

  it('shows the state at a moment, diffs, and traces an item', async () => {
    const dir = await makeDataDir()
    const show = capture()
    await runCli(['history', 'show', dir, 'world/1', '--at', '2026-11-24T21:04:01.500Z', '--json'], show.io)
    expect(JSON.parse(show.out.join('')).items.sword.holder).toEqual({ type: 'player', id: 'p1' })
    const diff = capture()
    await runCli(['history', 'diff', dir, 'world/1', '--from', '2', '--to', 'seq:3'], diff.io)
    expect(diff.out.join('')).toBe('items/sword/holder/id: "p1" -> "p2"\n')
    const same = capture()
    await runCli(['history', 'diff', dir, 'world/1', '--from', '3', '--to', '3', '--json'], same.io)
    expect(JSON.parse(same.out.join(''))).toEqual([])
    const trace = capture()
    await runCli(['history', 'trace', dir, 'world/1', '--item', 'sword'], trace.io)
    expect(trace.out.join('').trim().split('\n')).toHaveLength(3)
    expect(trace.out.join('')).toMatch(/peer-2\s+\{"kind":"weapon","holder":\{"type":"player","id":"p2"\}\}/)
    const traceJson = capture()
    await runCli(['history', 'trace', dir, 'world/1', '--entity', 'nobody', '--json'], traceJson.io)
    expect(JSON.parse(traceJson.out.join(''))).toEqual([])
  })

  it('verifies a data directory', async () => {
    const dir = await makeDataDir()
    const c = capture()
    expect(await runCli(['history', 'verify', dir], c.io)).toBe(0)
    expect(c.out.join('')).toMatch(/^ok\s+world\/1\s+3 updates, 0 snapshots: checksums, full replay/)
    const j = capture()
    await runCli(['history', 'verify', dir, '--json'], j.io)
    expect(JSON.parse(j.out.join('')).documents[0]).toMatchObject({ doc: 'world/1', ok: true })
    const ledger = AuditLedger.open(dir)
    ledger.append({ kind: 'pickup', peer: 'peer-1', timeMs: 1, details: { item: 'sword', winner: 'p1' } })
    const withLedger = capture()
    expect(await runCli(['history', 'verify', dir], withLedger.io)).toBe(0)
    expect(withLedger.out.join('')).toMatch(/ok\s+audit ledger\s+1 records: hash chain of 2 changes intact/)
    writeFileSync(join(dir, 'audit.heads.jsonl'), JSON.stringify({ records: 1, bytes: 1, heads: ['00'] }) + '\n')
    const tampered = capture()
    expect(await runCli(['history', 'verify', dir], tampered.io)).toBe(3)
    expect(tampered.out.join('')).toMatch(/FAIL\s+audit ledger/)
  })

  it('gives clear errors for a missing data dir, a missing document, bad moments and bad flags', async () => {
    const dir = await makeDataDir()
    const cases: Array<[string[], RegExp]> = [
      [['history', 'list', '/nonexistent-dir', 'world/1'], /no realmsync data in \/nonexistent-dir/],
      [['history', 'show', dir, 'nope', '--at', '1'], /document nope is not in this data directory/],
      [['history', 'show', dir, 'world/1', '--at', 'yesterday-ish'], /cannot read moment/],
      [['history', 'trace', dir, 'world/1'], /exactly one of --item or --entity/],
    ]
    for (const [argv, pattern] of cases) {
      const c = capture()
      expect(await runCli(argv, c.io)).not.toBe(0)
      expect(c.err.join('')).toMatch(pattern)
    }
  })

  it('parses moments', () => {
    expect(parseMoment('42')).toEqual({ seq: 42 })
    expect(parseMoment('seq:7')).toEqual({ seq: 7 })
    expect(parseMoment('ms:1000')).toEqual({ timeMs: 1000 })
    expect(parseMoment('2026-01-01T00:00:00Z')).toEqual({ timeMs: Date.parse('2026-01-01T00:00:00Z') })
  })
})

describe('realmsync history across document epochs', () => {
  afterEach(() => {
    process.exitCode = undefined
  })

  it('lists the epochs, shows a time in an old epoch, traces an item through the chain and verifies each epoch', async () => {
    const { store, peers, dataDir } = await epochWorld()
    for (const peer of peers) peer.close()
    await store.close()

    const list = capture()
    expect(await runCli(['history', 'list', dataDir, EPOCH_DOC], list.io)).toBe(0)
    const listed = list.out.join('')
    expect(listed).toContain('# epochs (sequences are per epoch):')
    expect(listed).toMatch(/#\s+e0\s+world\/epochs\s+from/)
    expect(listed).toMatch(/#\s+e3 \(current\)\s+world\/epochs#3\.[0-9a-f]{16}\s+from .* hash [0-9a-f]{16}/)
    expect(listed).toMatch(/\n\s+e2\s+1\s+1970-01-01T00:00:00\.1\d\dZ\s+b\s+\d+\s+/)
    const listJson = capture()
    await runCli(['history', 'list', dataDir, EPOCH_DOC, '--json', '--since', `ms:${TIMES.moved}`, '--until', `ms:${TIMES.cut2 - 1}`], listJson.io)
    const parsed = JSON.parse(listJson.out.join('')) as { epochs: Array<{ n: number }>; entries: Array<{ epoch: { n: number } }> }
    expect(parsed.epochs.map((e) => e.n)).toEqual([0, 1, 2, 3])
    expect(parsed.entries.length).toBeGreaterThan(0)
    expect(parsed.entries.every((e) => e.epoch.n === 1)).toBe(true)

    const show = capture()
    await runCli(['history', 'show', dataDir, EPOCH_DOC, '--at', `ms:${TIMES.moved + 10}`], show.io)
    expect(show.out.join('')).toMatch(/^# world\/epochs at epoch 1 \(world\/epochs#1\.[0-9a-f]{16}\) seq \d+/)
    const showJson = capture()
    await runCli(['history', 'show', dataDir, EPOCH_DOC, '--at', `ms:${TIMES.held + 5}`, '--json'], showJson.io)
    expect(JSON.parse(showJson.out.join('')).items.sword.holder).toEqual({ type: 'player', id: 'p1' })

    const trace = capture()
    await runCli(['history', 'trace', dataDir, EPOCH_DOC, '--item', 'sword'], trace.io)
    const lines = trace.out.join('').trim().split('\n')
    expect(lines.map((line) => line.trim().split(/\s+/)[0])).toEqual(['e0', 'e0', 'e1', 'e2'])
    expect(lines[3]).toContain('moved player:p2 -> container:chest')

    const verify = capture()
    expect(await runCli(['history', 'verify', dataDir], verify.io)).toBe(0)
    const verified = verify.out.join('')
    expect(verified).toMatch(/ok\s+world\/epochs#2\.[0-9a-f]{16}\s+\d+ updates, \d+ snapshots: epoch 2 base hash/)
    expect(verified.match(/^ok/gm)).toHaveLength(4)
  })
})
