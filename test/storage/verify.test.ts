import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { AuditLedger, databasePath, MissingDataDirError, openSqliteStore, snapshotRowChecksum, verifyDataDir } from '../../storage/index.js'
import { meta, recordingWorld, tempDataDir } from './fixtures/helpers.js'

/** A data directory with one world document (snapshots at 3 and 6, 8 updates) and a ledger entry. */
const seeded = async (retention: 'all' | 'none' = 'all'): Promise<string> => {
  const dir = tempDataDir()
  const store = openSqliteStore(dir, { snapshotEvery: 0, retention })
  const { world, updates } = recordingWorld()
  for (let i = 0; i < 8; i++) world.createItem(`i${i}`, 'loot')
  for (const [n, u] of updates.entries()) {
    await store.append('world/1', u, meta(n))
    if (n === 2 || n === 5) await store.snapshot('world/1')
  }
  await store.close()
  await AuditLedger.open(dir).append({ kind: 'pickup', peer: 'a', timeMs: 1, details: { item: 'i1' } })
  return dir
}

describe('verifyDataDir', () => {
  it('replays the log against every snapshot and checks the ledger', async () => {
    const result = await verifyDataDir(await seeded())
    expect(result.ok).toBe(true)
    expect(result.documents).toEqual([
      { doc: 'world/1', ok: true, updates: 8, snapshots: 2, lastSeq: 8, detail: 'checksums, full replay, 2 snapshots agree with the log, load agrees' },
    ])
    expect(result.ledger).toMatchObject({ ok: true, records: 1 })
  })

  it('replays from the base snapshot when retention dropped earlier history', async () => {
    const result = await verifyDataDir(await seeded('none'))
    expect(result.documents[0]).toMatchObject({ ok: true, updates: 2, snapshots: 0 })
    expect(result.documents[0]?.detail).toMatch(/replay from the snapshot at 6 \(earlier history dropped by retention\)/)
  })

  it('finds a snapshot that disagrees with the log even when its checksum was forged to match', async () => {
    const dir = await seeded()
    const other = new Y.Doc()
    other.getMap('items').set('forged', 1)
    const state = Y.encodeStateAsUpdate(other)
    const db = new Database(databasePath(dir))
    const { wall_ms: wallMs } = db.prepare('SELECT wall_ms FROM snapshots WHERE seq = 3').get() as { wall_ms: number }
    db.prepare('UPDATE snapshots SET data = ?, checksum = ? WHERE seq = 3').run(state, snapshotRowChecksum('world/1', 3, wallMs, state))
    db.close()
    const result = await verifyDataDir(dir)
    expect(result.ok).toBe(false)
    expect(result.documents[0]).toMatchObject({ ok: false, code: 'corrupt-row' })
    expect(result.documents[0]?.detail).toMatch(/snapshots row 3 is corrupt \(its state differs from the log replayed up to it\)/)
  })

  it('finds kept history without its base snapshot, and a bad ledger', async () => {
    const dir = await seeded('none')
    const db = new Database(databasePath(dir))
    db.prepare('DELETE FROM snapshots').run()
    db.close()
    const { writeFileSync } = await import('node:fs')
    writeFileSync(`${dir}/audit.heads.jsonl`, '')
    const result = await verifyDataDir(dir)
    expect(result.ok).toBe(false)
    expect(result.documents[0]?.detail).toMatch(/snapshots row 6 is corrupt \(missing: the kept history has no base snapshot\)/)
    expect(result.ledger?.ok).toBe(false)
  })

  it('needs an existing data directory', async () => {
    await expect(verifyDataDir(tempDataDir())).rejects.toBeInstanceOf(MissingDataDirError)
  })
})
