import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { WorldDoc, type IntentJournal, type WorldDoc as World } from '../../../core/index.js'
import { CLAIMS_CHANNEL, IntentEngine, Membership, ResolverGate, ResolverRegistry, pickupResolver, rendezvousOwner, setCounterBase, counterValue, type GateAnswer } from '../../../resolvers/index.js'
import { createResolverCluster } from '../../../sim/programs/resolver-cluster.js'
import { ManualClock, flushMicrotasks } from '../../helpers/manual-clock.js'

const seedItems = (count: number) => (world: World) => {
  for (let i = 0; i < count; i++) world.createItem(`item-${i}`, 'sword')
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `peer-${i}`)
const ownerOf = (resource: string, peers = 3) => rendezvousOwner(resource, { epoch: 1, members: ids(peers) })

describe('ResolverGate over simulated peers', () => {
  it('gives a contested item to exactly one of two players on different peers, and every replica agrees', () => {
    const cluster = createResolverCluster({ seed: 1, peers: 3, seedWorld: seedItems(1) })
    cluster.scheduler.runUntil(50)
    const answers: GateAnswer[] = []
    void cluster.nodes[0]!.gate.submit('s0', { action: 'pickup', seq: 1, player: 'alice', payload: { item: 'item-0' } }, (a) => answers.push(a))
    void cluster.nodes[1]!.gate.submit('s1', { action: 'pickup', seq: 1, player: 'bob', payload: { item: 'item-0' } }, (a) => answers.push(a))
    cluster.scheduler.runUntil(500)
    expect(answers.filter((a) => a.result.type === 'ack')).toHaveLength(1)
    const loser = answers.find((a) => a.result.type === 'reject')!
    expect(loser.result).toMatchObject({ reason: 'conflict' })
    expect(loser.state).toMatchObject({ item: 'item-0', exists: true, version: 1 })
    const holders = cluster.nodes.map((n) => JSON.stringify(n.world.getItem('item-0')!.holder))
    expect(new Set(holders).size).toBe(1)
    cluster.close()
  })

  it('refuses exclusive claims across a partition with authority-unavailable, keeps commutative ones available', async () => {
    const cluster = createResolverCluster({ seed: 2, peers: 3, seedWorld: (world) => {
      seedItems(12)(world)
      world.createEntity('orc', 'monster')
      setCounterBase(world, 'orc', 'hp', 100)
    } })
    const { nodes, scheduler, network } = cluster
    scheduler.runUntil(50)
    network.partition([['peer-0'], ['peer-1', 'peer-2']])
    scheduler.runUntil(100)
    const remote = Array.from({ length: 12 }, (_, i) => `item-${i}`).find((item) => ownerOf(`item:${item}`) !== 'peer-0')!
    const local = Array.from({ length: 12 }, (_, i) => `item-${i}`).find((item) => ownerOf(`item:${item}`) === 'peer-0')!
    const refused = await nodes[0]!.gate.submit('s', { action: 'pickup', seq: 1, player: 'alice', payload: { item: remote } })
    expect(refused.result).toMatchObject({ reason: 'authority-unavailable' })
    const granted: GateAnswer[] = []
    void nodes[0]!.gate.submit('s', { action: 'pickup', seq: 2, player: 'alice', payload: { item: local } }, (a) => granted.push(a))
    scheduler.runUntil(200)
    expect(granted[0]?.result.type).toBe('ack')
    const hit = await nodes[0]!.gate.submit('s', { action: 'damage', seq: 3, player: 'alice', payload: { target: 'orc', amount: 10 } })
    expect(hit.result).toMatchObject({ type: 'ack', result: 90 })
    void nodes[1]!.gate.submit('t', { action: 'damage', seq: 1, player: 'bob', payload: { target: 'orc', amount: 5 } })
    network.heal()
    scheduler.runUntil(2000)
    for (const node of nodes) expect(counterValue(node.world, 'orc', 'hp')).toBe(85)
    for (const node of nodes) expect(node.world.getItem(local)!.holder).toEqual({ type: 'player', id: 'alice' })
    cluster.close()
  })

  it('answers a resent intent with its first answer, and refuses a stale prediction early with the current state', () => {
    const cluster = createResolverCluster({ seed: 3, peers: 3, seedWorld: seedItems(1) })
    const { nodes, scheduler } = cluster
    scheduler.runUntil(50)
    const heard: GateAnswer[] = []
    const intent = { action: 'pickup', seq: 1, player: 'alice', payload: { item: 'item-0' } }
    const first = nodes[2]!.gate.submit('s', intent, (a) => heard.push(a))
    expect(nodes[2]!.gate.submit('s', intent, (a) => heard.push(a))).toBe(first)
    scheduler.runUntil(300)
    expect(heard).toHaveLength(2)
    expect(heard[0]).toEqual(heard[1])
    nodes[2]!.gate.submit('s', intent, (a) => heard.push(a))
    expect(heard[2]).toEqual(heard[0])
    expect(nodes[2]!.gate.pendingClaims()).toEqual([])
    nodes[1]!.gate.submit('s', { action: 'drop', seq: 1, player: 'alice', payload: { item: 'item-0' }, predictedVersion: 0 }, (a) => heard.push(a))
    expect(heard[3]).toMatchObject({ result: { reason: 'stale-version' }, state: { version: 1, holder: { type: 'player', id: 'alice' } } })
    cluster.close()
  })

  it('swaps items owned by different peers atomically (two-phase commit)', () => {
    const cluster = createResolverCluster({ seed: 4, peers: 3, seedWorld: (world) => {
      for (let i = 0; i < 10; i++) world.createItem(`gem-${i}`, 'gem', { type: 'player', id: i % 2 === 0 ? 'alice' : 'bob' })
    } })
    const { nodes, scheduler } = cluster
    scheduler.runUntil(50)
    const give = ['gem-0', 'gem-2', 'gem-4', 'gem-6', 'gem-8'].find((g) => ownerOf(`item:${g}`) !== ownerOf('item:gem-1'))!
    const answers: GateAnswer[] = []
    nodes[0]!.gate.submit('s', { action: 'trade', seq: 1, player: 'alice', payload: { partner: 'bob', give: [give], take: ['gem-1'] } }, (a) => answers.push(a))
    scheduler.runUntil(200)
    expect(nodes.reduce((sum, node) => sum + node.gate.stats.crossOwnerCommits, 0)).toBe(1)
    scheduler.runUntil(1000)
    expect(answers[0]?.result.type).toBe('ack')
    for (const node of nodes) {
      expect(node.world.getItem(give)!.holder).toEqual({ type: 'player', id: 'bob' })
      expect(node.world.getItem('gem-1')!.holder).toEqual({ type: 'player', id: 'alice' })
      expect(node.gate.reservations().size).toBe(0)
    }
    cluster.close()
  })

  it('drops malformed claim frames without crashing, and close() refuses what is still waiting', () => {
    const cluster = createResolverCluster({ seed: 5, peers: 2, seedWorld: seedItems(4) })
    const { nodes, scheduler } = cluster
    scheduler.runUntil(50)
    nodes[0]!.peer.sendChannel('peer-1', CLAIMS_CHANNEL, Uint8Array.from([1, 77]))
    scheduler.runUntil(100)
    expect(nodes[1]!.peer.stats().malformedFrames).toBe(1)
    const item = ['item-0', 'item-1', 'item-2', 'item-3'].find((i) => ownerOf(`item:${i}`, 2) === 'peer-1')!
    const heard: GateAnswer[] = []
    nodes[0]!.gate.submit('s', { action: 'pickup', seq: 1, player: 'alice', payload: { item } }, (a) => heard.push(a))
    expect(nodes[0]!.gate.pendingClaims()).toHaveLength(1)
    nodes[0]!.gate.close()
    nodes[0]!.gate.close()
    expect(heard[0]?.result).toMatchObject({ reason: 'authority-unavailable' })
    cluster.close()
  })
})

describe('ResolverGate with a journal', () => {
  it('acknowledges a settled claim only after the owner journaled it', async () => {
    const clock = new ManualClock()
    const world = new WorldDoc(new Y.Doc())
    world.createItem('sword', 'weapon')
    const appended: string[] = []
    let release: () => void = () => undefined
    const journal: IntentJournal = {
      begin: async () => undefined,
      append: (_world, entry) => {
        appended.push(entry.session)
        return new Promise<void>((resolve) => (release = resolve))
      },
      read: async () => undefined,
    }
    const registry = new ResolverRegistry().register(pickupResolver())
    const engine = await IntentEngine.start({ world, worldName: 'w', clock, seed: 1, handlers: registry.handlers(), journal })
    const link = { id: 'solo', onChannel: () => () => undefined, sendChannel: () => true, connectedPeers: () => [] }
    const gate = new ResolverGate({ link, world, engine, registry, membership: new Membership({ epoch: 1, members: ['solo'] }), clock, settlement: { windowMs: 5 } })
    let answer: GateAnswer | undefined
    void gate.submit('s', { action: 'pickup', seq: 1, player: 'alice', payload: { item: 'sword' } }, (a) => (answer = a))
    await clock.advance(5)
    // Applied and being journaled, not yet durable: no answer.
    expect(appended).toHaveLength(1)
    expect(world.getItem('sword')!.holder).toEqual({ type: 'player', id: 'alice' })
    expect(answer).toBeUndefined()
    release()
    await flushMicrotasks()
    expect(answer?.result.type).toBe('ack')
    const commutative = await gate.submit('s', { action: 'unknown', seq: 2, player: 'alice', payload: null })
    expect(commutative.result).toMatchObject({ reason: 'unknown-action' })
    gate.close()
  })
})
