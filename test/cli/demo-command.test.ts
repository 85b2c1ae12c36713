import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli, startDemo, type DemoHandle } from '../../cli/index.js'
import { openWorldDoc } from '../../core/index.js'
import { openIntentJournal } from '../../storage/index.js'

const dirs: string[] = []
const demos: DemoHandle[] = []
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'realmsync-demo-'))
  dirs.push(dir)
  return dir
}
afterEach(async () => {
  await Promise.all(demos.splice(0).map((demo) => demo.stop()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const capture = () => {
  const out: string[] = []
  const err: string[] = []
  return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } }
}

describe('realmsync demo', () => {
  it('serves the world to a client holding the printed token while bots play through the intent engine', async () => {
    const c = capture()
    const dataDir = tempDir()
    const demo = await startDemo({ dataDir, port: 0, bots: 4, seed: 3 }, c.io)
    demos.push(demo)
    expect(c.out.join('')).toContain(demo.token)
    expect(c.out.join('')).toContain(demo.url)
    const client = new WebSocket(`${demo.url}?token=${demo.token}`)
    const first = await new Promise<Uint8Array>((resolve, reject) => {
      client.once('message', (data: Buffer) => resolve(new Uint8Array(data)))
      client.once('error', reject)
    })
    expect(first[0]).toBe(0)
    client.close()
    // The realmsync client plays too: its intents go through the same engine as the bots'.
    const { createRealmsyncClient } = await import('../../client/index.js')
    type Ctor = Parameters<typeof createRealmsyncClient>[0]['WebSocket']
    const player = createRealmsyncClient({ url: demo.server.gatewayUrl!, token: demo.token, WebSocket: WebSocket as unknown as Ctor, documents: ['world/demo'] })
    expect(await player.send('move', { dx: 1, dy: 1 })).toMatchObject({ type: 'ack', result: { x: 1, y: 1 } })
    expect(await player.send('move', { dx: 100, dy: 0 })).toMatchObject({ type: 'reject', reason: 'cheat-suspected' })
    await player.whenSynced('world/demo')
    expect(openWorldDoc(player.doc('world/demo')).listItems()).toHaveLength(20)
    player.close()
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(demo.engine.stats.accepted).toBeGreaterThan(4)
    const world = openWorldDoc(demo.server.peer.getDoc('world/demo')!)
    expect(world.listItems()).toHaveLength(20)
    expect(world.listEntities().length).toBeGreaterThan(0)
    expect(world.checkSingleHolder()).toEqual([])
    await demo.stop()
    // The session was recorded: the journal holds what the engine accepted.
    const journal = openIntentJournal(dataDir, { create: false })
    expect((await journal.read('world/demo'))?.intents.length).toBe(demo.engine.stats.accepted)
    await journal.close()
  })

  it('runs from the command line for a set time', async () => {
    const c = capture()
    expect(await runCli(['demo', '--data', tempDir(), '--port', '0', '--bots', '2', '--duration', '1'], c.io)).toBe(0)
    expect(c.out.join('')).toMatch(/realmsync demo: stopped after \d+ accepted intents/)
    const bad = capture()
    expect(await runCli(['demo', '--bots', '-1'], bad.io)).not.toBe(0)
  })
})
