import { describe, expect, it } from 'vitest'
import { createRandom } from '../../core/index.js'
import { latencyMatrixFromRegions, regionOf, SimNetwork, SimScheduler, uniformLatencyMatrix, type LinkFaults } from '../../sim/index.js'

const quiet: LinkFaults = { jitterMs: 0, loss: 0, duplicate: 0, reorder: false }

const setup = (faults: Partial<LinkFaults> = {}, peers = 3, seed = 1) => {
  const scheduler = new SimScheduler()
  const network = new SimNetwork(scheduler, createRandom(seed), uniformLatencyMatrix(peers, 10), { ...quiet, ...faults })
  const log: string[] = []
  const transports = Array.from({ length: peers }, (_, i) => {
    const t = network.endpoint(`n${i}`, i)
    t.listen({
      onFrame: (from, frame) => log.push(`${scheduler.now()}:${from}->n${i}:${frame[0]}`),
      onConnect: (peer) => log.push(`up:n${i}-${peer}`),
      onDisconnect: (peer) => log.push(`down:n${i}-${peer}`),
    })
    return t
  })
  return { scheduler, network, transports, log }
}

describe('SimNetwork', () => {
  it('delivers after the base latency, in FIFO order per link, with connect events', () => {
    const { scheduler, network, transports, log } = setup()
    network.connectAll()
    scheduler.runUntil(0)
    expect(log.filter((l) => l.startsWith('up:'))).toHaveLength(6)
    expect(transports[0]!.connectedPeers()).toEqual(['n1', 'n2'])
    transports[0]!.send('n1', new Uint8Array([1]))
    transports[0]!.send('n1', new Uint8Array([2]))
    scheduler.runUntil(100)
    expect(log.filter((l) => l.includes('->'))).toEqual(['10:n0->n1:1', '10:n0->n1:2'])
    expect(network.stats.framesDelivered).toBe(2)
  })

  it('refuses sends on links that are down and loses frames in flight on disconnect', () => {
    const { scheduler, network, transports, log } = setup()
    expect(transports[0]!.send('n1', new Uint8Array([1]))).toBe(false)
    network.connect('n0', 'n1')
    scheduler.runUntil(0)
    transports[0]!.send('n1', new Uint8Array([1]))
    transports[0]!.disconnect('n1')
    scheduler.runUntil(50)
    expect(log.filter((l) => l.includes('->'))).toEqual([])
    expect(log).toContain('down:n1-n0')
  })

  it('never delivers a frame from an earlier incarnation of a link after a reconnect', () => {
    const { scheduler, network, transports, log } = setup()
    network.connect('n0', 'n1')
    scheduler.runUntil(0)
    transports[0]!.send('n1', new Uint8Array([1]))
    network.disconnect('n0', 'n1')
    network.connect('n0', 'n1')
    scheduler.runUntil(50)
    expect(log.filter((l) => l.includes('->'))).toEqual([])
    expect(log.filter((l) => l.startsWith('up:'))).toHaveLength(4)
  })

  it('loses and duplicates frames at the configured rates', () => {
    const { scheduler, network, transports } = setup({ loss: 0.3, duplicate: 0.2 })
    network.connectAll()
    scheduler.runUntil(0)
    for (let i = 0; i < 2000; i++) transports[0]!.send('n1', new Uint8Array([i & 255]))
    scheduler.runUntil(1000)
    expect(network.stats.framesLost / 2000).toBeGreaterThan(0.25)
    expect(network.stats.framesLost / 2000).toBeLessThan(0.35)
    expect(network.stats.framesDuplicated).toBeGreaterThan(200)
    expect(network.stats.framesDelivered).toBe(2000 - network.stats.framesLost + network.stats.framesDuplicated)
  })

  it('keeps FIFO under jitter unless reordering is enabled', () => {
    const order = (reorder: boolean) => {
      const { scheduler, network, transports, log } = setup({ jitterMs: 50, reorder })
      network.connectAll()
      scheduler.runUntil(0)
      for (let i = 0; i < 50; i++) transports[0]!.send('n1', new Uint8Array([i]))
      scheduler.runUntil(1000)
      return log.filter((l) => l.includes('->')).map((l) => Number(l.split(':').pop()))
    }
    const fifo = order(false)
    expect(fifo).toEqual([...fifo].sort((a, b) => a - b))
    const shuffled = order(true)
    expect(shuffled).not.toEqual([...shuffled].sort((a, b) => a - b))
  })

  it('partitions into groups, heals, crashes and spikes', () => {
    const { scheduler, network, transports, log } = setup()
    network.connectAll()
    scheduler.runUntil(0)
    network.partition([['n0'], ['n1', 'n2']])
    scheduler.runUntil(1)
    expect(transports[0]!.connectedPeers()).toEqual([])
    expect(transports[1]!.connectedPeers()).toEqual(['n2'])
    network.connect('n0', 'n1')
    expect(network.isConnected('n0', 'n1')).toBe(false)
    network.heal()
    scheduler.runUntil(2)
    expect(transports[0]!.connectedPeers()).toEqual(['n1', 'n2'])
    network.spike('n0', undefined, 100, 500)
    transports[0]!.send('n2', new Uint8Array([7]))
    transports[1]!.send('n2', new Uint8Array([8]))
    scheduler.runUntil(400)
    expect(log).toContain('12:n1->n2:8')
    expect(log).toContain('112:n0->n2:7')
    network.crash('n2')
    scheduler.runUntil(401)
    expect(transports[2]!.send('n0', new Uint8Array([1]))).toBe(false)
    expect(transports[2]!.connectedPeers()).toEqual([])
    expect(() => network.endpoint('n1', 1)).toThrow(/already up/)
    const again = network.endpoint('n2', 2)
    network.connectAll()
    scheduler.runUntil(402)
    expect(again.connectedPeers()).toEqual(['n0', 'n1'])
    again.close()
    expect(again.connectedPeers()).toEqual([])
  })

  it('hashes every delivery: same traffic same hash, different traffic different hash', () => {
    const run = (byte: number) => {
      const { scheduler, network, transports } = setup()
      network.connectAll()
      scheduler.runUntil(0)
      transports[0]!.send('n1', new Uint8Array([byte]))
      scheduler.runUntil(100)
      return network.traceHash()
    }
    expect(run(1)).toBe(run(1))
    expect(run(1)).not.toBe(run(2))
  })
})

describe('latency matrices', () => {
  it('builds symmetric region matrices with faster links inside a region', () => {
    const m = latencyMatrixFromRegions(6, { regions: 3, intraMs: [1, 2], interMs: [50, 60] }, createRandom(3))
    for (let a = 0; a < 6; a++) {
      expect(m[a]![a]).toBe(0)
      for (let b = 0; b < 6; b++) expect(m[a]![b]).toBe(m[b]![a])
    }
    expect(regionOf(3, 3)).toBe(0)
    expect(m[0]![3]).toBeLessThanOrEqual(2)
    expect(m[0]![1]).toBeGreaterThanOrEqual(50)
  })
})
