import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WebSocket } from 'ws'
import type { IntentResult } from '../../core/index.js'
import { createRealmsyncClient, type WebSocketConstructor } from '../../client/index.js'
import { signDevToken } from '../../gateway/index.js'
import { freePort } from '../helpers/free-port.js'

// Two OS processes, each a game-server peer (`startServer`, as `realmsync serve` composes it) with
// its client gateway, sessions and an intent engine. A realmsync client in this process plays on A;
// A gets SIGUSR2 mid-stream, drains, and hands the session to B; the client follows and goes on.

const fixture = join(import.meta.dirname, 'fixtures', 'session-node.ts')
const SECRET = 'handoff-cluster-test-secret'
const AUTH_SECRET = 'handoff-test-auth-secret-of-at-least-32-bytes'

type Answer = Record<string, unknown>

class NodeProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly ready: Promise<Answer>
  readonly events: Answer[] = []
  private readonly waiting: Array<(answer: Answer) => void> = []
  private stderr = ''

  constructor(config: { listen: string; bootstrap: string[]; dataDir: string }) {
    this.child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ ...config, secret: SECRET, authSecret: AUTH_SECRET })], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
    let markReady: (answer: Answer) => void = () => {}
    this.ready = new Promise((resolve) => (markReady = resolve))
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const parsed = JSON.parse(line) as Answer
      if (parsed.event === 'ready') markReady(parsed)
      else if (parsed.event !== undefined) this.events.push(parsed)
      else this.waiting.shift()?.(parsed)
    })
  }

  ask(command: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error(`node exited: ${this.stderr}`))
      this.waiting.push(resolve)
      this.child.stdin.write(`${command}\n`)
    })
  }

  quit(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve()
      this.child.once('exit', () => resolve())
      this.child.stdin.write('quit\n')
    })
  }
}


const eventually = async (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const nodes: NodeProcess[] = []
const dirs: string[] = []

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.quit()))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('session handoff between two processes', () => {
  it('drains A on SIGUSR2: the client moves to B with no lost or duplicated intent and no gap in its document', async () => {
    const ports = await Promise.all([0, 1].map(() => freePort()))
    const urls = ports.map((port) => `ws://127.0.0.1:${port}`)
    for (const [i, listen] of urls.entries()) {
      const dataDir = mkdtempSync(join(tmpdir(), 'realmsync-handoff-'))
      dirs.push(dataDir)
      nodes.push(new NodeProcess({ listen, bootstrap: urls.filter((_, j) => j !== i), dataDir }))
    }
    const [a, b] = nodes as [NodeProcess, NodeProcess]
    const [readyA, readyB] = await Promise.all([a.ready, b.ready])
    await eventually(async () => ((await a.ask('peers')).peers as string[]).length === 1 && ((await b.ask('peers')).peers as string[]).length === 1, 10_000, 'peers connected')

    const player = 'traveller'
    const errors: Error[] = []
    const client = createRealmsyncClient({
      url: readyA.gatewayUrl as string,
      token: await signDevToken({ player, read: ['world/*'], write: [], ttlSeconds: 120, secret: AUTH_SECRET }),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      documents: ['world/1'],
      baseMs: 20,
      capMs: 300,
      onError: (error) => errors.push(error),
    })
    try {
      await eventually(() => client.home === readyA.id, 5000, 'greeting from A')
      await client.whenSynced('world/1')
      // B must know A's gateway before A can hand anything to it.
      await eventually(async () => (await b.ask(`record ${player}`)).record !== null, 5000, 'session record replicated to B')

      // Every step the client's replica shows, in order: a gap would show as a step it never saw before a later one.
      const seen: number[] = []
      client.doc('world/1').on('update', () => {
        const steps = Number((client.doc('world/1').getMap('entities').get(player) as Y.Map<unknown> | undefined)?.toJSON()?.components?.counter?.steps ?? 0)
        if (steps > 0 && seen.at(-1) !== steps) seen.push(steps)
      })

      const total = 120
      const answers: Array<Promise<IntentResult>> = []
      for (let i = 1; i <= total; i++) {
        answers.push(client.send('step', null))
        if (i === 40) a.child.kill('SIGUSR2')
        await new Promise((resolve) => setTimeout(resolve, 3))
      }
      const results = await Promise.all(answers)
      await eventually(() => a.events.some((event) => event.event === 'drained'), 5000, 'drain report')
      expect(String(a.events.find((event) => event.event === 'drained')?.text)).toMatch(/drained, 1 session\(s\) handed off/)
      // `step` answers the player's new count: exactly once, in order, means exactly 1..N.
      expect(results.map((result) => (result.type === 'ack' ? result.result : result.reason))).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      expect(client.home).toBe(readyB.id)
      expect(client.url).toBe(readyB.gatewayUrl)
      expect(client.stats().redirects).toBe(1)
      expect((await b.ask(`steps ${player}`)).steps).toBe(total)
      await eventually(async () => (await a.ask(`steps ${player}`)).steps === total, 5000, 'A converges')
      await eventually(
        async () => (await b.ask('vector world/1')).vector === Buffer.from(Y.encodeStateVector(client.doc('world/1'))).toString('base64'),
        5000,
        'client replica equal to B',
      )
      expect(seen.at(-1)).toBe(total)
      expect([...seen].sort((x, y) => x - y)).toEqual(seen)
      // B never lacked what the client had seen on A: no write-refusal noise on the move.
      expect(errors).toEqual([])
      const record = (await a.ask(`record ${player}`)).record as Record<string, unknown>
      expect(record).toMatchObject({ home: readyB.id, state: 'active', session: client.session })
    } finally {
      client.close()
    }
  }, 60_000)
})
