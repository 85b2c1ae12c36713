import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { contentJson, createRandom } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { SpectatorHub, SpectatorRequestError, SpectatorSettingsError, type SharedSpectatorView } from '../../spectator/index.js'
import { ManualClock } from '../helpers/manual-clock.js'

// The hub on a real peer (epochs on) and a manual clock: no sockets, time only when the test says.

const open: Array<{ close(): void }> = []
afterEach(() => {
  for (const thing of open.splice(0)) thing.close()
})

const setup = (hubOptions: Partial<ConstructorParameters<typeof SpectatorHub>[0]> = {}) => {
  const clock = new ManualClock()
  const network = new MemoryNetwork()
  const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock, random: createRandom(3), epochs: { checkIntervalMs: 1_000_000 } })
  peer.start()
  const doc = peer.openDoc('world/1')
  const hub = new SpectatorHub({ peer, clock, minDelayMs: 500, tickMs: 100, lingerMs: 1000, ...hubOptions })
  open.push(hub, peer)
  return { clock, peer, doc, hub, current: () => peer.getDoc('world/1') as Y.Doc }
}

describe('SpectatorHub', () => {
  it('a new view shows nothing younger than its delay: the source as it was at the join, once that is old enough', async () => {
    const { clock, doc, hub, current } = setup()
    doc.getMap('hp').set('e1', 1)
    await clock.advance(1000)
    const lease = hub.join('world/1', 500)
    const projection = lease.shared.view.projection
    await clock.advance(400)
    expect(contentJson(projection)).toEqual({})
    current().getMap('hp').set('e1', 2)
    await clock.advance(100)
    expect(contentJson(projection)).toEqual({ hp: { e1: 1 } })
    await clock.advance(400)
    expect(contentJson(projection)).toEqual({ hp: { e1: 2 } })
    expect(hub.stats()).toMatchObject({ views: 1, spectators: 1, queueDepth: 0 })
  })

  it('follows the peer across epoch cuts: markers in the queue, content unchanged, no rebuild', async () => {
    const { clock, peer, hub, current } = setup()
    const lease = hub.join('world/1', 500)
    const rebuilt: SharedSpectatorView[] = []
    hub.onRebuild((shared) => rebuilt.push(shared))
    for (let round = 0; round < 30; round++) {
      current().getMap('hp').set(`e${round % 4}`, round)
      if (round % 10 === 9) expect(peer.cutEpoch('world/1')).toBe(true)
      await clock.advance(50)
    }
    expect(peer.epochOf('world/1')?.n).toBe(3)
    await clock.advance(600)
    expect(contentJson(lease.shared.view.projection)).toEqual(contentJson(current()))
    expect(hub.stats().sourceEpochs).toBe(3)
    expect(rebuilt).toEqual([])
    expect(lease.shared.view.stats().sourceEpochs).toBe(3)
  })

  it('views of one document tick together: one queue entry per tick each, whatever the update rate', async () => {
    const { clock, hub, current } = setup()
    const short = hub.join('world/1', 1000).shared.view
    const long = hub.join('world/1', 2000).shared.view
    for (let tick = 0; tick < 5; tick++) {
      for (let i = 0; i < 40; i++) current().getMap('hp').set(`e${i % 7}`, tick * 100 + i)
      await clock.advance(100)
    }
    expect(short.stats().queueDepth).toBe(5)
    expect(long.stats().queueDepth).toBe(5)
    expect(hub.stats().queueDepth).toBe(10)
    await clock.advance(2000)
    expect(contentJson(short.projection)).toEqual(contentJson(current()))
    expect(contentJson(long.projection)).toEqual(contentJson(current()))
  })

  it('shares a view per document, delay and filter; closes it lingerMs after its last spectator leaves', async () => {
    const { clock, hub } = setup({ filters: { a: {}, b: { roots: ['hp'] } }, defaultFilter: 'a' })
    const closed: string[] = []
    hub.onViewClosed((shared) => closed.push(shared.key))
    const one = hub.join('world/1', 500)
    const two = hub.join('world/1', 500, 'a')
    const other = hub.join('world/1', 600, 'a')
    const filteredOne = hub.join('world/1', 500, 'b')
    expect(two.shared).toBe(one.shared)
    expect(other.shared).not.toBe(one.shared)
    expect(filteredOne.shared).not.toBe(one.shared)
    expect(hub.stats()).toMatchObject({ views: 3, spectators: 4 })
    one.release()
    one.release()
    two.release()
    await clock.advance(900)
    // Back within the linger: the same view, its delayed history intact.
    const again = hub.join('world/1', 500)
    expect(again.shared).toBe(one.shared)
    again.release()
    await clock.advance(1000)
    expect(closed).toEqual(['world/1\n500\na'])
    expect(hub.stats().views).toBe(2)
    hub.close()
    expect(hub.stats().views).toBe(0)
    expect(() => hub.join('world/1', 500)).toThrow(SpectatorRequestError)
  })

  it('refuses requests out of range and settings that make no sense', () => {
    const { hub, peer, clock } = setup({ maxDelayMs: 5000, filters: { shown: {} } })
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn()
      } catch (error) {
        return error instanceof SpectatorRequestError ? error.code : 'other'
      }
      return undefined
    }
    expect(codeOf(() => hub.join('world/1', 499, 'shown'))).toBe('spectator-delay')
    expect(codeOf(() => hub.join('world/1', 5001, 'shown'))).toBe('spectator-delay')
    expect(codeOf(() => hub.join('world/1', 500.5, 'shown'))).toBe('spectator-delay')
    expect(codeOf(() => hub.join('world/1', 500))).toBe('spectator-filter')
    expect(codeOf(() => hub.join('world/1', 500, 'toString'))).toBe('spectator-filter')
    expect(codeOf(() => hub.join('world/2', 500, 'shown'))).toBe('spectator-document')
    expect(codeOf(() => hub.join('world/1', 500, 'shown'))).toBeUndefined()
    expect(() => new SpectatorHub({ peer, clock, minDelayMs: 10, maxDelayMs: 5 })).toThrow(SpectatorSettingsError)
    expect(() => new SpectatorHub({ peer, clock, tickMs: 0 })).toThrow(SpectatorSettingsError)
    expect(() => new SpectatorHub({ peer, clock, rebuildRatio: 0.5 })).toThrow(SpectatorSettingsError)
    expect(() => new SpectatorHub({ peer, clock, filters: {}, defaultFilter: 'missing' })).toThrow(SpectatorSettingsError)
    expect(() => new SpectatorHub({ peer, clock, filters: {}, defaultFilter: 'toString' })).toThrow(SpectatorSettingsError)
    // Without filters everyone sees everything, and naming one is an error.
    const open = new SpectatorHub({ peer, clock })
    expect(open.join('world/1').shared.filterName).toBe('')
    expect(() => open.join('world/1', 2000, 'x')).toThrow(SpectatorRequestError)
    open.close()
  })
})
