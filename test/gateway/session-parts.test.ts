import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { EphemeralStore, HybridLogicalClock, openWorldDoc } from '../../core/index.js'
import { IntentEngine, type ActionHandler } from '../../resolvers/index.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { ClientControlError, decodeClientControl, encodeServerControl, InterestView, LocalSession, parseSessionRecord, SessionRegistry, stateVectorCovers } from '../../gateway/index.js'
import { decodeSessionControl, encodeInterest, SessionControlError } from '../../client/index.js'

const makeStore = () => {
  const time = { now: 1000 }
  return new EphemeralStore({ hlc: new HybridLogicalClock('p', () => time.now), now: () => time.now, ttlMs: 60_000 })
}

describe('InterestView', () => {
  it('shows entities whose position is inside the area, brings their other fields along, and reports those that leave', () => {
    const store = makeStore()
    store.set('near', 'position', { x: 1, y: 1 })
    store.set('near', 'aim', 0.5)
    store.set('near', 'blob', new Uint8Array([1]))
    store.set('far', 'position', { x: 100, y: 0 })
    store.set('far', 'aim', 1)
    store.set('nowhere', 'aim', 2)
    const view = new InterestView()
    expect(view.filter(store.deltaSince(0).entries, store)).toBeUndefined()
    const first = view.subscribe({ x: 0, y: 0, radius: 10 }, store)
    expect(view.active).toBe(true)
    expect(first.entries.map((e) => `${e.entity}.${e.field}`).sort()).toEqual(['near.aim', 'near.position'])
    expect(first.gone).toEqual([])

    let watermark = store.currentVersion
    const step = () => {
      const delta = store.deltaSince(watermark)
      watermark = delta.version
      return view.filter(delta.entries, store)
    }
    store.set('far', 'position', { x: 5, y: 5 })
    expect(step()?.entries.map((e) => `${e.entity}.${e.field}`)).toEqual(['far.aim', 'far.position'])
    store.set('far', 'aim', 3)
    store.set('nowhere', 'aim', 4)
    // Batches carry the store's own entries (shared by every client that sees them); a client sees entity, field and value.
    expect(step()?.entries.map(({ entity, field, value }) => ({ entity, field, value }))).toEqual([{ entity: 'far', field: 'aim', value: 3 }])
    store.set('near', 'position', { x: 50, y: 0 })
    store.set('far', 'position', 'not a position')
    expect(step()).toEqual({ type: 'ephemeral', entries: [], gone: ['near', 'far'] })
    expect(step()).toBeUndefined()
    // Out and back in within one tick: it stays visible and is not reported gone.
    store.set('near', 'position', { x: 2, y: 0 })
    expect(step()?.gone).toEqual([])
    expect([...view.visibleEntities]).toEqual(['near'])
    // Moving the area: what is no longer inside is gone, what is newly inside arrives whole.
    store.set('far', 'position', { x: 100, y: 0 })
    const moved = view.subscribe({ x: 100, y: 0, radius: 1 }, store)
    expect(moved.gone).toEqual(['near'])
    expect(moved.entries.map((e) => e.entity)).toEqual(['far', 'far'])
  })
})

describe('session control messages', () => {
  it('decodes interest areas strictly on the server', () => {
    expect(decodeClientControl(encodeInterest(1, 2, 3))).toEqual({ x: 1, y: 2, radius: 3 })
    for (const bad of ['nope', '[]', '{"v":2,"type":"interest","x":0,"y":0,"radius":1}', '{"v":1,"type":"other"}', '{"v":1,"type":"interest","x":0,"y":0,"radius":-1}', 'x'.repeat(2000)]) {
      expect(() => decodeClientControl(bad)).toThrow(ClientControlError)
    }
    fc.assert(fc.property(fc.string(), (text) => {
      try {
        decodeClientControl(text)
      } catch (error) {
        return error instanceof ClientControlError
      }
      return true
    }))
  })

  it('decodes server messages strictly in the client', () => {
    const hello = { type: 'session', session: 's', resumeToken: 't', home: 'a', lastAckedSeq: 3 } as const
    expect(decodeSessionControl(encodeServerControl(hello))).toEqual(hello)
    const redirect = { type: 'redirect', url: 'ws://h:1', peer: 'b', handoff: true } as const
    expect(decodeSessionControl(encodeServerControl(redirect))).toEqual(redirect)
    const batch = { type: 'ephemeral', entries: [{ entity: 'e', field: 'position', value: { x: 1, y: 2 } }], gone: ['f'] } as const
    expect(decodeSessionControl(encodeServerControl(batch))).toEqual(batch)
    for (const bad of [
      'nope',
      '1',
      '{"v":2}',
      '{"v":1,"type":"x"}',
      '{"v":1,"type":"session","session":"s"}',
      '{"v":1,"type":"redirect","url":"http://h","peer":"b","handoff":true}',
      '{"v":1,"type":"redirect","url":"not a url","peer":"b","handoff":true}',
      '{"v":1,"type":"ephemeral","entries":[{"entity":"e"}],"gone":[]}',
      '{"v":1,"type":"ephemeral","entries":[],"gone":[1]}',
    ]) {
      expect(() => decodeSessionControl(bad)).toThrow(SessionControlError)
    }
  })
})

describe('session registry records', () => {
  it('round-trips records through a replicated document and ignores malformed entries', () => {
    const doc = new Y.Doc()
    const registry = new SessionRegistry(doc)
    const record = {
      player: 'p',
      session: 'n',
      home: 'a',
      resumeHash: 'h',
      lastAckedSeq: 2,
      state: 'handed-off' as const,
      from: 'z',
      answers: [
        { type: 'ack' as const, seq: 1, result: { x: 1 } },
        { type: 'reject' as const, seq: 2, reason: 'r', message: 'm' },
      ],
      answersFloor: 0,
      docs: { 'world/1': Y.encodeStateVector(doc) },
      updatedAt: 5,
    }
    registry.put(record)
    const replica = new Y.Doc()
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc))
    expect(new SessionRegistry(replica).get('p')).toEqual(record)
    doc.getMap('sessions').set('bad', { session: 1 })
    expect(registry.get('bad')).toBeUndefined()
    expect(registry.records().map((r) => r.player)).toEqual(['p'])
    const base = { session: 's', home: 'a', resumeHash: 'h', lastAckedSeq: 0, state: 'active', answers: [], answersFloor: 0, docs: {}, updatedAt: 0 }
    expect(parseSessionRecord('q', base)).toMatchObject({ player: 'q' })
    for (const broken of [null, [], { ...base, state: 'gone' }, { ...base, from: 3 }, { ...base, answers: [{ type: 'ack', seq: -1 }] }, { ...base, answers: [{ type: 'nope', seq: 1 }] }, { ...base, docs: { d: 'x' } }, { ...base, answers: {} }]) {
      expect(parseSessionRecord('q', broken)).toBeUndefined()
    }
    registry.announce('a', { url: 'ws://a', draining: false })
    registry.announce('a', { url: 'ws://a', draining: false })
    doc.getMap('gateways').set('broken', 1)
    expect(registry.gatewaysByPeer()).toEqual([['a', { url: 'ws://a', draining: false }]])
    const changes: number[] = []
    const stop = registry.onChange(() => changes.push(1))
    registry.announce('a', { url: 'ws://a', draining: true })
    stop()
    registry.announce('a', { url: 'ws://b', draining: true })
    expect(changes).toEqual([1])
  })

  it('compares state vectors', () => {
    const a = new Y.Doc()
    a.getMap('m').set('k', 1)
    const before = Y.encodeStateVector(a)
    a.getMap('m').set('k', 2)
    expect(stateVectorCovers(Y.encodeStateVector(a), before)).toBe(true)
    expect(stateVectorCovers(before, Y.encodeStateVector(a))).toBe(false)
  })
})

describe('LocalSession', () => {
  const counter = (): ActionHandler => ({
    apply: ({ world, intent }) => {
      if (intent.seq === 9) throw new Error('handler down')
      const calls = ((world.doc.getMap('calls').get('n') as number | undefined) ?? 0) + 1
      world.doc.getMap('calls').set('n', calls)
      return calls
    },
  })
  const makeEngine = (answersPerSession = 2) =>
    IntentEngine.createUnjournaled({ world: openWorldDoc(new Y.Doc()), worldName: 'w', clock: new ManualClock(), seed: 1, handlers: { a: counter() }, answersPerSession })
  const intent = (seq: number) => ({ seq, action: 'a', player: 'p', payload: null })

  it('keeps no answers of its own: resends and expiry come from the engine; drops first sends while draining', async () => {
    const engine = makeEngine()
    const session = new LocalSession('p', 'n', 't')
    expect(await session.submit(intent(1), engine)).toEqual({ type: 'ack', seq: 1, result: 1 })
    expect(await session.submit(intent(1), engine)).toEqual({ type: 'ack', seq: 1, result: 1 })
    expect(engine.stats.duplicates).toBe(1)
    await session.submit(intent(2), engine)
    await session.submit(intent(3), engine)
    expect(await session.submit(intent(1), engine)).toMatchObject({ type: 'reject', reason: 'answer-expired' })
    expect(await session.submit(intent(9), engine)).toMatchObject({ type: 'reject', reason: 'internal-error' })
    await session.quiesce()
    expect(session.answersToHandOver()).toMatchObject({ floor: 3, answers: [{ seq: 3 }, { seq: 9 }] })
    session.draining = true
    expect(session.submit(intent(10), engine)).toBeUndefined()
    expect(await session.submit(intent(3), engine)).toEqual({ type: 'ack', seq: 3, result: 3 })
    expect(session.lastAckedSeq).toBe(9)
    expect(engine.answerMemory()).toEqual({ sessions: 1, answers: 2 })
  })

  it('gives carried answers to the engine it is bound to, or only a floor', async () => {
    const adopted = new LocalSession('p', 'n', 't')
    adopted.adopt([{ type: 'ack', seq: 5, result: 'x' }], 4, 5)
    expect(adopted.answersToHandOver()).toMatchObject({ floor: 4 })
    const engine = makeEngine(8)
    expect(await adopted.submit(intent(5), engine)).toEqual({ type: 'ack', seq: 5, result: 'x' })
    expect(await adopted.submit(intent(3), engine)).toMatchObject({ reason: 'answer-expired' })
    expect(adopted.id).toBe('p/n')
    const resumed = new LocalSession('q', 'n', 't')
    resumed.bind(engine)
    resumed.adopt([], 3, 2)
    expect(await resumed.submit({ ...intent(2), player: 'q' }, engine)).toMatchObject({ reason: 'answer-expired' })
    expect(await resumed.submit({ ...intent(3), player: 'q' }, engine)).toMatchObject({ type: 'ack' })
    resumed.acknowledged(3)
    expect(engine.answered('q/n', 3)).toBe(true)
    expect(engine.answersOf('q/n')).toEqual({ floor: 4, answers: [] })
  })
})
