import { InvalidArgumentError, type Command } from 'commander'
import {
  openHistory,
  parseMoment,
  UnknownDocumentError,
  verifyDataDir,
  type EpochHistoryEntry,
  type EpochSummary,
  type EpochTraceStep,
  type OpenedHistory,
  type Moment,
} from '../storage/index.js'
import { processIo, type CliIo } from './io.js'

export { parseMoment }

/** Exit code of `history verify` when something does not check out. */
export const VERIFY_FAILED_EXIT_CODE = 3

const momentOption = (value: string): Moment => {
  try {
    return parseMoment(value)
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error))
  }
}

/** Opens a data directory's history for one document, failing clearly if either is missing. */
const withDocument = async <T>(dataDir: string, doc: string, fn: (reader: OpenedHistory) => T): Promise<T> => {
  const reader = openHistory(dataDir)
  try {
    if (!reader.store.documentNames().includes(doc)) throw new UnknownDocumentError(doc)
    return fn(reader)
  } finally {
    await reader.close()
  }
}

const iso = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString())

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

const epochLabel = (epoch: { readonly n: number } | undefined): string => (epoch === undefined ? '' : `${`e${epoch.n}`.padStart(5)}  `)

const listTable = (entries: readonly EpochHistoryEntry[], withEpochs: boolean): string => {
  const lines = [`${withEpochs ? `${'epoch'.padStart(5)}  ` : ''}${'seq'.padStart(7)}  ${'time'.padEnd(24)}  ${'origin'.padEnd(14)}  ${'bytes'.padStart(6)}  changed`]
  for (const e of entries) {
    lines.push(`${epochLabel(e.epoch)}${String(e.seq).padStart(7)}  ${iso(e.wallMs).padEnd(24)}  ${e.origin.padEnd(14)}  ${String(e.bytes).padStart(6)}  ${e.description}`)
  }
  return `${lines.join('\n')}\n`
}

const epochTable = (epochs: readonly EpochSummary[]): string => {
  const lines = ['# epochs (sequences are per epoch):']
  for (const e of epochs) {
    const kept = e.droppedMs !== undefined ? 'dropped by retention' : `${e.retainedUpdates} updates kept, last seq ${e.lastSeq}${e.historyStartSeq > 0 ? `, history from seq ${e.historyStartSeq + 1}` : ''}`
    lines.push(`#   e${e.n}${e.current ? ' (current)' : ''}  ${e.wire}  from ${iso(e.switchedMs)}${e.endMs !== undefined ? ` to ${iso(e.endMs)}` : ''}  ${e.hash === '' ? '' : `hash ${e.hash.slice(0, 16)}  `}${kept}`)
  }
  return `${lines.join('\n')}\n`
}

const traceLine = (s: EpochTraceStep): string => {
  const what =
    s.holder && (s.change === 'moved' || s.change === 'created' || s.change === 'present')
      ? `${s.change} ${s.holder.from ?? '-'} -> ${s.holder.to ?? '-'}`
      : s.change === 'changed'
        ? `changed ${s.fields.map((f) => f.path).join(', ')}`
        : s.change
  return `${epochLabel(s.epoch)}${String(s.seq).padStart(7)}  ${iso(s.wallMs).padEnd(24)}  ${s.origin.padEnd(14)}  ${JSON.stringify(s.value) ?? '(removed)'}  ${what}\n`
}

/**
 * Adds `history list|show|diff|trace|verify` to a commander program: reading a document's past out
 * of a peer's data directory. Output is a readable table by default and JSON with `--json`; errors
 * (missing directory or document, unreadable moments, corrupt rows) reject the parse with a typed error.
 */
export const registerHistoryCommands = (program: Command, io: CliIo = processIo): Command => {
  const group = program.command('history').description("read a document's history from a peer's data directory")

  group
    .command('list')
    .description('each update with time, origin, size and what it changed')
    .argument('<data-dir>', "the peer's data directory")
    .argument('<doc>', 'document name, e.g. world/1/region/0_0')
    .option('--since <moment>', 'from this moment on (sequence, seq:N, ms:<epoch ms> or ISO time)', momentOption)
    .option('--until <moment>', 'up to this moment', momentOption)
    .option('--json', 'print JSON')
    .action(async (dataDir: string, doc: string, opts: { since?: Moment; until?: Moment; json?: boolean }) => {
      const { entries, startSeq, epochs } = await withDocument(dataDir, doc, (reader) => ({
        entries: reader.list(doc, { ...(opts.since ? { since: opts.since } : {}), ...(opts.until ? { until: opts.until } : {}) }),
        startSeq: reader.store.logInfo(doc).historyStartSeq,
        epochs: reader.epochs(doc),
      }))
      if (opts.json) return io.out(json(epochs.length > 0 ? { epochs, entries } : entries))
      if (epochs.length > 0) io.out(epochTable(epochs))
      else if (startSeq > 0) io.out(`# history kept from seq ${startSeq + 1}; earlier updates were dropped by retention\n`)
      io.out(listTable(entries, epochs.length > 0))
    })

  group
    .command('show')
    .description("the document's content at a moment, as JSON")
    .argument('<data-dir>', "the peer's data directory")
    .argument('<doc>', 'document name')
    .requiredOption('--at <moment>', 'a sequence (42, seq:42), ms:<epoch ms> or an ISO time', momentOption)
    .option('--json', 'print only the JSON content')
    .action(async (dataDir: string, doc: string, opts: { at: Moment; json?: boolean }) => {
      const state = await withDocument(dataDir, doc, (reader) => reader.stateAt(doc, opts.at))
      if (opts.json) io.out(`${JSON.stringify(state.content)}\n`)
      else io.out(`# ${doc} at ${state.epoch ? `epoch ${state.epoch.n} (${state.epoch.wire}) ` : ''}seq ${state.seq} (${iso(state.wallMs)})\n${json(state.content)}`)
    })

  group
    .command('diff')
    .description('what changed between two moments')
    .argument('<data-dir>', "the peer's data directory")
    .argument('<doc>', 'document name')
    .requiredOption('--from <moment>', 'the earlier moment', momentOption)
    .requiredOption('--to <moment>', 'the later moment', momentOption)
    .option('--json', 'print JSON')
    .action(async (dataDir: string, doc: string, opts: { from: Moment; to: Moment; json?: boolean }) => {
      const changes = await withDocument(dataDir, doc, (reader) => reader.diff(doc, opts.from, opts.to))
      if (opts.json) return io.out(json(changes))
      if (changes.length === 0) return io.out('no changes\n')
      io.out(changes.map((c) => `${c.path}: ${JSON.stringify(c.before) ?? '(none)'} -> ${JSON.stringify(c.after) ?? '(none)'}\n`).join(''))
    })

  group
    .command('trace')
    .description("every change of one item's holder and fields, or one entity's fields, with origin peers")
    .argument('<data-dir>', "the peer's data directory")
    .argument('<doc>', 'document name')
    .option('--item <id>', 'an item id')
    .option('--entity <id>', 'an entity id')
    .option('--json', 'print JSON')
    .action(async (dataDir: string, doc: string, opts: { item?: string; entity?: string; json?: boolean }, command: Command) => {
      if ((opts.item === undefined) === (opts.entity === undefined)) command.error('error: give exactly one of --item or --entity')
      const target = opts.item !== undefined ? { item: opts.item } : { entity: opts.entity as string }
      const steps = await withDocument(dataDir, doc, (reader) => reader.trace(doc, target))
      if (opts.json) return io.out(json(steps))
      io.out(steps.length === 0 ? 'no changes recorded\n' : steps.map(traceLine).join(''))
    })

  group
    .command('verify')
    .description('replay logs and snapshots and check they agree; check the audit ledger hash chain')
    .argument('<data-dir>', "the peer's data directory")
    .option('--ledger-heads <hashes>', 'comma-separated ledger heads published earlier, which must be part of the ledger history')
    .option('--json', 'print JSON')
    .action(async (dataDir: string, opts: { ledgerHeads?: string; json?: boolean }) => {
      const expected = opts.ledgerHeads?.split(',').filter((h) => h.length > 0)
      const result = await verifyDataDir(dataDir, expected ? { expectedLedgerHeads: expected } : {})
      if (opts.json) io.out(json(result))
      else {
        for (const d of result.documents) io.out(`${d.ok ? 'ok  ' : 'FAIL'}  ${d.doc}  ${d.updates} updates, ${d.snapshots} snapshots: ${d.detail}\n`)
        if (result.documents.length === 0) io.out('no documents stored\n')
        if (result.ledger) io.out(`${result.ledger.ok ? 'ok  ' : 'FAIL'}  audit ledger  ${result.ledger.records} records: ${result.ledger.detail}\n`)
      }
      if (!result.ok) process.exitCode = VERIFY_FAILED_EXIT_CODE
    })

  return group
}
