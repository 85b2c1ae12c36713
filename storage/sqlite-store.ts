import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { validateUpdate, type DocumentStore, type LoadedDocument, type Millis, type StoredEpoch, type StoredUpdateMeta } from '../core/index.js'
import { SnapshotBuilder } from './compaction.js'
import { CorruptRowError, MissingDataDirError, StoreClosedError, StoreWriteError, UnknownDocumentError, UnstorableUpdateError } from './errors.js'
import { parseStoredEpochName } from './epoch-names.js'
import { baseHash, EpochTable, type EpochRecord } from './epoch-table.js'
import { assertDecodableRow, LogTables, type LogInfo, type SnapshotInfo, type SnapshotRow, type UpdateRow } from './log-tables.js'
import { retentionCut } from './retention.js'
import { ensureSchema } from './schema.js'
import { resolveStoreOptions, type ResolvedStoreOptions, type SqliteStoreOptions } from './store-options.js'

/** The database file inside a data directory. */
export const databasePath = (dataDir: string): string => join(dataDir, 'realmsync.db')

/** Counters of what the store has done since it was opened. */
export interface StoreStats {
  /** Transactions that committed appends. */
  commits: number
  /** Updates committed. */
  updatesCommitted: number
  /** Most updates committed in one transaction. */
  largestBatch: number
  /** Snapshots written. */
  snapshots: number
  /** Update rows dropped by retention. */
  updatesDropped: number
  /** Closed epochs whose rows retention dropped whole (their chain records stay). */
  epochsDropped: number
  /** Background failures (automatic snapshots of a corrupt document). */
  backgroundErrors: number
}

interface PendingAppend {
  readonly doc: string
  readonly update: Uint8Array
  readonly meta: StoredUpdateMeta
  /** Set for an epoch's base: the switch record committed with it. */
  readonly epoch?: StoredEpoch
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

interface DocState {
  readonly id: number
  /** Sequence the next committed update gets. */
  nextSeq: number
  /** Updates committed since the latest snapshot, and their total size. */
  sinceSnapshot: number
  tailBytes: number
  /** Size of the latest snapshot. */
  snapshotBytes: number
  /** Set when an automatic snapshot found the document corrupt: no more automatic attempts. */
  corrupt: boolean
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER

/**
 * Durable document storage on embedded SQLite (better-sqlite3, WAL): per document an append-only
 * update log (sequence, HLC time, wall time, origin, bytes, checksum) and periodic snapshots that
 * compact it. Appends are group-committed: they queue, and one transaction per batch commits them
 * (on a short tick, or at once when the batch is full); each append's promise resolves only after
 * its transaction committed, so a caller may then acknowledge the update. better-sqlite3 is
 * synchronous, so a commit holds the event loop: batches are bounded by `maxBatch`, and snapshots
 * run in their own macrotasks, one document at a time.
 */
export class SqliteDocumentStore implements DocumentStore {
  /** Settings in effect, defaults filled in. */
  readonly options: ResolvedStoreOptions
  /** Counters. */
  readonly stats: StoreStats = { commits: 0, updatesCommitted: 0, largestBatch: 0, snapshots: 0, updatesDropped: 0, epochsDropped: 0, backgroundErrors: 0 }
  private readonly db: Database.Database
  private readonly tables: LogTables
  private readonly epochTable: EpochTable
  private readonly retireQueue = new Set<string>()
  private retireTimer: ReturnType<typeof setImmediate> | undefined
  private retiring = false
  private readonly states = new Map<string, DocState>()
  private queue: PendingAppend[] = []
  private commitTimer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined
  private readonly snapshotQueue = new Set<string>()
  private snapshotTimer: ReturnType<typeof setImmediate> | undefined
  private closed = false

  constructor(
    readonly dataDir: string,
    options: SqliteStoreOptions = {},
  ) {
    this.options = resolveStoreOptions(options)
    if (this.options.durability === 'memory') {
      this.db = new Database(':memory:')
    } else {
      const file = databasePath(dataDir)
      if (!this.options.create && !existsSync(file)) throw new MissingDataDirError(dataDir, file)
      mkdirSync(dataDir, { recursive: true })
      this.db = new Database(file)
      // WAL: readers (history tools) never block the writer, and a commit appends to one file.
      this.db.pragma('journal_mode = WAL')
    }
    // Why FULL for `sync` and `group`: see `Durability` (store-options.ts).
    this.db.pragma(`synchronous = ${this.options.synchronous.toUpperCase()}`)
    try {
      ensureSchema(this.db)
      this.tables = new LogTables(this.db)
      this.epochTable = new EpochTable(this.db)
      this.backfillEpochs()
    } catch (error) {
      this.db.close()
      throw error
    }
  }

  /** Names of every stored document, sorted. */
  async listDocuments(): Promise<readonly string[]> {
    this.assertOpen()
    return this.tables.documentNames()
  }

  /** Names of every stored document, sorted (synchronous, for tools). */
  documentNames(): string[] {
    this.assertOpen()
    return this.tables.documentNames()
  }

  /**
   * Queues one update; resolves once the transaction holding it has committed. The store keeps a
   * reference to `update` until then: do not reuse the buffer.
   */
  append(doc: string, update: Uint8Array, meta: StoredUpdateMeta): Promise<void> {
    return this.enqueue(doc, update, meta, undefined)
  }

  /**
   * Appends a new epoch's base to the log of `epoch.wire` and records the switch (coordinator, cut,
   * chain, base) in the same transaction: after a crash either both are there or neither. The
   * epoch becomes the document's current one for `loadEpoch`.
   */
  saveEpoch(epoch: StoredEpoch, meta: StoredUpdateMeta): Promise<void> {
    const parsed = parseStoredEpochName(epoch.wire)
    if (parsed.n === 0 || parsed.doc !== epoch.doc || epoch.chain[epoch.chain.length - 1]?.n !== parsed.n) {
      return Promise.reject(new UnstorableUpdateError(epoch.wire, `it is not the wire name of the tip of ${epoch.doc}'s chain`))
    }
    return this.enqueue(epoch.wire, epoch.base, meta, epoch)
  }

  /** The epoch a document last moved to through `saveEpoch` (chain and base), or undefined. Rejects with `CorruptRowError` on an unreadable record. */
  async loadEpoch(doc: string): Promise<StoredEpoch | undefined> {
    this.assertOpen()
    this.commitAll()
    return this.epochTable.head(doc)
  }

  private enqueue(doc: string, update: Uint8Array, meta: StoredUpdateMeta, epoch: StoredEpoch | undefined): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError())
    if (!(update instanceof Uint8Array) || update.byteLength === 0) return Promise.reject(new UnstorableUpdateError(doc, 'it is empty'))
    if (this.options.validateAppends) {
      try {
        validateUpdate(doc, update)
      } catch (error) {
        return Promise.reject(new UnstorableUpdateError(doc, error instanceof Error ? error.message : String(error)))
      }
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ doc, update, meta, ...(epoch !== undefined ? { epoch } : {}), resolve, reject })
      if (this.options.durability === 'sync' || this.queue.length >= this.options.maxBatch) this.commitBatch()
      else this.scheduleCommit()
    })
  }

  /**
   * Loads a document: its latest snapshot and every update logged after it, each checked (checksum,
   * no gap, decodable by Yjs). Rejects with `CorruptRowError` naming the row otherwise.
   */
  async load(doc: string): Promise<LoadedDocument | undefined> {
    this.assertOpen()
    this.commitAll()
    const id = this.tables.documentId(doc)
    if (id === undefined) return undefined
    const snapshot = this.tables.snapshotAtOrBefore(doc, id, MAX_SEQ)
    if (snapshot) assertDecodableRow(doc, 'snapshots', snapshot.seq, snapshot.state)
    const lastSeq = this.tables.lastSeq(id)
    let expected = (snapshot?.seq ?? 0) + 1
    const updates: Uint8Array[] = []
    this.forEachUpdate(doc, { fromSeq: expected }, (row) => {
      if (row.seq !== expected) throw new CorruptRowError(doc, 'updates', expected, 'missing from the log')
      assertDecodableRow(doc, 'updates', row.seq, row.update)
      updates.push(row.update)
      expected++
    })
    if (expected <= lastSeq) throw new CorruptRowError(doc, 'updates', expected, `missing: the log ends before its last committed sequence ${lastSeq}`)
    return { snapshot: snapshot?.state, updates }
  }

  /** Checked update rows of a document with `fromSeq <= seq <= toSeq`, in order. */
  readUpdates(doc: string, range: { readonly fromSeq?: number; readonly toSeq?: number; readonly limit?: number } = {}): UpdateRow[] {
    return this.tables.updates(doc, this.requireDocument(doc), range.fromSeq ?? 0, range.toSeq ?? MAX_SEQ, range.limit ?? -1)
  }

  /** Calls `each` for every checked row in a range, reading the log a page at a time. */
  forEachUpdate(doc: string, range: { readonly fromSeq?: number; readonly toSeq?: number }, each: (row: UpdateRow) => void): void {
    this.forEachUpdatePage(doc, range, (page) => {
      for (const row of page) each(row)
    })
  }

  /** Calls `each` with successive pages (at most `LOG_PAGE_ROWS` checked rows) of a range. */
  forEachUpdatePage(doc: string, range: { readonly fromSeq?: number; readonly toSeq?: number }, each: (page: readonly UpdateRow[]) => void): void {
    this.tables.forEachUpdatePage(doc, this.requireDocument(doc), range.fromSeq ?? 0, range.toSeq ?? MAX_SEQ, each)
  }

  /** The newest checked snapshot of a document covering at most `seq` (default: the latest). */
  readSnapshot(doc: string, atOrBeforeSeq = MAX_SEQ): SnapshotRow | undefined {
    return this.tables.snapshotAtOrBefore(doc, this.requireDocument(doc), atOrBeforeSeq)
  }

  /** Where a document's log stands: sequences, retained rows, snapshots, how far back history goes. */
  logInfo(doc: string): LogInfo {
    return this.tables.logInfo(this.requireDocument(doc))
  }

  /**
   * The sequence of the last update stored at or before `timeMs` (0 if none): the state "at" that
   * time. The log's order is taken as time order.
   */
  seqAtTime(doc: string, timeMs: Millis): number {
    return this.tables.seqAtTime(this.requireDocument(doc), timeMs)
  }

  /**
   * A document's epochs in the order this peer entered them, read from the chain storage records
   * (empty while the document never left epoch 0). The last one is the current epoch.
   */
  epochChain(doc: string): EpochRecord[] {
    this.assertOpen()
    this.commitAll()
    return this.epochTable.chain(doc)
  }

  /** The record of the epoch stored under a name (`name#n.tag`, or a document's own name once it has later epochs). */
  epochRecord(storedName: string): EpochRecord | undefined {
    this.assertOpen()
    return this.epochTable.byWire(storedName)
  }

  /** The epoch of a document that was current at a wall time (undefined when the document has no later epochs). */
  epochAt(doc: string, timeMs: Millis): EpochRecord | undefined {
    const chain = this.epochChain(doc)
    let found = chain[0]
    for (const epoch of chain) if (epoch.switchedMs <= timeMs) found = epoch
    return found
  }

  /** Applies retention to the closed epochs of a document now (normally done after each switch and snapshot). */
  async retireEpochs(doc: string): Promise<void> {
    this.assertOpen()
    this.commitAll()
    this.retireClosedEpochs(doc)
  }

  /** Writes a snapshot of a document now (normally every `snapshotEvery` updates); returns what it covers. */
  async snapshot(doc: string): Promise<SnapshotInfo | undefined> {
    this.assertOpen()
    this.commitAll()
    return this.writeSnapshot(doc)
  }

  /** Commits every append queued so far; resolves when they are durable. */
  async flushed(): Promise<void> {
    this.commitAll()
  }

  /** Commits pending appends, takes the automatic snapshots already due (so the next start loads fast), and closes. */
  async close(): Promise<void> {
    if (this.closed) return
    this.commitAll()
    if (this.snapshotTimer !== undefined) clearImmediate(this.snapshotTimer)
    for (const doc of [...this.snapshotQueue]) this.runSnapshot(doc)
    if (this.retireTimer !== undefined) clearImmediate(this.retireTimer)
    for (const doc of [...this.retireQueue]) this.runRetire(doc)
    this.closed = true
    this.db.close()
  }

  /**
   * Records the epoch a first row belongs to, when its name is an epoch wire name: the peer stores
   * an epoch's base before anything else in it, so the first row is the base and its time the
   * switch. Epoch 0 (the document's own name) is recorded beside it. True if the epoch was new.
   */
  private recordEpoch(name: string, first: Uint8Array, wallMs: Millis): boolean {
    const parsed = parseStoredEpochName(name)
    if (parsed.n === 0) return false
    this.epochTable.record({ doc: parsed.doc, n: 0, tag: '', wire: parsed.doc, hash: '', switchedMs: this.firstWallMs(parsed.doc) ?? wallMs, baseBytes: 0 })
    return this.epochTable.record({ doc: parsed.doc, n: parsed.n, tag: parsed.tag, wire: name, hash: baseHash(first), switchedMs: wallMs, baseBytes: first.byteLength })
  }

  /** Wall time of a stored document's first kept row or snapshot, if it has any. */
  private firstWallMs(doc: string): Millis | undefined {
    const id = this.tables.documentId(doc)
    if (id === undefined) return undefined
    const bounds = this.tables.updateBounds(id)
    const snapshot = this.tables.snapshotInfos(id)[0]
    try {
      const row = bounds.count > 0 ? this.tables.updates(doc, id, bounds.first, bounds.first, 1)[0] : undefined
      return row?.wallMs ?? snapshot?.wallMs
    } catch {
      // A corrupt first row only loses the time; verify reports the row.
      return snapshot?.wallMs
    }
  }

  /** Records the epochs of a database written before the chain was recorded, from its stored names. */
  private backfillEpochs(): void {
    const missing = this.tables.documentNames().filter((name) => parseStoredEpochName(name).n > 0 && this.epochTable.byWire(name) === undefined)
    if (missing.length === 0) return
    this.db.transaction(() => {
      for (const name of missing) {
        const id = this.tables.documentId(name) as number
        let first: UpdateRow | undefined
        try {
          first = this.tables.updates(name, id, 1, 1, 1)[0]
        } catch {
          first = undefined
        }
        if (first) this.recordEpoch(name, first.update, first.wallMs)
        else {
          // The base row is gone (retention): the switch time is the earliest kept, the hash unknown.
          const parsed = parseStoredEpochName(name)
          const wallMs = this.firstWallMs(name) ?? 0
          this.epochTable.record({ doc: parsed.doc, n: 0, tag: '', wire: parsed.doc, hash: '', switchedMs: this.firstWallMs(parsed.doc) ?? wallMs, baseBytes: 0 })
          this.epochTable.record({ doc: parsed.doc, n: parsed.n, tag: parsed.tag, wire: name, hash: '', switchedMs: wallMs, baseBytes: 0 })
        }
      }
    })()
  }

  private queueRetire(doc: string): void {
    if (this.options.retention === 'all') return
    this.retireQueue.add(doc)
    if (this.retireTimer !== undefined) return
    const run = (): void => {
      this.retireTimer = undefined
      const next = this.retireQueue.values().next()
      if (this.closed || next.done) return
      this.runRetire(next.value)
      if (this.retireQueue.size > 0) this.retireTimer = setImmediate(run)
    }
    this.retireTimer = setImmediate(run)
  }

  private runRetire(doc: string): void {
    this.retireQueue.delete(doc)
    try {
      this.retireClosedEpochs(doc)
    } catch (error) {
      this.stats.backgroundErrors++
      this.options.onBackgroundError?.(error instanceof Error ? error : new Error(String(error)))
    }
  }

  /**
   * Retention for a document's closed epochs (every epoch but the current one; nothing is appended
   * to them any more). A closed epoch that ended before the kept window (policy `none`, or its end
   * older than `ms`) is dropped whole: its rows give way to one empty snapshot at its last sequence,
   * so `load` and the log's bookkeeping stay consistent, and its chain record is marked dropped.
   * Any other closed epoch gets a final snapshot, which applies the ordinary retention cut to it.
   */
  private retireClosedEpochs(doc: string): void {
    const policy = this.options.retention
    if (this.retiring || policy === 'all') return
    this.retiring = true
    try {
      const chain = this.epochTable.chain(doc)
      const now = this.options.now()
      for (let i = 0; i + 1 < chain.length; i++) {
        const epoch = chain[i] as EpochRecord
        if (epoch.droppedMs !== undefined || this.tables.documentId(epoch.wire) === undefined) continue
        const endMs = (chain[i + 1] as EpochRecord).switchedMs
        if (policy === 'none' || (policy.ms !== undefined && endMs < now - policy.ms)) this.dropEpoch(epoch.wire, endMs, now)
        else this.writeSnapshot(epoch.wire)
      }
    } finally {
      this.retiring = false
    }
  }

  private dropEpoch(wire: string, endMs: Millis, now: Millis): void {
    const id = this.requireDocument(wire)
    const state = this.stateOf(wire)
    const lastSeq = state.nextSeq - 1
    const empty = Y.encodeStateAsUpdate(new Y.Doc())
    this.db.transaction(() => {
      this.stats.updatesDropped += this.tables.dropHistoryBefore(id, lastSeq + 1)
      this.tables.insertSnapshot(id, wire, { seq: lastSeq, wallMs: endMs, createdMs: now, bytes: empty.byteLength, state: empty })
      this.epochTable.markDropped(wire, now)
    })()
    state.sinceSnapshot = 0
    state.tailBytes = 0
    state.snapshotBytes = empty.byteLength
    this.stats.epochsDropped++
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError()
  }

  private requireDocument(doc: string): number {
    this.assertOpen()
    const id = this.tables.documentId(doc)
    if (id === undefined) throw new UnknownDocumentError(doc)
    return id
  }

  private scheduleCommit(): void {
    if (this.commitTimer !== undefined) return
    const run = (): void => {
      this.commitTimer = undefined
      if (!this.closed) this.commitBatch()
    }
    // The timer is not unref'd: an append whose caller awaits it must commit before the process exits.
    this.commitTimer = this.options.commitDelayMs > 0 ? setTimeout(run, this.options.commitDelayMs) : setImmediate(run)
  }

  private cancelCommitTimer(): void {
    if (this.commitTimer === undefined) return
    clearTimeout(this.commitTimer as ReturnType<typeof setTimeout>)
    clearImmediate(this.commitTimer as ReturnType<typeof setImmediate>)
    this.commitTimer = undefined
  }

  private commitAll(): void {
    while (this.queue.length > 0) this.commitBatch()
    this.cancelCommitTimer()
  }

  private stateOf(doc: string): DocState {
    let state = this.states.get(doc)
    if (state) return state
    const existing = this.tables.documentId(doc)
    if (existing === undefined) {
      state = { id: this.tables.createDocument(doc), nextSeq: 1, sinceSnapshot: 0, tailBytes: 0, snapshotBytes: 0, corrupt: false }
    } else {
      const last = this.tables.lastSeq(existing)
      const latest = this.tables.snapshotInfos(existing).at(-1)
      const snapshotSeq = latest?.seq ?? 0
      state = {
        id: existing,
        nextSeq: last + 1,
        sinceSnapshot: last - snapshotSeq,
        tailBytes: this.tables.bytesAfter(existing, snapshotSeq),
        snapshotBytes: latest?.bytes ?? 0,
        corrupt: false,
      }
    }
    this.states.set(doc, state)
    return state
  }

  /** Commits one bounded batch from the head of the queue in one transaction. */
  private commitBatch(): void {
    this.cancelCommitTimer()
    if (this.queue.length === 0) return
    const batch = this.queue.length <= this.options.maxBatch ? this.queue : this.queue.slice(0, this.options.maxBatch)
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length)
    const before = new Map<string, { state: DocState | undefined; nextSeq: number; stored: boolean }>()
    const counts = new Map<DocState, { updates: number; bytes: number }>()
    const switched = new Set<string>()
    try {
      this.db.transaction(() => {
        for (const pending of batch) {
          if (!before.has(pending.doc)) {
            const known = this.states.get(pending.doc)
            before.set(pending.doc, { state: known, nextSeq: known?.nextSeq ?? 0, stored: this.tables.documentId(pending.doc) !== undefined })
          }
          const state = this.stateOf(pending.doc)
          const seq = state.nextSeq++
          this.tables.insertUpdate(state.id, pending.doc, seq, pending.meta, pending.update)
          if (seq === 1 && this.recordEpoch(pending.doc, pending.update, pending.meta.wallMs)) switched.add(parseStoredEpochName(pending.doc).doc)
          if (pending.epoch !== undefined) {
            // Re-entering an epoch stored before (its log goes on): its row exists, or is made here.
            if (seq !== 1) this.recordEpoch(pending.doc, pending.update, pending.meta.wallMs)
            this.epochTable.recordSwitch(pending.epoch)
          }
          const count = counts.get(state) ?? { updates: 0, bytes: 0 }
          count.updates++
          count.bytes += pending.update.byteLength
          counts.set(state, count)
        }
        for (const state of counts.keys()) this.tables.setLastSeq(state.id, state.nextSeq - 1)
      })()
    } catch (error) {
      // Nothing of the batch is stored: undo the in-memory sequence counters with it.
      for (const [doc, { state, nextSeq, stored }] of before) {
        if (state) state.nextSeq = nextSeq
        else this.states.delete(doc)
        if (!stored) this.tables.forgetDocument(doc)
      }
      const failure = new StoreWriteError([...new Set(batch.map((pending) => pending.doc))], error)
      for (const pending of batch) pending.reject(failure)
      if (this.queue.length > 0) this.scheduleCommit()
      return
    }
    this.stats.commits++
    this.stats.updatesCommitted += batch.length
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length)
    for (const pending of batch) pending.resolve()
    for (const doc of switched) this.queueRetire(doc)
    for (const [state, count] of counts) {
      state.sinceSnapshot += count.updates
      state.tailBytes += count.bytes
    }
    for (const doc of before.keys()) {
      const state = this.states.get(doc) as DocState
      if (!this.snapshotDue(state, 1)) continue
      // Normally the snapshot waits for its own macrotask. A caller that keeps the loop busy with
      // appends (every await a microtask) would starve it and let the tail grow without bound, so
      // past twice the due point it is taken here, after this batch's appends were resolved.
      if (this.snapshotDue(state, 2)) this.runSnapshot(doc)
      else this.queueSnapshot(doc)
    }
    if (this.queue.length > 0) this.scheduleCommit()
  }

  /** Whether a document has logged `factor` times what makes an automatic snapshot due. */
  private snapshotDue(state: DocState, factor: number): boolean {
    const { snapshotEvery, snapshotTailRatio } = this.options
    if (snapshotEvery === 0 || state.corrupt) return false
    return state.sinceSnapshot >= factor * snapshotEvery && state.tailBytes >= factor * snapshotTailRatio * state.snapshotBytes
  }

  private queueSnapshot(doc: string): void {
    this.snapshotQueue.add(doc)
    if (this.snapshotTimer !== undefined) return
    const run = (): void => {
      this.snapshotTimer = undefined
      const next = this.snapshotQueue.values().next()
      if (this.closed || next.done) return
      this.runSnapshot(next.value)
      if (this.snapshotQueue.size > 0) this.snapshotTimer = setImmediate(run)
    }
    this.snapshotTimer = setImmediate(run)
  }

  /** Takes an automatic snapshot; a failure is reported, never thrown at an unrelated caller. */
  private runSnapshot(doc: string): void {
    this.snapshotQueue.delete(doc)
    try {
      this.writeSnapshot(doc)
    } catch (error) {
      const state = this.states.get(doc)
      if (state && error instanceof CorruptRowError) state.corrupt = true
      this.stats.backgroundErrors++
      this.options.onBackgroundError?.(error instanceof Error ? error : new Error(String(error)))
    }
  }

  private writeSnapshot(doc: string): SnapshotInfo | undefined {
    const id = this.requireDocument(doc)
    const state = this.stateOf(doc)
    const lastSeq = state.nextSeq - 1
    const base = this.tables.snapshotAtOrBefore(doc, id, MAX_SEQ)
    if (lastSeq === 0 || (base && base.seq >= lastSeq)) return base && { seq: base.seq, wallMs: base.wallMs, createdMs: base.createdMs, bytes: base.bytes }
    const builder = new SnapshotBuilder(doc, base)
    let lastWallMs = base?.wallMs ?? 0
    try {
      this.forEachUpdatePage(doc, { fromSeq: builder.nextSeq, toSeq: lastSeq }, (page) => {
        builder.add(page)
        lastWallMs = (page[page.length - 1] as UpdateRow).wallMs
      })
      if (builder.nextSeq !== lastSeq + 1) throw new CorruptRowError(doc, 'updates', builder.nextSeq, 'missing from the log')
    } catch (error) {
      builder.abandon()
      throw error
    }
    const encoded = builder.finish()
    const snapshot: SnapshotRow = { seq: lastSeq, wallMs: lastWallMs, createdMs: this.options.now(), bytes: encoded.byteLength, state: encoded }
    this.db.transaction(() => {
      this.tables.insertSnapshot(id, doc, snapshot)
      const cut = retentionCut(this.options.retention, this.tables.snapshotInfos(id), this.options.now())
      if (cut > 0) this.stats.updatesDropped += this.tables.dropHistoryBefore(id, cut)
    })()
    // Snapshots run between commits, so nothing was logged after `lastSeq` meanwhile.
    state.sinceSnapshot = 0
    state.tailBytes = 0
    state.snapshotBytes = snapshot.bytes
    this.stats.snapshots++
    // A time window moves: closed epochs may have left it since the switch.
    const owner = parseStoredEpochName(doc).doc
    if (this.options.retention !== 'all' && this.epochTable.byWire(owner) !== undefined) this.retireClosedEpochs(owner)
    return { seq: snapshot.seq, wallMs: snapshot.wallMs, createdMs: snapshot.createdMs, bytes: snapshot.bytes }
  }
}

/** Opens (creating it unless `create: false`) the store in a data directory. */
export const openSqliteStore = (dataDir: string, options: SqliteStoreOptions = {}): SqliteDocumentStore => new SqliteDocumentStore(dataDir, options)
