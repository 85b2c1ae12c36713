// The resolution bench's floor is only a floor if it does the pattern's work for real: claims reach
// the owner, one claimant wins, both hear back, every process sees the same holder, and a claim
// that arrives after its item was settled changes nothing.
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../../bench/free-port.js'
import { startFloorResolutionNode } from '../../bench/resolution-floor.js'
import type { ResolutionNode } from '../../bench/resolution-protocol.js'

const nodes: ResolutionNode[] = []
const seen: Array<Map<string, string>> = []
afterAll(async () => {
  for (const node of nodes) await node.close()
})

const waitFor = async (condition: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const claim = (node: ResolutionNode, item: string, player: string, owner: number): Promise<boolean> => new Promise((resolve) => node.claim(item, player, owner, resolve))

describe('resolution floor', () => {
  it('connects three processes into a mesh', async () => {
    const ports = await Promise.all([0, 1, 2].map(() => freePort()))
    const bootstrap = ports.map((port) => `/ip4/127.0.0.1/tcp/${port}`)
    for (const [index, listen] of bootstrap.entries()) {
      const holders = new Map<string, string>()
      seen.push(holders)
      nodes.push(await startFloorResolutionNode({ index, listen, bootstrap, dataDir: '', secret: '', items: 2, system: 'floor' }, (item, holder) => holders.set(item, holder)))
    }
    await waitFor(() => nodes.every((node) => node.connectedPeers() === 2), 'the mesh')
    for (const node of nodes) node.setup(nodes.map((each) => each.id), 1)
    expect(nodes.map((node) => node.id)).toEqual(['floor-0', 'floor-1', 'floor-2'])
  })

  it('grants a contested item to one claimant, answers both and shows the winner everywhere', async () => {
    // Owner 2 is neither claimant: claims and answers all cross the mesh.
    const [a, b] = await Promise.all([claim(nodes[0]!, 'item-0', 'player-a', 2), claim(nodes[1]!, 'item-0', 'player-b', 2)])
    expect([a, b].filter(Boolean)).toHaveLength(1)
    const winner = a ? 'player-a' : 'player-b'
    await waitFor(() => seen.every((holders) => holders.get('item-0') === winner), 'the outcome everywhere')
  })

  it('refuses a claim on an item already settled and leaves its holder', async () => {
    const holder = seen[2]!.get('item-0')
    expect(await claim(nodes[0]!, 'item-0', 'player-late', 2)).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(seen.map((holders) => holders.get('item-0'))).toEqual([holder, holder, holder])
  })

  it('settles at an owner that is one of the claimants', async () => {
    const [a, b] = await Promise.all([claim(nodes[0]!, 'item-1', 'player-c', 0), claim(nodes[1]!, 'item-1', 'player-d', 0)])
    expect([a, b].filter(Boolean)).toHaveLength(1)
    await waitFor(() => seen.every((holders) => holders.get('item-1') === (a ? 'player-c' : 'player-d')), 'the outcome everywhere')
    expect(nodes[0]!.stats()['claimsSettled']).toBe(2)
  })

  it('takes only a fixed settlement window and claims with an owner', () => {
    expect(() => nodes[0]!.setup([], 'auto')).toThrow(RangeError)
    expect(() => nodes[0]!.claim('item-1', 'player-e', undefined, () => {})).toThrow(RangeError)
  })
})
