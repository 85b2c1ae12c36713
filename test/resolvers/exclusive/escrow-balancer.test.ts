import { describe, expect, it } from 'vitest'
import { FrameDecodeError } from '../../../core/index.js'
import { ESCROW_CHANNEL, EscrowBalancer, createEscrow, decodeShareRequest, encodeShareRequest, escrowAvailable, escrowTotals, spendEscrow } from '../../../resolvers/index.js'
import { createResolverCluster } from '../../../sim/programs/resolver-cluster.js'

describe('EscrowBalancer', () => {
  it('moves share from the richest peer to one running short, through the world document', () => {
    const cluster = createResolverCluster({ seed: 9, peers: 3, seedWorld: (world) => createEscrow(world, 'potions', { 'peer-0': 1, 'peer-1': 10, 'peer-2': 4 }) })
    const { nodes, scheduler } = cluster
    const balancers = nodes.map((node) => new EscrowBalancer(node.peer, node.world))
    scheduler.runUntil(50)
    expect(spendEscrow(nodes[0]!.world, 'potions', 'peer-0', 1)).toBe(true)
    expect(balancers[0]!.request('potions', 2)).toBe(true)
    scheduler.runUntil(500)
    expect(balancers[1]!.stats).toMatchObject({ requestsAnswered: 1, unitsGranted: 5 })
    for (const node of nodes) {
      expect(escrowAvailable(node.world, 'potions', 'peer-0')).toBe(5)
      expect(escrowTotals(node.world, 'potions')).toMatchObject({ stock: 15, spent: 1 })
    }
    expect(balancers[0]!.request('nothing', 1)).toBe(false)
    cluster.network.partition([['peer-0'], ['peer-1', 'peer-2']])
    scheduler.runUntil(600)
    expect(balancers[0]!.request('potions', 2)).toBe(false)
    nodes[1]!.peer.sendChannel('peer-2', ESCROW_CHANNEL, encodeShareRequest({ stock: 'unknown', amount: 1 }))
    nodes[1]!.peer.sendChannel('peer-2', ESCROW_CHANNEL, Uint8Array.from([1]))
    scheduler.runUntil(700)
    expect(balancers[2]!.stats.requestsAnswered).toBe(0)
    expect(nodes[2]!.peer.stats().malformedFrames).toBe(1)
    for (const balancer of balancers) balancer.close()
    cluster.close()
  })

  it('decodes share requests strictly', () => {
    expect(decodeShareRequest(encodeShareRequest({ stock: 's', amount: 3 }))).toEqual({ stock: 's', amount: 3 })
    expect(() => decodeShareRequest(Uint8Array.from([2]))).toThrow(FrameDecodeError)
    expect(() => decodeShareRequest(Uint8Array.from([1, 0, 1]))).toThrow(/no stock/)
    expect(() => decodeShareRequest(Uint8Array.from([...encodeShareRequest({ stock: 's', amount: 3 }), 9]))).toThrow(/trailing/)
  })
})
