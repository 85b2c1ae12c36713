import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AuditLedger, InvalidAuditRecordError, ledgerHeadsPath, ledgerPath, LedgerTamperedError, verifyLedger } from '../../storage/index.js'
import type { AuditRecord } from '../../core/index.js'
import { tempDataDir } from './fixtures/helpers.js'

const pickup: AuditRecord = { kind: 'pickup', peer: 'a', timeMs: 10_000, details: { item: 'sword', winner: 'p1', losers: ['p2'], contested: true } }
const trade: AuditRecord = { kind: 'trade', peer: 'b', timeMs: 20_000, details: { from: 'p1', to: 'p2', items: { sword: 1 }, note: null } }

const ledgerWith = async (...records: AuditRecord[]): Promise<{ dir: string; heads: readonly string[][] }> => {
  const dir = tempDataDir()
  const ledger = AuditLedger.open(dir)
  const heads: string[][] = []
  for (const record of records) heads.push([...(await ledger.append(record))])
  return { dir, heads }
}

describe('AuditLedger', () => {
  it('appends records durably and reads them back after reopening', async () => {
    const { dir, heads } = await ledgerWith(pickup, trade)
    expect(AuditLedger.exists(dir)).toBe(true)
    expect(heads[0]).not.toEqual(heads[1])
    const reopened = AuditLedger.open(dir)
    expect(reopened.records()).toEqual([pickup, trade])
    expect(reopened.heads()).toEqual(heads[1])
    reopened.appendSync({ kind: 'anticheat.flag', peer: 'c', timeMs: 30_000, details: { player: 'p3', reason: 'speed' } })
    expect(AuditLedger.open(dir).records()).toHaveLength(3)
    expect(verifyLedger(dir)).toMatchObject({ ok: true, records: 3, changes: 4 })
    expect(verifyLedger(dir).detail).toMatch(/hash chain of 4 changes intact, heads match all 4 recorded appends/)
    // Heads published after the first append stay verifiable later.
    expect(verifyLedger(dir, { expectedHeads: heads[0] }).ok).toBe(true)
    expect(verifyLedger(dir, { expectedHeads: ['ab'.repeat(32)] })).toMatchObject({ ok: false, detail: expect.stringMatching(/published heads .* are not part/) })
  })

  it('refuses malformed records', async () => {
    const ledger = AuditLedger.open(tempDataDir())
    await expect(ledger.append({ ...pickup, kind: '' })).rejects.toBeInstanceOf(InvalidAuditRecordError)
    expect(() => ledger.appendSync({ ...pickup, peer: '' })).toThrow(/peer must be/)
    expect(() => ledger.appendSync({ ...pickup, timeMs: Number.NaN })).toThrow(/timeMs/)
    expect(() => ledger.appendSync({ ...pickup, details: { bad: Number.POSITIVE_INFINITY } })).toThrow(/details of a pickup record/)
    expect(() => ledger.appendSync({ ...pickup, details: [] as unknown as AuditRecord['details'] })).toThrow(InvalidAuditRecordError)
    expect(ledger.records()).toEqual([])
  })

  it('detects a flipped byte in the ledger file', async () => {
    const { dir } = await ledgerWith(pickup, trade)
    const bytes = readFileSync(ledgerPath(dir))
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 0xff
    writeFileSync(ledgerPath(dir), bytes)
    expect(verifyLedger(dir).ok).toBe(false)
    expect(() => AuditLedger.open(dir)).toThrow(LedgerTamperedError)
  })

  it('detects a history rewritten from scratch: the heads differ from the recorded ones', async () => {
    const { dir } = await ledgerWith(pickup)
    const { dir: forged } = await ledgerWith({ ...pickup, details: { item: 'sword', winner: 'p9', losers: ['p2'], contested: true } })
    writeFileSync(ledgerPath(dir), readFileSync(ledgerPath(forged)))
    const result = verifyLedger(dir)
    expect(result.ok).toBe(false)
    expect(result.detail).toMatch(/not the recorded/)
    expect(() => AuditLedger.open(dir)).toThrow(/differ from the recorded/)
  })

  it('detects records dropped from the end, and a rewritten heads file', async () => {
    const { dir } = await ledgerWith(pickup, trade)
    const size = statSync(ledgerPath(dir)).size
    writeFileSync(ledgerPath(dir), readFileSync(ledgerPath(dir)).subarray(0, size - 10))
    expect(verifyLedger(dir)).toMatchObject({ ok: false, detail: expect.stringMatching(/claims \d+ bytes, but the file has/) })
    expect(() => AuditLedger.open(dir)).toThrow(/shorter than the \d+ bytes acknowledged/)

    const { dir: other } = await ledgerWith(pickup)
    writeFileSync(ledgerHeadsPath(other), `${JSON.stringify({ records: 1, bytes: statSync(ledgerPath(other)).size, heads: ['00'] })}\n`)
    expect(verifyLedger(other).ok).toBe(false)
    writeFileSync(ledgerHeadsPath(other), 'not json\n')
    expect(verifyLedger(other).detail).toMatch(/line 1 .* is not JSON/)
    writeFileSync(ledgerHeadsPath(other), '{"records":1}\n')
    expect(verifyLedger(other).detail).toMatch(/is not a heads record/)
    writeFileSync(ledgerHeadsPath(other), '')
    expect(verifyLedger(other).detail).toMatch(/no acknowledged appends/)
    expect(() => AuditLedger.open(other)).toThrow(/records no heads/)
    expect(verifyLedger(tempDataDir())).toMatchObject({ ok: false, detail: expect.stringMatching(/does not exist/) })
  })

  it('cuts off an append that crashed before it was acknowledged', async () => {
    const { dir, heads } = await ledgerWith(pickup)
    // The change bytes of a second append made it to disk, its heads line only partly.
    const { dir: scratch } = await ledgerWith(pickup, trade)
    const full = readFileSync(ledgerPath(scratch))
    appendFileSync(ledgerPath(dir), full.subarray(statSync(ledgerPath(dir)).size, statSync(ledgerPath(dir)).size + 40))
    appendFileSync(ledgerHeadsPath(dir), '{"records":2,"by')
    const before = verifyLedger(dir)
    expect(before).toMatchObject({ ok: true, records: 1 })
    expect(before.detail).toMatch(/unacknowledged append was cut short/)
    const reopened = AuditLedger.open(dir)
    expect(reopened.heads()).toEqual(heads[0])
    reopened.appendSync(trade)
    expect(verifyLedger(dir)).toMatchObject({ ok: true, records: 2 })
    expect(verifyLedger(dir).detail).not.toMatch(/cut short/)
  })
})
