import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/free-port.js'

// Five OS processes on loopback form a cluster over libp2p TCP (each runs `startServer`, the
// composition `realmsync serve` uses), with real SQLite stores in their own data directories.

const fixture = join(import.meta.dirname, 'fixtures', 'cluster-node.ts')
const SECRET = 'serve-cluster-test-secret'
const DOC = 'world/1/economy'

type Answer = Record<string, unknown>

/** One cluster-node process and a FIFO of answers to the commands sent to it. */
class NodeProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly ready: Promise<Answer>
  private readonly waiting: Array<(answer: Answer) => void> = []
  private stderr = ''

  constructor(readonly config: { listen: string; bootstrap: string[]; dataDir: string }) {
    this.child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ ...config, secret: SECRET })], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
    let markReady: (answer: Answer) => void = () => {}
    this.ready = new Promise((resolve) => (markReady = resolve))
    this.waiting.push((answer) => markReady(answer))
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.(JSON.parse(line) as Answer))
  }

  /** Sends one command and resolves with its answer. */
  ask(command: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`node exited: ${this.stderr}`))
        return
      }
      this.waiting.push(resolve)
      this.child.stdin.write(`${command}\n`)
    })
  }

  async keys(): Promise<string[]> {
    return Object.keys((await this.ask(`dump ${DOC}`)).kv as object).sort()
  }

  kill(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve())
      this.child.kill('SIGKILL')
    })
  }

  quit(): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve(this.child.exitCode)
      this.child.once('exit', (code) => resolve(code))
      this.child.stdin.write('quit\n')
    })
  }
}


const eventually = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const nodes: NodeProcess[] = []
const dirs: string[] = []

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.quit()))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('realmsync serve cluster (5 processes, libp2p TCP)', () => {
  it('replicates updates from every node, survives a SIGKILL, and catches the restarted node up', async () => {
    const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()))
    const addresses = ports.map((port) => `/ip4/127.0.0.1/tcp/${port}`)
    const configs = addresses.map((listen) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'realmsync-serve-'))
      dirs.push(dataDir)
      return { listen, bootstrap: addresses, dataDir }
    })
    nodes.push(...configs.map((config) => new NodeProcess(config)))
    const ids = (await Promise.all(nodes.map((node) => node.ready))).map((ready) => ready.id as string)
    expect(new Set(ids).size).toBe(5)
    await eventually(async () => (await Promise.all(nodes.map((node) => node.ask('peers')))).every((a) => (a.peers as string[]).length === 4), 8000, 'full mesh')

    await Promise.all(nodes.map((node, i) => node.ask(`set ${DOC} k${i} from-${i}`)))
    const firstFive = ['k0', 'k1', 'k2', 'k3', 'k4']
    await eventually(async () => (await Promise.all(nodes.map((node) => node.keys()))).every((keys) => keys.join() === firstFive.join()), 5000, 'every update everywhere')

    // SIGKILL one; the rest go on.
    const victim = nodes[4]!
    await victim.kill()
    const survivors = nodes.slice(0, 4)
    await eventually(async () => (await Promise.all(survivors.map((node) => node.ask('peers')))).every((a) => (a.peers as string[]).length === 3), 5000, 'survivors notice')
    await Promise.all(survivors.map((node, i) => node.ask(`set ${DOC} k${5 + i} while-down-${i}`)))
    const nine = [...firstFive, 'k5', 'k6', 'k7', 'k8']
    await eventually(async () => (await Promise.all(survivors.map((node) => node.keys()))).every((keys) => keys.join() === nine.join()), 5000, 'survivors converge')

    // Restart it on the same data directory and address: same identity, its own write kept, caught up.
    const restarted = new NodeProcess(victim.config)
    nodes[4] = restarted
    const ready = await restarted.ready
    expect(ready.id).toBe(ids[4])
    expect(ready.restoredDocs).toEqual([DOC])
    await eventually(async () => (await restarted.keys()).join() === nine.join(), 8000, 'restarted node catches up')
    await restarted.ask(`set ${DOC} k9 after-restart`)
    await eventually(async () => (await Promise.all(nodes.map((node) => node.keys()))).every((keys) => keys.length === 10), 5000, 'its new write reaches all')
    const dump = await nodes[0]!.ask(`dump ${DOC}`)
    expect(dump.kv).toMatchObject({ k4: 'from-4', k8: 'while-down-3', k9: 'after-restart' })
  }, 60_000)
})
