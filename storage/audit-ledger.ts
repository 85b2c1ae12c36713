import { createHash } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import * as Automerge from '@automerge/automerge'
import { isDeepStrictEqual } from 'node:util'
import type { AuditLog, AuditRecord, AuditValue } from '../core/index.js'
import { InvalidAuditRecordError, LedgerTamperedError } from './errors.js'

/** The ledger document: records in append order. */
type LedgerDoc = { records: AuditRecord[] }

/** One line of the heads file: the ledger after an acknowledged append. */
interface HeadsLine {
  /** Records in the ledger after the append. */
  readonly records: number
  /** Length of the ledger file after the append. */
  readonly bytes: number
  /** The change-graph heads after the append. */
  readonly heads: readonly string[]
}

/** The verdict of `verifyLedger`. */
export interface LedgerVerification {
  readonly ok: boolean
  readonly records: number
  readonly changes: number
  /** Heads of the verified chain (empty if it did not load). */
  readonly heads: readonly string[]
  /** What was checked, or what failed. */
  readonly detail: string
}

/** The Automerge file of the ledger inside a data directory (concatenated incremental saves; `Automerge.load` reads it). */
export const ledgerPath = (dataDir: string): string => join(dataDir, 'audit.automerge')

/** The heads file: one JSON line per acknowledged append. */
export const ledgerHeadsPath = (dataDir: string): string => join(dataDir, 'audit.heads.jsonl')

const appendDurably = (path: string, bytes: Uint8Array): void => {
  const fd = openSync(path, 'a')
  try {
    writeSync(fd, bytes)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

const fsyncDirectory = (dir: string): void => {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

const isAuditValue = (value: unknown, depth = 0): value is AuditValue => {
  if (depth > 32) return false
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((inner) => isAuditValue(inner, depth + 1))
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false
  return Object.values(value).every((inner) => isAuditValue(inner, depth + 1))
}

const checkRecord = (record: AuditRecord): void => {
  if (typeof record.kind !== 'string' || record.kind.length === 0) throw new InvalidAuditRecordError('kind must be a non-empty string')
  if (typeof record.peer !== 'string' || record.peer.length === 0) throw new InvalidAuditRecordError('peer must be a non-empty string')
  if (typeof record.timeMs !== 'number' || !Number.isFinite(record.timeMs)) throw new InvalidAuditRecordError('timeMs must be a finite number')
  if (typeof record.details !== 'object' || record.details === null || Array.isArray(record.details) || !isAuditValue(record.details)) {
    throw new InvalidAuditRecordError(`details of a ${record.kind} record must be a JSON object (finite numbers, strings, booleans, null, arrays, plain objects)`)
  }
}

/** Reads the heads file: every complete line, and whether a torn (unterminated) last line was left by a crash. */
const readHeadsLines = (dataDir: string): { lines: HeadsLine[]; tornBytes: number; goodBytes: number } => {
  const path = ledgerHeadsPath(dataDir)
  const text = existsSync(path) ? readFileSync(path, 'utf8') : ''
  const end = text.lastIndexOf('\n') + 1
  const lines: HeadsLine[] = []
  for (const [index, line] of text.slice(0, end).split('\n').slice(0, -1).entries()) {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      throw new LedgerTamperedError(`line ${index + 1} of ${path} is not JSON`)
    }
    const candidate = parsed as Partial<HeadsLine>
    if (!Number.isInteger(candidate.records) || !Number.isInteger(candidate.bytes) || !Array.isArray(candidate.heads)) {
      throw new LedgerTamperedError(`line ${index + 1} of ${path} is not a heads record`)
    }
    lines.push(candidate as HeadsLine)
  }
  return { lines, tornBytes: Buffer.byteLength(text.slice(end)), goodBytes: Buffer.byteLength(text.slice(0, end)) }
}

const sameHeads = (a: readonly string[], b: readonly string[]): boolean => isDeepStrictEqual([...a].sort(), [...b].sort())

const loadDoc = (bytes: Uint8Array, what: string): Automerge.Doc<LedgerDoc> => {
  try {
    return Automerge.load<LedgerDoc>(bytes)
  } catch (error) {
    throw new LedgerTamperedError(`${what} does not load: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * An append-only audit ledger of critical decisions, kept as an Automerge document in the data
 * directory. Every Automerge change is identified by the SHA-256 of its bytes and names the hashes
 * of the changes before it, so the ledger is a hash chain: altering, dropping or reordering any past
 * record changes every later hash. After each append the heads are recorded in a second file (and
 * can be published elsewhere); `verifyLedger` recomputes the chain and compares.
 *
 * Each append writes and fsyncs the change, then its heads line; it is acknowledged only after both.
 * A crash between the two leaves an unacknowledged tail, which `open` cuts off.
 */
export class AuditLedger implements AuditLog {
  private constructor(
    /** The data directory holding the ledger. */
    readonly dataDir: string,
    private doc: Automerge.Doc<LedgerDoc>,
    private bytes: number,
  ) {}

  /** Whether a data directory has a ledger. */
  static exists(dataDir: string): boolean {
    return existsSync(ledgerPath(dataDir))
  }

  /** Opens the ledger in a data directory, creating it if absent; throws `LedgerTamperedError` if it does not check out. */
  static open(dataDir: string): AuditLedger {
    const path = ledgerPath(dataDir)
    if (!existsSync(path)) return AuditLedger.create(dataDir)
    const { lines, tornBytes, goodBytes } = readHeadsLines(dataDir)
    if (tornBytes > 0) truncateSync(ledgerHeadsPath(dataDir), goodBytes)
    const recorded = lines[lines.length - 1]
    if (!recorded) throw new LedgerTamperedError(`${ledgerHeadsPath(dataDir)} records no heads for the existing ledger`)
    const size = statSync(path).size
    if (size < recorded.bytes) throw new LedgerTamperedError(`${path} is ${size} bytes, shorter than the ${recorded.bytes} bytes acknowledged`)
    // Bytes past the last acknowledged append were written by an append that crashed before it was acknowledged.
    if (size > recorded.bytes) truncateSync(path, recorded.bytes)
    const doc = loadDoc(new Uint8Array(readFileSync(path)), path)
    if (!sameHeads(Automerge.getHeads(doc), recorded.heads)) {
      throw new LedgerTamperedError(`heads ${Automerge.getHeads(doc).join(',')} differ from the recorded ${recorded.heads.join(',')}`)
    }
    return new AuditLedger(dataDir, doc, recorded.bytes)
  }

  private static create(dataDir: string): AuditLedger {
    mkdirSync(dataDir, { recursive: true })
    const doc = Automerge.from<LedgerDoc>({ records: [] })
    const ledger = new AuditLedger(dataDir, doc, 0)
    ledger.persist(Automerge.saveIncremental(doc))
    fsyncDirectory(dataDir)
    return ledger
  }

  /** Appends a record durably; resolves with the head hashes after it. */
  async append(record: AuditRecord): Promise<readonly string[]> {
    return this.appendSync(record)
  }

  /** Appends a record durably (two fsyncs) and returns the head hashes after it. */
  appendSync(record: AuditRecord): string[] {
    checkRecord(record)
    const copy: AuditRecord = JSON.parse(JSON.stringify({ kind: record.kind, peer: record.peer, timeMs: record.timeMs, details: record.details })) as AuditRecord
    this.doc = Automerge.change(this.doc, { message: record.kind, time: Math.floor(record.timeMs / 1000) }, (d) => {
      d.records.push(copy)
    })
    this.persist(Automerge.saveIncremental(this.doc))
    return Automerge.getHeads(this.doc)
  }

  /** Every record, oldest first. */
  records(): AuditRecord[] {
    return JSON.parse(JSON.stringify(this.doc.records)) as AuditRecord[]
  }

  /** The current head hashes of the change chain (publish them to make later tampering evident). */
  heads(): string[] {
    return Automerge.getHeads(this.doc)
  }

  private persist(change: Uint8Array): void {
    appendDurably(ledgerPath(this.dataDir), change)
    this.bytes += change.byteLength
    const line: HeadsLine = { records: this.doc.records.length, bytes: this.bytes, heads: Automerge.getHeads(this.doc) }
    appendDurably(ledgerHeadsPath(this.dataDir), Buffer.from(`${JSON.stringify(line)}\n`))
  }
}

/** Checks every change of a loaded ledger: its hash is the SHA-256 of its bytes, and it depends only on earlier changes. */
const checkChain = (doc: Automerge.Doc<LedgerDoc>): number => {
  const seen = new Set<string>()
  const changes = Automerge.getAllChanges(doc)
  for (const bytes of changes) {
    const change = Automerge.decodeChange(bytes)
    // An Automerge change chunk is magic (4 bytes), checksum (4), then the hashed body.
    const hash = createHash('sha256').update(bytes.subarray(8)).digest('hex')
    if (hash !== change.hash) throw new LedgerTamperedError(`change ${change.hash} does not hash to its id (got ${hash})`)
    for (const dep of change.deps) if (!seen.has(dep)) throw new LedgerTamperedError(`change ${change.hash} depends on ${dep}, which does not precede it`)
    seen.add(hash)
  }
  return changes.length
}

/**
 * Verifies a ledger: the file loads; replaying it append by append reproduces exactly the heads
 * recorded after each acknowledged append (so nothing was altered, dropped or inserted); every
 * change hashes to its id and links only to earlier changes; every record is well-formed; and, if
 * given, `expectedHeads` published earlier are part of the history.
 */
export const verifyLedger = (dataDir: string, options: { readonly expectedHeads?: readonly string[] } = {}): LedgerVerification => {
  let records = 0
  let changes = 0
  let heads: readonly string[] = []
  try {
    const path = ledgerPath(dataDir)
    if (!existsSync(path)) throw new LedgerTamperedError(`${path} does not exist`)
    const bytes = new Uint8Array(readFileSync(path))
    const { lines, tornBytes } = readHeadsLines(dataDir)
    const notes: string[] = []
    let offset = 0
    let doc: Automerge.Doc<LedgerDoc> | undefined
    for (const [index, line] of lines.entries()) {
      if (line.bytes <= offset || line.bytes > bytes.byteLength) throw new LedgerTamperedError(`append ${index} claims ${line.bytes} bytes, but the file has ${bytes.byteLength} and the previous append ended at ${offset}`)
      const chunk = bytes.subarray(offset, line.bytes)
      doc = doc === undefined ? loadDoc(chunk, `the first append of ${path}`) : Automerge.loadIncremental(doc, chunk)
      if (!sameHeads(Automerge.getHeads(doc), line.heads)) throw new LedgerTamperedError(`after append ${index} the heads are ${Automerge.getHeads(doc).join(',')}, not the recorded ${line.heads.join(',')}`)
      if (doc.records.length !== line.records) throw new LedgerTamperedError(`after append ${index} the ledger holds ${doc.records.length} records, not the recorded ${line.records}`)
      offset = line.bytes
    }
    if (!doc) throw new LedgerTamperedError('no acknowledged appends are recorded')
    if (offset < bytes.byteLength || tornBytes > 0) notes.push('an unacknowledged append was cut short by a crash (dropped on the next open)')
    changes = checkChain(doc)
    for (const [index, record] of doc.records.entries()) {
      try {
        checkRecord(JSON.parse(JSON.stringify(record)) as AuditRecord)
      } catch (error) {
        throw new LedgerTamperedError(`record ${index} is malformed: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
    if (options.expectedHeads && !Automerge.hasHeads(doc, [...options.expectedHeads])) {
      throw new LedgerTamperedError(`the published heads ${options.expectedHeads.join(',')} are not part of this ledger's history`)
    }
    records = doc.records.length
    heads = Automerge.getHeads(doc)
    const detail = [`hash chain of ${changes} changes intact, heads match all ${lines.length} recorded appends`, ...notes].join('; ')
    return { ok: true, records, changes, heads, detail }
  } catch (error) {
    return { ok: false, records, changes, heads, detail: error instanceof Error ? error.message : String(error) }
  }
}
