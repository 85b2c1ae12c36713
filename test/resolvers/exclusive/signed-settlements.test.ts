import * as Y from 'yjs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRandom, WorldDoc, type Intent, type WorldValue } from '../../../core/index.js'
import { MemoryNetwork } from '../../../transports/index.js'
import { Peer } from '../../../replication/index.js'
import {
  bindDecisions,
  compareClaims,
  DecisionCore,
  dropResolver,
  IntentEngine,
  Membership,
  pickupResolver,
  rendezvousOwner,
  ResolverGate,
  ResolverRegistry,
  SETTLEMENT_DECISION_KIND,
  settlementPreStateCheck,
  CROSS_OWNER_DECISION_KIND,
  settlementRules,
  tradeResolver,
  type GateAnswer,
  type QuarantineRecord,
  type SettlementReport,
} from '../../../resolvers/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { keysOf, registryOf } from '../decisions/fixtures.js'

const PEERS = ['p0', 'p1', 'p2', 'p3', 'p4']
const ITEMS = Array.from({ length: 20 }, (_, i) => `item-${i}`)
const view = { epoch: 1, members: PEERS }
const ownerOf = (item: string): string => rendezvousOwner(`item:${item}`, view)

/** A pickup resolver whose settlement order is tampered: the latest claim of a window is tried first. */
const tamperedPickup = () => ({ ...pickupResolver(), resolve: (claims: Parameters<typeof compareClaims>[0][]) => [...claims].sort(compareClaims).reverse().map((claim) => ({ claim, decision: 'try' as const })) })

const makeCluster = (options: { tampered?: string; decisions?: boolean } = {}) => {
  const network = new MemoryNetwork()
  const clock = new ManualClock()
  const keys = registryOf(PEERS)
  const seedDoc = new Y.Doc()
  const seedWorld = new WorldDoc(seedDoc)
  for (const item of ITEMS) seedWorld.createItem(item, 'sword')
  const initial = Y.encodeStateAsUpdate(seedDoc)
  const reports = new Map<string, SettlementReport[]>()
  const versions = new Map<string, string>()
  const doubleHolds: string[] = []
  const quarantines = new Map<string, QuarantineRecord[]>()
  const nodes = PEERS.map((id, i) => {
    const peer = new Peer({ id, transport: network.endpoint(id), clock, random: createRandom(i + 1), antiEntropyIntervalMs: 100 })
    const doc = peer.openDoc('world/signed', initial)
    const world = new WorldDoc(doc)
    // Every (item, version) any replica ever shows must have one holder cluster-wide.
    doc.on('update', () => {
      for (const item of ITEMS) {
        const key = `${item}@${world.itemVersion(item)}`
        const holder = holders(world, item)
        const seen = versions.get(key)
        if (seen === undefined) versions.set(key, holder)
        else if (seen !== holder) doubleHolds.push(`${key}: ${seen} vs ${holder} on ${id}`)
      }
    })
    const registry = new ResolverRegistry()
      .register(id === options.tampered ? tamperedPickup() : pickupResolver())
      .register(dropResolver())
      .register(tradeResolver())
    const engine = IntentEngine.createUnjournaled({ world, worldName: 'signed', clock, seed: i, handlers: registry.handlers() })
    const core = new DecisionCore({ self: id, privateKey: keysOf(id).privateKey, keys, rules: settlementRules(undefined, { keys }), now: () => clock.now(), checkPreState: settlementPreStateCheck(world) })
    reports.set(id, [])
    quarantines.set(id, [])
    const channel = bindDecisions({ peer, core, clock, onQuarantine: (record) => quarantines.get(id)!.push(record) })
    const gate = new ResolverGate({
      link: peer,
      world,
      engine,
      registry,
      membership: new Membership(view),
      clock,
      ...(options.decisions === false ? {} : { decisions: { channel, core, onSettlement: (report: SettlementReport) => reports.get(id)!.push(report) } }),
    })
    peer.start()
    return { id, peer, world, gate, core, channel }
  })
  network.connectAll()
  const close = () => {
    for (const node of nodes) {
      node.gate.close()
      node.channel.close()
      node.peer.close()
    }
  }
  return { network, clock, nodes, reports, quarantines, doubleHolds, close }
}

const pickup = (player: string, item: string, seq = 1): Intent => ({ action: 'pickup', seq, player, payload: { item } })
const holders = (world: WorldDoc, item: string): string => JSON.stringify(world.getItem(item)!.holder)
const versionOf = (world: WorldDoc, item: string): number => world.itemVersion(item)

describe('signed settlements: the owner signs each window, k peers re-validate it', () => {
  it('confirms honest settlements (contested pickups, a drop, a trade) with k attestations', async () => {
    const { clock, nodes, reports, close } = makeCluster()
    await clock.advance(10)
    const answers: GateAnswer[] = []
    // Every peer races for the same items, within one settlement window.
    for (const item of ITEMS.slice(0, 6)) for (const [i, node] of nodes.entries()) void node.gate.submit(`s${i}`, pickup(`player-${i}`, item, ITEMS.indexOf(item) + 1), (a) => answers.push(a))
    await clock.advance(400)
    expect(answers.filter((a) => a.result.type === 'ack')).toHaveLength(6)
    const all = [...reports.values()].flat()
    expect(all.length).toBeGreaterThanOrEqual(6)
    expect(all.every((r) => r.settlement.status === 'confirmed')).toBe(true)
    // Each contested item's window went out as one decision over all five claims, with their stamps.
    const contested = all.filter((r) => r.claims.length === 5)
    expect(contested.length).toBeGreaterThanOrEqual(1)
    for (const report of contested) if (report.settlement.status === 'confirmed') {
      const claims = (report.settlement.decision.decision.inputs.preState as { claims: Array<{ stamp: unknown }> }).claims
      expect(claims.every((c) => typeof c.stamp === 'object')).toBe(true)
      expect(report.granted).toHaveLength(1)
    }
    for (const report of all) if (report.settlement.status === 'confirmed') {
      expect(report.settlement.attestations).toHaveLength(2)
      for (const node of nodes) expect(node.core.verifyConfirmation(report.settlement.decision, report.settlement.attestations).ok).toBe(true)
    }
    // A drop and a trade are settled and attested too.
    const holder = JSON.parse(holders(nodes[0]!.world, 'item-0')) as { id: string }
    const other = JSON.parse(holders(nodes[0]!.world, 'item-1')) as { id: string }
    const seqs = { drop: 100, trade: 101 }
    const dropAnswer = await settle(clock, nodes[0]!.gate.submit('x', { action: 'drop', seq: seqs.drop, player: holder.id, payload: { item: 'item-0' } }))
    expect(dropAnswer.result.type).toBe('ack')
    const trade = await settle(clock, nodes[1]!.gate.submit('y', { action: 'trade', seq: seqs.trade, player: other.id, payload: { partner: 'zed', give: ['item-1'], take: [] } }))
    expect(trade.result.type).toBe('ack')
    expect(nodes[4]!.world.getItem('item-1')!.holder).toEqual({ type: 'player', id: 'zed' })
    await clock.advance(100)
    const after = [...reports.values()].flat()
    expect(after.every((r) => r.settlement.status === 'confirmed')).toBe(true)
    const stats = nodes.map((n) => n.gate.decisionStats)
    expect(stats.reduce((sum, s) => sum + s.confirmed, 0)).toBe(after.length)
    expect(nodes.every((n) => n.core.quarantine().length === 0)).toBe(true)
    close()
  })

  it('rejects and quarantines an owner whose settlement rule grants a later claim; its items are then refused, and no item has two holders', async () => {
    const tampered = 'p2'
    const { clock, nodes, quarantines, reports, doubleHolds, close } = makeCluster({ tampered })
    await clock.advance(10)
    const owned = ITEMS.filter((item) => ownerOf(item) === tampered)
    expect(owned.length).toBeGreaterThanOrEqual(2)
    const [contested, later] = owned as [string, string]
    const answers = new Map<string, GateAnswer>()
    // alice (on p0) claims first; bob (on p1) 2 ms later, within the window: the tampered owner gives it to bob.
    void nodes[0]!.gate.submit('a', pickup('alice', contested), (a) => answers.set('alice', a))
    await clock.advance(2)
    void nodes[1]!.gate.submit('b', pickup('bob', contested), (a) => answers.set('bob', a))
    await clock.advance(400)
    expect(answers.get('bob')?.result.type).toBe('ack')
    const own = reports.get(tampered)!
    expect(own).toHaveLength(1)
    expect(own[0]!.settlement).toMatchObject({ status: 'rejected', reason: 'revalidation-failed' })
    for (const node of nodes.filter((n) => n.id !== tampered)) {
      expect(node.core.isQuarantined(tampered)).toBe(true)
      const [record] = quarantines.get(node.id)!
      expect(record).toMatchObject({ peer: tampered, reason: 'revalidation-failed' })
      // The evidence names the claims and what the owner granted.
      expect(record!.decision?.decision.outcome).toEqual({ granted: [own[0]!.granted[0]] })
    }
    // Afterwards every other peer refuses the quarantined owner's items, with the reason, and never grants them itself.
    for (const node of nodes.filter((n) => n.id !== tampered)) {
      const refused = await settle(clock, node.gate.submit(`late-${node.id}`, pickup(`carol-${node.id}`, later)))
      expect(refused.result).toMatchObject({ type: 'reject', reason: 'authority-unavailable' })
      expect(refused.result.type === 'reject' && refused.result.message).toMatch(/quarantined \(revalidation-failed/)
      expect(node.gate.stats.refusedQuarantined).toBeGreaterThanOrEqual(1)
    }
    // Items of honest owners are still settled and attested.
    const honestItem = ITEMS.find((item) => ownerOf(item) !== tampered)!
    const ok = await settle(clock, nodes[3]!.gate.submit('d', pickup('dave', honestItem)))
    expect(ok.result.type).toBe('ack')
    await clock.advance(1000)
    for (const item of ITEMS) {
      const seen = new Set(nodes.map((n) => holders(n.world, item)))
      expect(seen.size).toBe(1)
    }
    expect(nodes.every((n) => n.world.getItem(later)!.holder.type === 'none')).toBe(true)
    expect(doubleHolds).toEqual([])
    // Rolled back: the peers that quarantined the owner moved the item to the rightful claimant, one version on, on every replica.
    for (const node of nodes) {
      expect(node.world.getItem(contested)!.holder).toEqual({ type: 'player', id: 'alice' })
      expect(versionOf(node.world, contested)).toBe(2)
    }
    const rollbacks = nodes.filter((n) => n.id !== tampered).flatMap((n) => n.gate.rollbacks())
    expect(rollbacks.length).toBe(4)
    expect(rollbacks.every((r) => r.item === contested && r.decider === tampered && r.applied.version === 1 && r.rightful.id === 'alice')).toBe(true)
    expect(rollbacks.some((r) => r.result === 'repaired')).toBe(true)
    expect(rollbacks.every((r) => r.result === 'repaired' || r.result === 'moved-on')).toBe(true)
    expect(nodes[tampered === 'p2' ? 2 : 0]!.gate.rollbacks()).toEqual([])
    close()
  })

  it('attests every honest settlement of random claim sets over real peers (property)', async () => {
    const claimArb = fc.record({
      node: fc.nat(PEERS.length - 1),
      player: fc.constantFrom('ann', 'bob', 'cat'),
      action: fc.constantFrom('pickup', 'pickup', 'drop', 'trade'),
      item: fc.constantFrom(...ITEMS.slice(0, 4)),
      other: fc.constantFrom(...ITEMS.slice(0, 4)),
      delay: fc.nat(6),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(claimArb, { minLength: 1, maxLength: 14 }), async (claims) => {
        const { clock, nodes, reports, doubleHolds, close } = makeCluster()
        await clock.advance(10)
        for (const [seq, c] of claims.entries()) {
          const payload: WorldValue = c.action === 'trade' ? { partner: c.player === 'ann' ? 'bob' : 'ann', give: [c.item], take: c.other === c.item ? [] : [c.other] } : { item: c.item }
          void nodes[c.node]!.gate.submit(`s-${c.player}`, { action: c.action, seq: seq + 1, player: c.player, payload })
          await clock.advance(c.delay)
        }
        await clock.advance(1_500)
        const all = [...reports.values()].flat()
        expect(all.filter((r) => r.settlement.status !== 'confirmed')).toEqual([])
        expect(nodes.every((n) => n.core.quarantine().length === 0)).toBe(true)
        for (const item of ITEMS) expect(new Set(nodes.map((n) => holders(n.world, item))).size).toBe(1)
        expect(doubleHolds).toEqual([])
        close()
      }),
      { numRuns: 8 },
    )
  })

  it('quarantines an owner that invents a pre-state (an item held) to refuse every claim', async () => {
    const { clock, nodes, quarantines, close } = makeCluster()
    await clock.advance(10)
    const liar = nodes[2]!
    const item = ITEMS.find((i) => ownerOf(i) === liar.id)!
    const claim = { id: 'c1', action: 'pickup', player: 'ann', seq: 1, payload: { item }, stamp: { wallMs: 10, counter: 0, peer: 'p0' } }
    const invented = { items: { [item]: { type: 'player', id: 'mallory', version: 0 } }, claims: [claim] }
    const settlement = await liar.channel.report(SETTLEMENT_DECISION_KIND, pickup('ann', item), invented, { granted: [] })
    expect(settlement).toMatchObject({ status: 'rejected', reason: 'pre-state-mismatch' })
    await clock.advance(50)
    for (const node of nodes.filter((n) => n !== liar)) expect(quarantines.get(node.id)).toMatchObject([{ peer: liar.id, reason: 'pre-state-mismatch' }])
    // The truthful version of the same settlement is attested.
    const honest = await nodes[3]!.channel.report(SETTLEMENT_DECISION_KIND, pickup('ann', item), { ...invented, items: { [item]: { type: 'none', version: 0 } } }, { granted: ['c1'] })
    expect(honest.status).toBe('confirmed')
    close()
  })

  it('signs cross-owner trades: the coordinator reports its commit with every reservation outcome, k peers attest it', async () => {
    const { clock, nodes, reports, doubleHolds, close } = makeCluster()
    await clock.advance(10)
    // Two items of different owners: give each to a trader, then trade them across owners.
    const [mine, theirs] = [ITEMS.find((i) => ownerOf(i) === 'p0')!, ITEMS.find((i) => ownerOf(i) === 'p3')!]
    await settle(clock, nodes[1]!.gate.submit('a', pickup('ann', mine, 1)))
    await settle(clock, nodes[2]!.gate.submit('b', pickup('ben', theirs, 1)))
    const trade = await settle(clock, nodes[1]!.gate.submit('a', { action: 'trade', seq: 2, player: 'ann', payload: { partner: 'ben', give: [mine], take: [theirs] } }))
    expect(trade.result.type).toBe('ack')
    await clock.advance(100)
    const cross = [...reports.values()].flat().filter((r) => r.kind === CROSS_OWNER_DECISION_KIND)
    expect(cross).toHaveLength(1)
    expect(cross[0]!.settlement.status).toBe('confirmed')
    if (cross[0]!.settlement.status === 'confirmed') {
      const { preState, outcome } = { preState: cross[0]!.settlement.decision.decision.inputs.preState, outcome: cross[0]!.settlement.decision.decision.outcome }
      expect(outcome).toEqual({ commit: true })
      // The participant's (p0) yes vote carries its own signature; the coordinator's (p3) is its signed decision.
      expect(preState).toMatchObject({ coordinator: 'p3', votes: { p3: { ok: true }, p0: { ok: true, signature: expect.stringMatching(/^[0-9a-f]{128}$/) } } })
    }
    // A trade back raced by a drop of the other owner's item: that owner refuses its reservation, the coordinator aborts, signed and attested too.
    const participantItem = `item:${mine}` < `item:${theirs}` ? theirs : mine
    const dropper = participantItem === theirs ? 'ann' : 'ben'
    void nodes[4]!.gate.submit('d', { action: 'drop', seq: 1, player: dropper, payload: { item: participantItem } })
    await clock.advance(5)
    const tradeBack = nodes[1]!.gate.submit('a', { action: 'trade', seq: 5, player: 'ann', payload: { partner: 'ben', give: [theirs], take: [mine] } })
    expect((await settle(clock, tradeBack)).result).toMatchObject({ type: 'reject', reason: 'conflict' })
    await clock.advance(100)
    const all = [...reports.values()].flat()
    expect(all.filter((r) => r.settlement.status !== 'confirmed')).toEqual([])
    const commits = all.filter((r) => r.kind === CROSS_OWNER_DECISION_KIND).map((r) => r.settlement.status === 'confirmed' && r.settlement.decision.decision.outcome)
    expect(commits).toEqual([{ commit: true }, { commit: false }])
    expect(doubleHolds).toEqual([])
    close()
  })

  it('quarantines a coordinator that commits over a refused reservation, and rolls its own part back everywhere', async () => {
    const { clock, nodes, quarantines, doubleHolds, close } = makeCluster()
    await clock.advance(10)
    const liar = nodes[0]!
    const [mine, theirs] = [ITEMS.find((i) => ownerOf(i) === 'p0')!, ITEMS.find((i) => ownerOf(i) === 'p3')!]
    await settle(clock, nodes[1]!.gate.submit('a', pickup('ann', mine, 1)))
    await settle(clock, nodes[2]!.gate.submit('b', pickup('ben', theirs, 1)))
    const intent: Intent = { action: 'trade', seq: 9, player: 'ann', payload: { partner: 'ben', give: [mine], take: [theirs] } }
    const preState = {
      coordinator: 'p0',
      parts: { p0: [`item:${mine}`], p3: [`item:${theirs}`] },
      votes: { p0: { ok: true, reason: '' }, p3: { ok: false, reason: 'conflict' } },
      items: { [mine]: { type: 'player', id: 'ann', version: 1 } },
    }
    // The coordinator writes its part although p3 refused, and signs that as a commit.
    liar.world.moveItem(mine, { type: 'player', id: 'ben' }, { type: 'player', id: 'ann' })
    const settlement = await liar.channel.report(CROSS_OWNER_DECISION_KIND, intent, preState, { commit: true })
    expect(settlement).toMatchObject({ status: 'rejected', reason: 'revalidation-failed' })
    await clock.advance(500)
    for (const node of nodes.filter((n) => n !== liar)) expect(quarantines.get(node.id)).toMatchObject([{ peer: 'p0', reason: 'revalidation-failed' }])
    for (const node of nodes) {
      expect(node.world.getItem(mine)!.holder).toEqual({ type: 'player', id: 'ann' })
      expect(versionOf(node.world, mine)).toBe(3)
      expect(node.world.getItem(theirs)!.holder).toEqual({ type: 'player', id: 'ben' })
    }
    const rollbacks = nodes.flatMap((n) => n.gate.rollbacks())
    expect(rollbacks.length).toBe(4)
    expect(rollbacks.every((r) => r.item === mine && r.applied.version === 2)).toBe(true)
    expect(doubleHolds).toEqual([])
    close()
  })

  it('leaves the default gate unsigned', async () => {
    const { clock, nodes, reports, close } = makeCluster({ decisions: false })
    await clock.advance(10)
    const answer = await settle(clock, nodes[0]!.gate.submit('a', pickup('alice', 'item-3')))
    expect(answer.result.type).toBe('ack')
    expect([...reports.values()].flat()).toHaveLength(0)
    expect(nodes.every((n) => n.gate.decisionStats.reported === 0)).toBe(true)
    close()
  })

  it('quarantines a coordinator that replays a participant vote signed for another claim, and rolls its part back', async () => {
    const { clock, nodes, reports, quarantines, doubleHolds, close } = makeCluster()
    await clock.advance(10)
    const [mine, theirs] = [ITEMS.find((i) => ownerOf(i) === 'p0')!, ITEMS.find((i) => ownerOf(i) === 'p3')!]
    await settle(clock, nodes[1]!.gate.submit('a', pickup('ann', mine, 1)))
    await settle(clock, nodes[2]!.gate.submit('b', pickup('ben', theirs, 1)))
    expect((await settle(clock, nodes[1]!.gate.submit('a', { action: 'trade', seq: 2, player: 'ann', payload: { partner: 'ben', give: [mine], take: [theirs] } }))).result.type).toBe('ack')
    await clock.advance(100)
    const honest = [...reports.values()].flat().find((r) => r.kind === CROSS_OWNER_DECISION_KIND)!
    expect(honest.settlement.status).toBe('confirmed')
    const honestPre = (honest.settlement.status === 'confirmed' ? honest.settlement.decision.decision.inputs.preState : null) as { coordinator: string; votes: Record<string, { signature?: string }> }
    const coordinator = honestPre.coordinator
    const participant = coordinator === 'p0' ? 'p3' : 'p0'
    const liar = nodes.find((n) => n.id === coordinator)!
    // After the trade ben holds `mine` and ann holds `theirs`.
    const [own, other] = coordinator === 'p0' ? [mine, theirs] : [theirs, mine]
    const giver = own === mine ? 'ben' : 'ann'
    const taker = giver === 'ben' ? 'ann' : 'ben'
    // The coordinator trades its item back without asking the participant: it reuses the participant's signed yes from the first trade.
    const intent: Intent = { action: 'trade', seq: 7, player: giver, payload: { partner: taker, give: [own], take: [other] } }
    const version = versionOf(liar.world, own)
    const preState: WorldValue = {
      claim: JSON.stringify(['p1', 'z', 7]),
      coordinator,
      parts: { [coordinator]: [`item:${own}`], [participant]: [`item:${other}`] },
      votes: { [coordinator]: { ok: true, reason: '' } as WorldValue, [participant]: { ok: true, reason: '', signature: honestPre.votes[participant]!.signature! } },
      items: { [own]: { type: 'player', id: giver, version } },
    }
    liar.world.moveItem(own, { type: 'player', id: taker }, { type: 'player', id: giver })
    const settlement = await liar.channel.report(CROSS_OWNER_DECISION_KIND, intent, preState, { commit: true })
    expect(settlement).toMatchObject({ status: 'rejected', reason: 'revalidation-failed' })
    await clock.advance(500)
    for (const node of nodes.filter((n) => n !== liar)) {
      expect(quarantines.get(node.id)).toMatchObject([{ peer: coordinator, reason: 'revalidation-failed', detail: expect.stringMatching(new RegExp(`forged-vote.*${participant}`)) }])
    }
    // The forged yes counts as no vote at all: the rightful decision was abort, so the item goes back to its giver everywhere.
    for (const node of nodes) {
      expect(node.world.getItem(own)!.holder).toEqual({ type: 'player', id: giver })
      expect(versionOf(node.world, own)).toBe(version + 2)
    }
    expect(doubleHolds).toEqual([])
    close()
  })
})

const settle = async (clock: ManualClock, answer: Promise<GateAnswer>): Promise<GateAnswer> => {
  await clock.advance(400)
  return answer
}
