import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openSqliteStore } from '../../storage/index.js'

const fixture = join(import.meta.dirname, 'fixtures', 'crash-writer.ts')

/** Runs the writer until it has acknowledged at least `atLeast` updates, then SIGKILLs it. */
const runAndKill = (dataDir: string, start: number, atLeast: number): Promise<number[]> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dataDir, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked: number[] = []
    let buffer = ''
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)))
      if (acked.length >= atLeast && !child.killed) child.kill('SIGKILL')
    })
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`writer exited without being killed: ${stderr}`))))
  })

describe('crash durability', () => {
  it('every acknowledged update survives SIGKILL at random moments', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'realmsync-crash-'))
    const allAcked: number[] = []
    let start = 0
    for (let round = 0; round < 3; round++) {
      const acked = await runAndKill(dataDir, start, 40 + Math.floor(Math.random() * 400))
      allAcked.push(...acked)
      start = Math.max(start, ...acked) + 100_000
      const store = openSqliteStore(dataDir)
      const loaded = await store.load('world')
      await store.close()
      const doc = new Y.Doc()
      const parts = loaded ? (loaded.snapshot ? [loaded.snapshot, ...loaded.updates] : [...loaded.updates]) : []
      Y.applyUpdate(doc, Y.mergeUpdates(parts))
      const map = doc.getMap<number>('acks')
      const missing = allAcked.filter((value) => map.get(`k${value}`) !== value)
      expect(missing).toEqual([])
    }
    expect(allAcked.length).toBeGreaterThan(100)
  }, 60_000)
})
