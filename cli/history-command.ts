import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { AuditLedger, databasePath, history, openSqliteStore, verifyLedger, verifyStore, type Moment, type SqliteDocumentStore } from '../storage/index.js'
import type { CliIo } from './io.js'

/** Parses `--at`/`--from`/`--to`: `seq:N` or a bare integer is a sequence; an ISO date or `ms:N` is a time. */
export const parseMoment = (text: string): Moment => {
  if (/^\d+$/.test(text)) return { seq: Number(text) }
  if (/^seq:\d+$/.test(text)) return { seq: Number(text.slice(4)) }
  if (/^ms:\d+$/.test(text)) return { timeMs: Number(text.slice(3)) }
  const time = Date.parse(text)
  if (Number.isNaN(time)) throw new Error(`cannot read moment '${text}': use a sequence number (42 or seq:42), ms:<epoch ms>, or an ISO time`)
  return { timeMs: time }
}

const parseTime = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const moment = parseMoment(text)
  if ('seq' in moment) return moment.seq
  return moment.timeMs
}

const withStore = async <T>(dataDir: string, fn: (store: SqliteDocumentStore) => Promise<T> | T): Promise<T> => {
  if (!existsSync(databasePath(dataDir))) throw new Error(`no realmsync data in ${dataDir} (expected ${databasePath(dataDir)})`)
  const store = openSqliteStore(dataDir)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** Adds `realmsync history list|show|diff|trace|verify` to a commander program. */
export const registerHistoryCommands = (program: Command, io: CliIo): void => {
  const group = program.command('history').description("read a document's history from a peer's data directory")
  group
    .command('list')
    .argument('<data-dir>')
    .argument('<doc>')
    .option('--since <time>', 'only updates at or after this time (ISO or ms:<epoch ms>)')
    .option('--until <time>', 'only updates at or before this time')
    .option('--json', 'print JSON')
    .description('each update with time, origin, size and what it changed')
    .action(async (dataDir: string, doc: string, opts: { since?: string; until?: string; json?: boolean }) => {
      await withStore(dataDir, (store) => {
        const since = parseTime(opts.since)
        const until = parseTime(opts.until)
        const entries = history(store).list(doc, { ...(since !== undefined ? { sinceMs: since } : {}), ...(until !== undefined ? { untilMs: until } : {}) })
        if (opts.json) return io.out(`${JSON.stringify(entries, null, 2)}\n`)
        io.out(`${'seq'.padStart(6)}  ${'time'.padEnd(24)}  ${'origin'.padEnd(14)}  ${'bytes'.padStart(6)}  changed\n`)
        for (const e of entries) {
          io.out(`${String(e.seq).padStart(6)}  ${iso(e.wallMs).padEnd(24)}  ${e.origin.padEnd(14)}  ${String(e.bytes).padStart(6)}  ${e.summary.paths.join(', ')}${e.summary.deletes ? ' (overwrites)' : ''}\n`)
        }
      })
    })
  group
    .command('show')
    .argument('<data-dir>')
    .argument('<doc>')
    .requiredOption('--at <time|seq>', 'a sequence number, seq:N, ms:<epoch ms> or an ISO time')
    .option('--json', 'print compact JSON')
    .description("the document's content at that moment, as JSON")
    .action(async (dataDir: string, doc: string, opts: { at: string; json?: boolean }) => {
      await withStore(dataDir, (store) => {
        const content = history(store).show(doc, parseMoment(opts.at))
        io.out(`${JSON.stringify(content, null, opts.json ? 0 : 2)}\n`)
      })
    })
  group
    .command('diff')
    .argument('<data-dir>')
    .argument('<doc>')
    .requiredOption('--from <time|seq>', 'start moment')
    .requiredOption('--to <time|seq>', 'end moment')
    .option('--json', 'print JSON')
    .description('what changed between two moments')
    .action(async (dataDir: string, doc: string, opts: { from: string; to: string; json?: boolean }) => {
      await withStore(dataDir, (store) => {
        const changes = history(store).diff(doc, parseMoment(opts.from), parseMoment(opts.to))
        if (opts.json) return io.out(`${JSON.stringify(changes, null, 2)}\n`)
        for (const c of changes) io.out(`${c.path}: ${JSON.stringify(c.before) ?? '(none)'} -> ${JSON.stringify(c.after) ?? '(none)'}\n`)
        if (changes.length === 0) io.out('no changes\n')
      })
    })
  group
    .command('trace')
    .argument('<data-dir>')
    .argument('<doc>')
    .option('--item <id>', 'an item id')
    .option('--entity <id>', 'an entity id')
    .option('--json', 'print JSON')
    .description('every change of one item or entity over time, with origin peers')
    .action(async (dataDir: string, doc: string, opts: { item?: string; entity?: string; json?: boolean }) => {
      if ((opts.item === undefined) === (opts.entity === undefined)) throw new Error('give exactly one of --item or --entity')
      await withStore(dataDir, (store) => {
        const steps = history(store).trace(doc, opts.item !== undefined ? { item: opts.item } : { entity: opts.entity as string })
        if (opts.json) return io.out(`${JSON.stringify(steps, null, 2)}\n`)
        for (const s of steps) io.out(`${String(s.seq).padStart(6)}  ${iso(s.wallMs)}  ${s.origin.padEnd(14)}  ${JSON.stringify(s.value) ?? '(removed)'}\n`)
        if (steps.length === 0) io.out('no changes recorded\n')
      })
    })
  group
    .command('verify')
    .argument('<data-dir>')
    .option('--json', 'print JSON')
    .description('replay logs and snapshots and check they agree')
    .action(async (dataDir: string, opts: { json?: boolean }) => {
      const results = await withStore(dataDir, (store) => verifyStore(store))
      const ledger = AuditLedger.exists(dataDir) ? verifyLedger(dataDir) : undefined
      if (opts.json) io.out(`${JSON.stringify({ documents: results, ledger: ledger ?? null }, null, 2)}\n`)
      else {
        for (const r of results) io.out(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.doc}  ${r.updates} updates, ${r.snapshots} snapshots: ${r.detail}\n`)
        if (ledger) io.out(`${ledger.ok ? 'ok  ' : 'FAIL'}  audit ledger  ${ledger.records} records: ${ledger.detail}\n`)
      }
      if (results.some((r) => !r.ok) || ledger?.ok === false) process.exitCode = 3
    })
}
