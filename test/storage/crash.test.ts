import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openSqliteStore, verifyStore } from '../../storage/index.js'
import { restore, tempDataDir } from './fixtures/helpers.js'

const writer = join(import.meta.dirname, 'fixtures', 'crash-writer.ts')

/** Runs the writer and SIGKILLs it `killAfterMs` after it is ready; returns the acknowledged values per document. */
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

describe('crash durability', () => {
  it('every acknowledged update survives SIGKILL at random moments, and the store stays consistent', async () => {
    const dataDir = tempDataDir()
    const everAcked = new Map<string, number[]>()
    for (let round = 0; round < 4; round++) {
      // Random kill moments: the point is to land anywhere in a commit, snapshot or compaction.
      const killAfterMs = 40 + Math.floor(Math.random() * 300)
      const acked = await runAndKill(dataDir, (round + 1) * 1_000_000, killAfterMs)
      for (const [doc, values] of acked) everAcked.set(doc, [...(everAcked.get(doc) ?? []), ...values])
      const store = openSqliteStore(dataDir, { snapshotEvery: 0 })
      for (const [doc, values] of everAcked) {
        const map = restore(await store.load(doc)).getMap<number>('acks')
        expect(values.filter((value) => map.get(`k${value}`) !== value), `round ${round}, killed ${killAfterMs} ms after ready`).toEqual([])
      }
      expect((await verifyStore(store)).filter((v) => !v.ok), `round ${round}, killed ${killAfterMs} ms after ready`).toEqual([])
      await store.close()
    }
    expect([...everAcked.values()].flat().length).toBeGreaterThan(100)
  }, 60_000)
})
