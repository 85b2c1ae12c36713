import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { crc32 } from 'node:zlib'
import {
  CorruptRowError,
  databasePath,
  history,
  openSqliteStore,
  snapshotRowChecksum,
  UnknownDocumentError,
  verifyStore,
  type SqliteDocumentStore,
} from '../../storage/index.js'
import { meta, recordingWorld, restore, tempDataDir } from './fixtures/helpers.js'

/** A data directory with documents `bad` (4 updates, snapshot at 2) and `good` (2 updates). */
const seeded = async (): Promise<string> => {
  const dir = tempDataDir()
  const store = openSqliteStore(dir, { snapshotEvery: 0 })
  const { world, updates } = recordingWorld()
  for (const id of ['a', 'b', 'c', 'd']) world.createItem(id, 'loot')
  for (const [n, u] of updates.slice(0, 2).entries()) await store.append('bad', u, meta(n + 1))
  await store.snapshot('bad')
  for (const [n, u] of updates.slice(2).entries()) await store.append('bad', u, meta(n + 3))
  for (const [n, u] of updates.slice(0, 2).entries()) await store.append('good', u, meta(n + 1))
  await store.close()
  return dir
}

/** Runs SQL against a closed data directory behind the store's back. */
const tamper = (dir: string, sql: string, ...params: unknown[]): void => {
  const db = new Database(databasePath(dir))
  db.prepare(sql).run(...params)
  db.close()
}

const BAD = "doc = (SELECT id FROM documents WHERE name = 'bad')"

/** Loads `bad` (expecting a CorruptRowError) and checks `good` still loads and verify singles out `bad`. */
const expectOnlyBadRefused = async (dir: string, pattern: RegExp): Promise<CorruptRowError> => {
  const store: SqliteDocumentStore = openSqliteStore(dir, { snapshotEvery: 0 })
  const error = await store.load('bad').catch((e: unknown) => e)
  expect(error).toBeInstanceOf(CorruptRowError)
  expect((error as Error).message).toMatch(pattern)
  expect((error as CorruptRowError).doc).toBe('bad')
  expect(restore(await store.load('good')).getMap('items').has('b')).toBe(true)
  const results = await verifyStore(store)
  expect(results.find((r) => r.doc === 'bad')).toMatchObject({ ok: false, code: 'corrupt-row' })
  expect(results.find((r) => r.doc === 'good')).toMatchObject({ ok: true })
  await store.close()
  return error as CorruptRowError
}

describe('corrupt or truncated rows', () => {
  it('an altered blob fails the checksum, naming the document and row', async () => {
    const dir = await seeded()
    tamper(dir, `UPDATE updates SET data = CAST(data AS BLOB) || x'00' WHERE seq = 3 AND ${BAD}`)
    const error = await expectOnlyBadRefused(dir, /document bad: updates row 3 is corrupt \(checksum mismatch\)/)
    expect(error).toMatchObject({ table: 'updates', seq: 3, code: 'corrupt-row' })
  })

  it('a truncated blob fails the checksum', async () => {
    const dir = await seeded()
    tamper(dir, `UPDATE updates SET data = substr(data, 1, 3) WHERE seq = 4 AND ${BAD}`)
    await expectOnlyBadRefused(dir, /updates row 4 is corrupt/)
  })

  it('edited metadata fails the checksum too', async () => {
    const dir = await seeded()
    tamper(dir, `UPDATE updates SET origin = 'mallory' WHERE seq = 3 AND ${BAD}`)
    await expectOnlyBadRefused(dir, /updates row 3 is corrupt \(checksum mismatch\)/)
  })

  it('bytes Yjs cannot decode are refused even with a matching checksum', async () => {
    const dir = await seeded()
    const garbage = new Uint8Array([5, 200, 1, 9, 9, 9])
    // Forge the checksum the way the store computes it: identity, metadata, then the bytes.
    const checksum = crc32(garbage, crc32(`u\u0000bad\u00003\u00003\u00000\u0000peer-a\u00003\u0000peer-a`))
    tamper(dir, `UPDATE updates SET data = ?, checksum = ? WHERE seq = 3 AND ${BAD}`, garbage, checksum)
    await expectOnlyBadRefused(dir, /updates row 3 is corrupt \(not a decodable Yjs update/)
  })

  it('a row missing from the middle of the log is named', async () => {
    const dir = await seeded()
    tamper(dir, `DELETE FROM updates WHERE seq = 3 AND ${BAD}`)
    await expectOnlyBadRefused(dir, /updates row 3 is corrupt \(missing from the log\)/)
  })

  it('a log cut short at its end is caught against the last committed sequence', async () => {
    const dir = await seeded()
    tamper(dir, `DELETE FROM updates WHERE seq = 4 AND ${BAD}`)
    await expectOnlyBadRefused(dir, /updates row 4 is corrupt \(missing: the log ends before its last committed sequence 4\)/)
  })

  it('a corrupt snapshot is named', async () => {
    const dir = await seeded()
    tamper(dir, `UPDATE snapshots SET data = x'0102' WHERE ${BAD}`)
    await expectOnlyBadRefused(dir, /snapshots row 2 is corrupt \(checksum mismatch\)/)
  })

  it('an undecodable snapshot with a forged checksum is named', async () => {
    const dir = await seeded()
    const garbage = new Uint8Array([7, 250, 250])
    const db = new Database(databasePath(dir))
    const { wall_ms: wallMs } = db.prepare(`SELECT wall_ms FROM snapshots WHERE ${BAD}`).get() as { wall_ms: number }
    db.prepare(`UPDATE snapshots SET data = ?, checksum = ? WHERE ${BAD}`).run(garbage, snapshotRowChecksum('bad', 2, wallMs, garbage))
    db.close()
    await expectOnlyBadRefused(dir, /snapshots row 2 is corrupt \(not a decodable Yjs update/)
  })

  it('history tools name corrupt rows too, and unknown documents', async () => {
    const dir = await seeded()
    tamper(dir, `UPDATE updates SET origin = 'x' WHERE seq = 4 AND ${BAD}`)
    const store = openSqliteStore(dir)
    expect(() => history(store).list('bad')).toThrow(/updates row 4 is corrupt/)
    expect(() => history(store).show('bad', { seq: 4 })).toThrow(CorruptRowError)
    expect(history(store).show('bad', { seq: 3 }).items).toBeDefined()
    expect(() => history(store).show('nope', { seq: 1 })).toThrow(UnknownDocumentError)
    expect(() => store.logInfo('nope')).toThrow(/document nope is not in this data directory/)
    await store.close()
  })
})
