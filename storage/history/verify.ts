import * as Y from 'yjs'
import { RealmsyncError } from '../../core/index.js'
import { AuditLedger, verifyLedger, type LedgerVerification } from '../audit-ledger.js'
import { applyRows, docFromSnapshot } from '../compaction.js'
import { sortedKeysJson, documentJson } from '../document-json.js'
import { CorruptRowError } from '../errors.js'
import { baseHash } from '../epoch-table.js'
import { assertDecodableRow, type UpdateRow } from '../log-tables.js'
import { openSqliteStore, type SqliteDocumentStore } from '../sqlite-store.js'

/** The verdict on one document. */
export interface DocumentVerification {
  readonly doc: string
  readonly ok: boolean
  /** Update rows checked. */
  readonly updates: number
  /** Snapshots checked against the log. */
  readonly snapshots: number
  /** The last committed sequence. */
  readonly lastSeq: number
  /** What was checked and, when not ok, what failed. */
  readonly detail: string
  /** The stable code of the failure (`corrupt-row`, ...), when not ok. */
  readonly code?: string
}

/** The verdict on a whole data directory. */
export interface DataDirVerification {
  readonly ok: boolean
  readonly documents: readonly DocumentVerification[]
  /** The audit ledger's verdict, or null if the directory has none. */
  readonly ledger: LedgerVerification | null
}

const sameState = (a: Y.Doc, b: Y.Doc): boolean =>
  Buffer.compare(Buffer.from(Y.encodeStateVector(a)), Buffer.from(Y.encodeStateVector(b))) === 0 && sortedKeysJson(documentJson(a)) === sortedKeysJson(documentJson(b))

const stateOfSnapshotBytes = (doc: string, seq: number, state: Uint8Array): Y.Doc =>
  docFromSnapshot(doc, { seq, wallMs: 0, createdMs: 0, bytes: state.byteLength, state })

/**
 * For an epoch's log, checks its first row against the chain record: the base row must hash to
 * the content hash the epoch id names. Returns what was checked, or undefined for a plain log.
 */
const epochCheck = (store: SqliteDocumentStore, name: string): string | undefined => {
  const epoch = store.epochRecord(name)
  if (epoch === undefined) return undefined
  if (epoch.droppedMs !== undefined) return `epoch ${epoch.n} closed and dropped by retention (chain record kept)`
  if (epoch.n === 0) return 'epoch 0'
  const first = store.readUpdates(name, { fromSeq: 1, toSeq: 1 })[0]
  if (first === undefined || epoch.hash === '') return `epoch ${epoch.n} (base row dropped by retention)`
  if (baseHash(first.update) !== epoch.hash) throw new CorruptRowError(name, 'updates', 1, `the base of epoch ${epoch.n} does not hash to the recorded ${epoch.hash}`)
  return `epoch ${epoch.n} base hash`
}

/**
 * For the epoch a document last switched to, checks the switch record a restarted peer reopens it
 * from (`loadEpoch`): its chain must end at this epoch with the base's hash, and its copy of the
 * base must be that base. A record that disagrees would make the peer refuse the document on start.
 */
const switchRecordCheck = async (store: SqliteDocumentStore, name: string): Promise<string | undefined> => {
  const epoch = store.epochRecord(name)
  if (epoch === undefined || epoch.n === 0 || epoch.hash === '') return undefined
  const head = await store.loadEpoch(epoch.doc)
  if (head === undefined || head.wire !== name) return undefined
  const tip = head.chain[head.chain.length - 1]
  if (tip === undefined || tip.n !== epoch.n || tip.hash !== epoch.hash) {
    throw new CorruptRowError(name, 'epochs', epoch.n, `the switch record's chain ends at epoch ${tip?.n ?? 'none'} (${tip?.hash || 'no hash'}), not at this epoch's base ${epoch.hash}`)
  }
  if (baseHash(head.base) !== epoch.hash) throw new CorruptRowError(name, 'epochs', epoch.n, `the switch record's copy of the base does not hash to ${epoch.hash}`)
  return 'switch record agrees'
}

/**
 * Replays one document's log from the start of its kept history and checks, row by row and
 * snapshot by snapshot, that everything agrees: every row's checksum holds and Yjs decodes it; no
 * sequence is missing up to the last committed one; each snapshot equals the replayed log at its
 * sequence (same state vector, same content); and what `load` returns equals the full replay.
 */
export const verifyDocument = async (store: SqliteDocumentStore, doc: string): Promise<DocumentVerification> => {
  let updates = 0
  let snapshotsChecked = 0
  let lastSeq = 0
  try {
    const info = store.logInfo(doc)
    lastSeq = info.lastSeq
    const base = info.historyStartSeq > 0 ? store.readSnapshot(doc, info.historyStartSeq) : undefined
    if (info.historyStartSeq > 0 && base?.seq !== info.historyStartSeq) {
      throw new CorruptRowError(doc, 'snapshots', info.historyStartSeq, 'missing: the kept history has no base snapshot')
    }
    const replay = docFromSnapshot(doc, base)
    const pendingSnapshots = info.snapshots.map((s) => s.seq).filter((seq) => seq > info.historyStartSeq)
    let expected = info.historyStartSeq + 1
    let chunk: UpdateRow[] = []
    const checkSnapshotAt = (seq: number): void => {
      const snapshot = store.readSnapshot(doc, seq)
      if (!snapshot || snapshot.seq !== seq) return
      const fromSnapshot = stateOfSnapshotBytes(doc, seq, snapshot.state)
      const agrees = sameState(fromSnapshot, replay)
      fromSnapshot.destroy()
      if (!agrees) throw new CorruptRowError(doc, 'snapshots', seq, 'its state differs from the log replayed up to it')
      snapshotsChecked++
    }
    const applyChunk = (): void => {
      applyRows(doc, replay, chunk)
      chunk = []
    }
    store.forEachUpdate(doc, { fromSeq: expected }, (row) => {
      if (row.seq !== expected) throw new CorruptRowError(doc, 'updates', expected, 'missing from the log')
      assertDecodableRow(doc, 'updates', row.seq, row.update)
      chunk.push(row)
      updates++
      expected++
      if (row.seq === pendingSnapshots[0]) {
        applyChunk()
        checkSnapshotAt(pendingSnapshots.shift() as number)
      } else if (chunk.length >= 1000) applyChunk()
    })
    applyChunk()
    if (expected <= lastSeq) throw new CorruptRowError(doc, 'updates', expected, `missing: the log ends before its last committed sequence ${lastSeq}`)
    const loaded = await store.load(doc)
    const fromLoad = new Y.Doc()
    if (loaded?.snapshot) Y.applyUpdate(fromLoad, loaded.snapshot)
    if (loaded && loaded.updates.length > 0) Y.applyUpdate(fromLoad, Y.mergeUpdates([...loaded.updates]))
    const loadAgrees = sameState(fromLoad, replay)
    fromLoad.destroy()
    replay.destroy()
    if (!loadAgrees) throw new Error('the loaded state (latest snapshot + later updates) differs from the full replay')
    const epoch = epochCheck(store, doc)
    const switchRecord = await switchRecordCheck(store, doc)
    const checks = [
      ...(epoch ? [epoch] : []),
      ...(switchRecord ? [switchRecord] : []),
      info.historyStartSeq === 0 ? 'checksums, full replay' : `checksums, replay from the snapshot at ${info.historyStartSeq} (earlier history dropped by retention)`,
      `${snapshotsChecked} snapshots agree with the log`,
      'load agrees',
    ]
    return { doc, ok: true, updates, snapshots: snapshotsChecked, lastSeq, detail: checks.join(', ') }
  } catch (error) {
    const code = error instanceof RealmsyncError ? error.code : 'verify-failed'
    return { doc, ok: false, updates, snapshots: snapshotsChecked, lastSeq, detail: error instanceof Error ? error.message : String(error), code }
  }
}

/** Verifies every document of an open store; one bad document does not stop the others. */
export const verifyStore = async (store: SqliteDocumentStore): Promise<DocumentVerification[]> => {
  const results: DocumentVerification[] = []
  for (const doc of store.documentNames()) results.push(await verifyDocument(store, doc))
  return results
}

/**
 * Verifies a data directory (what `realmsync history verify` runs): replays every document's log
 * and snapshots and checks they agree, and checks the audit ledger's hash chain if there is one.
 * Raises `MissingDataDirError` if the directory holds no realmsync database.
 */
export const verifyDataDir = async (dataDir: string, options: { readonly expectedLedgerHeads?: readonly string[] } = {}): Promise<DataDirVerification> => {
  const store = openSqliteStore(dataDir, { create: false, snapshotEvery: 0 })
  let documents: DocumentVerification[]
  try {
    documents = await verifyStore(store)
  } finally {
    await store.close()
  }
  const ledger = AuditLedger.exists(dataDir) ? verifyLedger(dataDir, options.expectedLedgerHeads ? { expectedHeads: options.expectedLedgerHeads } : {}) : null
  return { ok: documents.every((d) => d.ok) && (ledger?.ok ?? true), documents, ledger }
}
