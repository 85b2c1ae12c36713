// Crash soak: the crash test of test/storage/crash.test.ts, many more times. A writer process
// (test/storage/fixtures/crash-writer.ts) appends under load and is SIGKILLed at seeded random
// moments; after every kill the data directory is reopened, every acknowledged update must be
// there, and every document must verify.
//
//   npx tsx bench/storage-soak.ts [rounds=100] [seed=1]
//
// Each group of `roundsPerDataDir` rounds (default 25) shares one data directory, so later rounds
// restart on a store that earlier crashes left behind.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { createRandom } from '../core/index.js'
import { openSqliteStore, verifyStore } from '../storage/index.js'

const writer = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'storage', 'fixtures', 'crash-writer.ts')

/** What a soak run found. */
export interface StorageSoakResult {
  readonly rounds: number
  readonly seed: number
  /** Acknowledged updates over all rounds. */
  readonly acknowledged: number
  /** Acknowledged updates missing after a restart (must be 0). */
  readonly lost: number
  /** Documents that failed verification after a restart (must be 0). */
  readonly verifyFailures: number
  /** Rounds whose writer was killed before acknowledging anything. */
  readonly emptyRounds: number
  readonly seconds: number
  readonly failures: readonly string[]
}

const runAndKill = (dataDir: string, first: number, killAfterMs: number): Promise<Map<string, number[]>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dataDir, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked = new Map<string, number[]>()
    let buffer = ''
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), killAfterMs)
        const [word, doc, value] = line.split(' ')
        if (word === 'ack' && doc && value) acked.set(doc, [...(acked.get(doc) ?? []), Number(value)])
      }
    })
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`writer exited by itself: ${stderr}`))))
  })

/** Runs `rounds` kill-and-restart rounds on one data directory and reports what was lost (nothing, if all is well). */
export const runStorageSoak = async (options: { rounds?: number; seed?: number; maxKillMs?: number; roundsPerDataDir?: number } = {}): Promise<StorageSoakResult> => {
  const rounds = options.rounds ?? 100
  const seed = options.seed ?? 1
  const roundsPerDataDir = options.roundsPerDataDir ?? 25
  const random = createRandom(seed)
  let dataDir = mkdtempSync(join(tmpdir(), 'realmsync-soak-'))
  let everAcked = new Map<string, number[]>()
  let acknowledged = 0
  const failures: string[] = []
  let lost = 0
  let verifyFailures = 0
  let emptyRounds = 0
  const start = performance.now()
  for (let round = 0; round < rounds; round++) {
    // A fresh data directory now and then keeps rounds short: every check re-reads all it ever acknowledged.
    if (round > 0 && round % roundsPerDataDir === 0) {
      rmSync(dataDir, { recursive: true, force: true })
      dataDir = mkdtempSync(join(tmpdir(), 'realmsync-soak-'))
      everAcked = new Map()
    }
    const acked = await runAndKill(dataDir, (round + 1) * 1_000_000, random.int(0, options.maxKillMs ?? 600))
    if (acked.size === 0) emptyRounds++
    for (const [doc, values] of acked) {
      everAcked.set(doc, [...(everAcked.get(doc) ?? []), ...values])
      acknowledged += values.length
    }
    const store = openSqliteStore(dataDir, { snapshotEvery: 0 })
    try {
      for (const [doc, values] of everAcked) {
        const loaded = await store.load(doc)
        const ydoc = new Y.Doc()
        if (loaded?.snapshot) Y.applyUpdate(ydoc, loaded.snapshot)
        if (loaded && loaded.updates.length > 0) Y.applyUpdate(ydoc, Y.mergeUpdates([...loaded.updates]))
        const map = ydoc.getMap<number>('acks')
        const missing = values.filter((value) => map.get(`k${value}`) !== value)
        if (missing.length > 0) failures.push(`round ${round}: ${doc} lost ${missing.length} acknowledged updates, e.g. ${missing.slice(0, 5).join(', ')}`)
        lost += missing.length
      }
      for (const result of await verifyStore(store)) {
        if (result.ok) continue
        verifyFailures++
        failures.push(`round ${round}: ${result.doc} failed verification: ${result.detail}`)
      }
    } finally {
      await store.close()
    }
    if ((round + 1) % 10 === 0) process.stderr.write(`soak: ${round + 1}/${rounds} rounds, ${acknowledged} acknowledged, ${lost} lost\n`)
  }
  rmSync(dataDir, { recursive: true, force: true })
  return {
    rounds,
    seed,
    acknowledged,
    lost,
    verifyFailures,
    emptyRounds,
    seconds: Number(((performance.now() - start) / 1000).toFixed(1)),
    failures,
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await runStorageSoak({ rounds: Number(process.argv[2] ?? 100), seed: Number(process.argv[3] ?? 1) })
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  if (result.lost > 0 || result.verifyFailures > 0) process.exitCode = 1
}
