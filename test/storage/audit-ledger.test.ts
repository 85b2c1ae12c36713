import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AuditLedger, LedgerTamperedError, verifyLedger } from '../../storage/index.js'

const dir = () => mkdtempSync(join(tmpdir(), 'realmsync-ledger-'))

describe('AuditLedger', () => {
  it('appends records durably and reads them back after reopening', () => {
    const d = dir()
    expect(AuditLedger.exists(d)).toBe(false)
    const ledger = AuditLedger.open(d)
    const h1 = ledger.append({ kind: 'pickup', peer: 'a', timeMs: 10, details: { item: 'sword', winner: 'p1' } })
    const h2 = ledger.append({ kind: 'trade', peer: 'b', timeMs: 20, details: { from: 'p1', to: 'p2', ok: true, note: null } })
    expect(h1).not.toBe(h2)
    const reopened = AuditLedger.open(d)
    expect(reopened.records()).toEqual([
      { kind: 'pickup', peer: 'a', timeMs: 10, details: { item: 'sword', winner: 'p1' } },
      { kind: 'trade', peer: 'b', timeMs: 20, details: { from: 'p1', to: 'p2', ok: true, note: null } },
    ])
    expect(reopened.heads().join(',')).toBe(h2)
    expect(verifyLedger(d)).toMatchObject({ ok: true, records: 2, changes: 3 })
  })

  it('detects a flipped byte in the ledger file', () => {
    const d = dir()
    const ledger = AuditLedger.open(d)
    ledger.append({ kind: 'kill', peer: 'a', timeMs: 1, details: { victim: 'p9' } })
    const path = join(d, 'audit.automerge')
    const bytes = readFileSync(path)
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0xff
    writeFileSync(path, bytes)
    expect(verifyLedger(d).ok).toBe(false)
    expect(() => AuditLedger.open(d)).toThrow(LedgerTamperedError)
  })

  it('detects a history rewritten from scratch (heads differ from the recorded ones)', () => {
    const d = dir()
    AuditLedger.open(d).append({ kind: 'kill', peer: 'a', timeMs: 1, details: { victim: 'p9' } })
    const forged = dir()
    AuditLedger.open(forged).append({ kind: 'kill', peer: 'a', timeMs: 1, details: { victim: 'someone-else' } })
    writeFileSync(join(d, 'audit.automerge'), readFileSync(join(forged, 'audit.automerge')))
    const result = verifyLedger(d)
    expect(result.ok).toBe(false)
    expect(result.detail).toMatch(/differ from the recorded/)
  })
})
