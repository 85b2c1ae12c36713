import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as Automerge from '@automerge/automerge'
import { RealmsyncError } from '../core/index.js'

/** One critical decision in the audit ledger: a resolution, a trade, an anti-cheat action. */
export interface AuditRecord {
  /** What kind of decision: `pickup`, `trade`, `anticheat.flag`, ... */
  readonly kind: string
  /** The peer that made it. */
  readonly peer: string
  /** When, in wall ms. */
  readonly timeMs: number
  /** Decision details (JSON). */
  readonly details: { readonly [key: string]: string | number | boolean | null }
}

/** The ledger's result of `verify`. */
export interface LedgerVerification {
  readonly ok: boolean
  readonly records: number
  readonly changes: number
  readonly detail: string
}

/** The ledger file could not be read or fails its integrity checks. */
export class LedgerTamperedError extends RealmsyncError {
  constructor(detail: string) {
    super('ledger-tampered', `audit ledger failed verification: ${detail}`)
  }
}

type LedgerDoc = {
  entries: AuditRecord[]
}

const LEDGER_FILE = 'audit.automerge'
const HEADS_FILE = 'audit.heads.json'

const fsyncFile = (path: string): void => {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * An append-only audit ledger of critical decisions, kept as an Automerge document: every change
 * is hashed over its content and the hashes of the changes before it, so altering any past record
 * changes every later hash. The current heads are recorded next to it (and can be published to
 * other peers); `verify` recomputes the chain and compares.
 */
export class AuditLedger {
  private doc: Automerge.Doc<LedgerDoc>

  private constructor(
    private readonly dir: string,
    doc: Automerge.Doc<LedgerDoc>,
  ) {
    this.doc = doc
  }

  /** Opens the ledger in a data directory, creating it if absent; throws `LedgerTamperedError` if unreadable. */
  static open(dataDir: string): AuditLedger {
    const path = join(dataDir, LEDGER_FILE)
    if (!existsSync(path)) {
      const doc = Automerge.from<LedgerDoc>({ entries: [] })
      writeFileSync(path, Automerge.save(doc))
      fsyncFile(path)
      const ledger = new AuditLedger(dataDir, doc)
      ledger.writeHeads()
      return ledger
    }
    return new AuditLedger(dataDir, loadLedger(path))
  }

  /** Whether a data directory has a ledger. */
  static exists(dataDir: string): boolean {
    return existsSync(join(dataDir, LEDGER_FILE))
  }

  /** Appends a record durably (fsync) and returns the new head hash. */
  append(record: AuditRecord): string {
    this.doc = Automerge.change(this.doc, (d) => {
      d.entries.push({ ...record, details: { ...record.details } })
    })
    const path = join(this.dir, LEDGER_FILE)
    appendFileSync(path, Automerge.saveIncremental(this.doc))
    fsyncFile(path)
    this.writeHeads()
    return Automerge.getHeads(this.doc).join(',')
  }

  /** Every record, oldest first. */
  records(): AuditRecord[] {
    return this.doc.entries.map((e) => ({ kind: e.kind, peer: e.peer, timeMs: e.timeMs, details: { ...e.details } }))
  }

  /** The current head hashes of the change chain. */
  heads(): string[] {
    return Automerge.getHeads(this.doc)
  }

  private writeHeads(): void {
    const path = join(this.dir, HEADS_FILE)
    writeFileSync(`${path}.tmp`, JSON.stringify(Automerge.getHeads(this.doc)))
    renameSync(`${path}.tmp`, path)
  }
}

const loadLedger = (path: string): Automerge.Doc<LedgerDoc> => {
  try {
    return Automerge.load<LedgerDoc>(new Uint8Array(readFileSync(path)))
  } catch (error) {
    throw new LedgerTamperedError(`cannot load ${path}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** Checks a ledger's hash chain: it loads, every change's dependencies precede it, and the heads match the recorded ones. */
export const verifyLedger = (dataDir: string): LedgerVerification => {
  try {
    const doc = loadLedger(join(dataDir, LEDGER_FILE))
    const changes = Automerge.getAllChanges(doc).map((c) => Automerge.decodeChange(c))
    const seen = new Set<string>()
    for (const change of changes) {
      for (const dep of change.deps) if (!seen.has(dep)) throw new LedgerTamperedError(`change ${change.hash} depends on unknown change ${dep}`)
      seen.add(change.hash as string)
    }
    const recorded = JSON.parse(readFileSync(join(dataDir, HEADS_FILE), 'utf8')) as string[]
    const heads = Automerge.getHeads(doc)
    if (JSON.stringify([...recorded].sort()) !== JSON.stringify([...heads].sort())) {
      throw new LedgerTamperedError(`heads ${heads.join(',')} differ from the recorded ${recorded.join(',')}`)
    }
    return { ok: true, records: doc.entries.length, changes: changes.length, detail: `hash chain of ${changes.length} changes intact, heads match` }
  } catch (error) {
    return { ok: false, records: 0, changes: 0, detail: error instanceof Error ? error.message : String(error) }
  }
}
