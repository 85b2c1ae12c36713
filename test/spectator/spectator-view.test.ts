import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { canonicalJson, contentJson, rebuildContent } from '../../core/index.js'
import { DelayQueue, filterContent, SpectatorSettingsError, SpectatorView, type SpectatorFilter } from '../../spectator/index.js'

// The sans-IO view on its own: updates and times by hand, no clock, no sockets.

/** A source document whose every update is handed to `view` stamped with the current test time. */
const sourceFor = (view: SpectatorView, time: { now: number }): Y.Doc => {
  const doc = new Y.Doc()
  doc.on('update', (update: Uint8Array) => view.receive(update, time.now))
  return doc
}
const shown = (view: SpectatorView): string => canonicalJson(contentJson(view.projection))
const expected = (doc: Y.Doc, filter: SpectatorFilter = {}): string => canonicalJson(filterContent(contentJson(doc), filter))

describe('SpectatorView delay', () => {
  it('shows a change exactly once it is delayMs old, never before', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 300 })
    const source = sourceFor(view, time)
    time.now = 10
    source.getMap('world').set('door', 'open')
    view.tick(100)
    view.tick(309)
    expect(contentJson(view.projection)).toEqual({})
    const result = view.tick(310)
    expect(result).toMatchObject({ released: 1, epochs: 0, rebuilt: false })
    expect(result.writes).toBe(1)
    expect(contentJson(view.projection)).toEqual({ world: { door: 'open' } })
    // A later change waits its own delay while the earlier one stays shown.
    time.now = 400
    source.getMap('world').set('door', 'shut')
    view.tick(450)
    expect(view.tick(699)).toMatchObject({ released: 0, writes: 0 })
    expect(contentJson(view.projection)).toEqual({ world: { door: 'open' } })
    view.tick(700)
    expect(contentJson(view.projection)).toEqual({ world: { door: 'shut' } })
  })

  it('a tick batch is released only when its newest update is old enough (late by at most a tick, never early)', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 250 })
    const source = sourceFor(view, time)
    time.now = 20
    source.getMap('m').set('a', 1)
    time.now = 90
    source.getMap('m').set('b', 2)
    view.tick(100)
    // 'a' is 250 ms old at 270, but it shares a batch with 'b' (250 ms old at 340).
    view.tick(300)
    expect(contentJson(view.projection)).toEqual({})
    view.tick(340)
    expect(contentJson(view.projection)).toEqual({ m: { a: 1, b: 2 } })
  })

  it('a delay of zero shows every change at the next tick', () => {
    const time = { now: 5 }
    const view = new SpectatorView({ delayMs: 0 })
    sourceFor(view, time).getMap('m').set('a', 1)
    view.tick(5)
    expect(contentJson(view.projection)).toEqual({ m: { a: 1 } })
  })

  it('refuses settings out of range', () => {
    expect(() => new SpectatorView({ delayMs: -1 })).toThrow(SpectatorSettingsError)
    expect(() => new SpectatorView({ delayMs: Number.NaN })).toThrow(SpectatorSettingsError)
    expect(() => new SpectatorView({ delayMs: 0, rebuildRatio: 1 })).toThrow(/rebuildRatio/)
  })
})

describe('SpectatorView memory', () => {
  it('merges the updates of one tick into one queue entry', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 1000 })
    const source = sourceFor(view, time)
    let sent = 0
    source.on('update', (update: Uint8Array) => (sent += update.length))
    for (let tick = 1; tick <= 5; tick++) {
      for (let i = 0; i < 200; i++) {
        time.now = tick * 100 - 50 + (i % 50)
        source.getMap('hp').set(`e${i % 10}`, tick * 1000 + i)
      }
      view.tick(tick * 100)
      expect(view.stats().queueDepth).toBe(tick)
    }
    // 1,000 updates held as 5 entries, and merging already saves bytes.
    expect(view.stats().queueBytes).toBeLessThan(sent)
    view.tick(1500)
    expect(view.stats()).toMatchObject({ queueDepth: 0, queueBytes: 0 })
    expect(shown(view)).toBe(expected(source))
  })

  it('the queue keeps epoch markers apart from updates and counts what it holds', () => {
    const queue = new DelayQueue()
    queue.push(new Uint8Array([0, 0]), 5)
    expect(queue.depth).toBe(1)
    queue.pushEpoch(new Uint8Array(10), 7)
    queue.push(new Uint8Array([0, 0]), 8)
    expect(queue.depth).toBe(3)
    expect(queue.bytes).toBe(14)
    expect(queue.release(7).map((entry) => entry.kind)).toEqual(['updates', 'epoch'])
    queue.seal()
    expect(queue.release(8).map((entry) => entry.kind)).toEqual(['updates'])
    expect(queue.bytes).toBe(0)
  })

  it('rebuilds a churned projection fresh, same content, next generation', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 0, rebuildMinBytes: 1024, rebuildRatio: 3 })
    const source = sourceFor(view, time)
    const first = view.projection
    let rebuilds = 0
    for (let round = 0; round < 120; round++) {
      time.now = round * 10
      source.transact(() => {
        for (let i = 0; i < 10; i++) source.getMap('hp').set(`e${i}`, { hp: round, name: `e${i}` })
      })
      if (view.tick(time.now).rebuilt) rebuilds++
      if (round % 10 === 0) expect(shown(view)).toBe(expected(source))
    }
    expect(rebuilds).toBeGreaterThan(0)
    expect(view.generation).toBe(rebuilds)
    expect(view.stats().rebuilds).toBe(rebuilds)
    expect(view.projection).not.toBe(first)
    expect(shown(view)).toBe(expected(source))
    // Bounded: never far above the rebuild ratio times the content.
    expect(Y.encodeStateAsUpdate(view.projection).length).toBeLessThanOrEqual(Math.max(1024, 3 * rebuildContent(view.projection).update.length) + 2048)
    view.destroy()
  })
})

describe('SpectatorView filter', () => {
  const filter: SpectatorFilter = {
    roots: ['world', 'players'],
    hiddenKeys: ['secret'],
    entity: (_root, _key, value) => !(typeof value === 'object' && value !== null && (value as { invisible?: boolean }).invisible === true),
  }

  it('hidden roots, keys, fields and entities never reach the projection, not even in its history', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 100, filter })
    const source = sourceFor(view, time)
    const projectionUpdates: Uint8Array[] = []
    view.projection.on('update', (update: Uint8Array) => projectionUpdates.push(update))
    const marker = 'TOPSECRET'
    for (let round = 0; round < 20; round++) {
      time.now = round * 50
      source.transact(() => {
        source.getMap('admin').set('password', `${marker}-${round}`)
        source.getMap('world').set('secret', `${marker}-w${round}`)
        const player = new Y.Map<unknown>()
        player.set('hp', round)
        player.set('secret', { plan: `${marker}-p${round}` })
        player.set('gear', { sword: 1, secret: `${marker}-g${round}` })
        source.getMap('players').set(`p${round % 3}`, player)
        source.getMap('players').set('ghost', { invisible: round % 2 === 0, note: round % 2 === 0 ? `${marker}-ghost` : 'visible' })
      })
      if (round % 2 === 1) view.tick(round * 50)
    }
    view.tick(5000)
    expect(shown(view)).toBe(expected(source, filter))
    expect(contentJson(view.projection)).toMatchObject({ players: { p0: { hp: 18, gear: { sword: 1 } }, ghost: { invisible: false, note: 'visible' } } })
    expect(contentJson(view.projection)).not.toHaveProperty('admin')
    const needle = new TextEncoder().encode(marker)
    const contains = (bytes: Uint8Array): boolean => Buffer.from(bytes).indexOf(Buffer.from(needle)) >= 0
    expect(projectionUpdates.length).toBeGreaterThan(0)
    for (const update of projectionUpdates) expect(contains(update)).toBe(false)
    expect(contains(Y.encodeStateAsUpdate(view.projection))).toBe(false)
  })

  it('writes only what changed: an unchanged entry costs nothing, a changed field one write', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 0, filter })
    const source = sourceFor(view, time)
    const player = source.getMap('players').set('p1', new Y.Map<unknown>())
    player.set('hp', 10)
    player.set('pos', { x: 1, y: 2 })
    view.tick(0)
    const before = view.stats().projectionWrites
    player.set('secret', 'x')
    expect(view.tick(1).writes).toBe(0)
    player.set('pos', { x: 1, y: 3 })
    expect(view.tick(2).writes).toBe(1)
    source.getMap('players').delete('p1')
    expect(view.tick(3).writes).toBe(1)
    expect(view.stats().projectionWrites).toBe(before + 2)
    expect(contentJson(view.projection)).toEqual({})
  })
})

describe('SpectatorView across source epochs', () => {
  it('an epoch marker replaces the delayed source at its time; same content, no writes, no rebuild', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 200 })
    let source = sourceFor(view, time)
    for (let i = 0; i < 50; i++) {
      time.now = i
      source.getMap('hp').set(`e${i % 5}`, i)
    }
    view.tick(100)
    // The source moves to a fresh epoch replica (written by client 0), then keeps changing there.
    time.now = 150
    const next = new Y.Doc()
    Y.applyUpdate(next, rebuildContent(source).update)
    view.receiveEpoch(Y.encodeStateAsUpdate(next), time.now)
    source = next
    source.on('update', (update: Uint8Array) => view.receive(update, time.now))
    time.now = 180
    source.getMap('hp').set('e0', 'after')
    view.tick(200)
    view.tick(300)
    expect(contentJson(view.projection)).toEqual({ hp: { e0: 45, e1: 46, e2: 47, e3: 48, e4: 49 } })
    const writes = view.stats().projectionWrites
    const marker = view.tick(350)
    expect(marker).toMatchObject({ released: 1, epochs: 1, writes: 0, rebuilt: false })
    expect(view.stats().projectionWrites).toBe(writes)
    view.tick(380)
    expect(contentJson(view.projection)).toEqual({ hp: { e0: 'after', e1: 46, e2: 47, e3: 48, e4: 49 } })
    expect(view.generation).toBe(0)
    expect(view.stats().sourceEpochs).toBe(1)
  })

  it('a marker whose content differs (writes that went away with the old replica) is diffed in, deletes included', () => {
    const time = { now: 0 }
    const view = new SpectatorView({ delayMs: 0 })
    const source = sourceFor(view, time)
    source.getMap('m').set('kept', 1)
    source.getMap('m').set('gone', 2)
    source.getMap('old').set('x', 1)
    view.tick(0)
    const next = new Y.Doc()
    next.getMap('m').set('kept', 1)
    next.getMap('m').set('new', 3)
    view.receiveEpoch(Y.encodeStateAsUpdate(next), 1)
    expect(view.tick(1)).toMatchObject({ epochs: 1, writes: 3 })
    expect(contentJson(view.projection)).toEqual({ m: { kept: 1, new: 3 } })
  })
})
