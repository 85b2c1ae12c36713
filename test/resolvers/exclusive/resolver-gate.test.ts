import { describe, expect, it } from 'vitest'
import { createResolverCluster } from '../../../sim/programs/resolver-cluster.js'
import type { GateAnswer } from '../../../resolvers/index.js'

const seedItems = (count: number) => (world: import('../../../core/index.js').WorldDoc) => {
  for (let i = 0; i < count; i++) world.createItem(`item-${i}`, 'sword')
}

describe('ResolverGate over simulated peers', () => {
  it('gives a contested item to exactly one of two players on different peers, and every replica agrees', () => {
    const cluster = createResolverCluster({ seed: 1, peers: 3, seedWorld: seedItems(1) })
    cluster.scheduler.runUntil(50)
    const answers: GateAnswer[] = []
    void cluster.nodes[0]!.gate.submit('s0', { action: 'pickup', seq: 1, player: 'alice', payload: { item: 'item-0' } }, (a) => answers.push(a))
    void cluster.nodes[1]!.gate.submit('s1', { action: 'pickup', seq: 1, player: 'bob', payload: { item: 'item-0' } }, (a) => answers.push(a))
    cluster.scheduler.runUntil(500)
    {
      expect(answers).toHaveLength(2)
      const acks = answers.filter((a) => a.result.type === 'ack')
      expect(acks).toHaveLength(1)
      const loser = answers.find((a) => a.result.type === 'reject')!
      expect(loser.result.type === 'reject' && loser.result.reason).toBe('conflict')
      const holders = cluster.nodes.map((n) => n.world.getItem('item-0')!.holder)
      expect(new Set(holders.map((h) => JSON.stringify(h))).size).toBe(1)
      expect(holders[0]!.type).toBe('player')
      cluster.close()
    }
  })
})
