import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  describeMoment,
  describeSummary,
  diffJson,
  documentJson,
  history,
  HistoryUnavailableError,
  InvalidMomentError,
  openHistory,
  openSqliteStore,
  parseMoment,
  rootKind,
  type UpdateSummary,
} from '../../storage/index.js'
import { meta, recordingDoc, recordingWorld, tempDataDir } from './fixtures/helpers.js'

/** A world log: a sword created, picked up, dropped in a chest, removed; a player hurt. Origins a, b, a, c, b, a. */
const seed = async (options: { snapshotEvery?: number } = {}) => {
  const store = openSqliteStore('', { durability: 'memory', snapshotEvery: options.snapshotEvery ?? 0, snapshotTailRatio: 0 })
  const { world, updates } = recordingWorld()
  world.createItem('sword', 'weapon')
  world.createEntity('p1', 'player', { health: { hp: 100 } })
  world.setItemHolderUnversioned('sword', { type: 'player', id: 'p1' })
  world.setComponent('p1', 'health', { hp: 70 })
  world.setItemHolderUnversioned('sword', { type: 'container', id: 'chest' })
  world.removeItem('sword')
  const origins = ['a', 'b', 'a', 'c', 'b', 'a']
  for (const [n, u] of updates.entries()) {
    await store.append('w', u, meta(1000 + n * 10, origins[n]))
    if (options.snapshotEvery) await new Promise((resolve) => setImmediate(resolve))
  }
  return { store, h: history(store) }
}

describe('history list', () => {
  it('lists each update with time, origin, size and what it changed, decoded by Yjs', async () => {
    const { store, h } = await seed()
    const entries = h.list('w')
    expect(entries.map((e) => [e.seq, e.wallMs, e.origin, e.summary.paths])).toEqual([
      [1, 1000, 'a', ['items/sword']],
      [2, 1010, 'b', ['entities/p1']],
      [3, 1020, 'a', ['items/sword']],
      [4, 1030, 'c', ['entities/p1']],
      [5, 1040, 'b', ['items/sword']],
      [6, 1050, 'a', ['items/sword']],
    ])
    expect(entries.map((e) => e.summary.holders)).toEqual([
      [{ item: 'sword', from: undefined, to: 'none' }],
      [],
      [{ item: 'sword', from: 'none', to: 'player:p1' }],
      [],
      [{ item: 'sword', from: 'player:p1', to: 'container:chest' }],
      [{ item: 'sword', from: 'container:chest', to: undefined }],
    ])
    expect(entries[3]?.summary.keys).toEqual([{ path: ['entities', 'p1', 'components', 'health', 'hp'], action: 'update', before: 100, after: 70 }])
    expect(entries[2]?.summary.keys).toEqual([{ path: ['items', 'sword', 'holder'], action: 'update', before: { type: 'none' }, after: { type: 'player', id: 'p1' } }])
    expect(entries[1]?.summary).toMatchObject({ entities: ['p1'], items: [], roots: ['entities'], pending: false })
    expect(entries[2]?.summary.deletedRanges).toBe(1)
    expect(entries[0]?.summary.structs).toBeGreaterThan(0)
    expect(entries.map((e) => e.description)).toEqual([
      'items/sword created (none)',
      'entities/p1 created',
      'items/sword holder none -> player:p1',
      'entities/p1/components/health/hp 100 -> 70',
      'items/sword holder player:p1 -> container:chest',
      'items/sword removed (was container:chest)',
    ])
    expect(entries.every((e) => e.bytes > 0 && e.hlc.peer === e.origin)).toBe(true)
    await store.close()
  })

  it('filters by time or sequence, starting from the nearest snapshot', async () => {
    const { store, h } = await seed({ snapshotEvery: 2 })
    expect(store.logInfo('w').snapshots.length).toBeGreaterThan(0)
    expect(h.list('w', { since: { timeMs: 1020 }, until: { timeMs: 1030 } }).map((e) => e.seq)).toEqual([3, 4])
    expect(h.list('w', { since: { seq: 5 } }).map((e) => [e.seq, e.summary.holders[0]?.from])).toEqual([
      [5, 'player:p1'],
      [6, 'container:chest'],
    ])
    expect(h.list('w', { until: { seq: 1 } }).map((e) => e.seq)).toEqual([1])
    expect(h.list('w', { since: { timeMs: 5000 } })).toEqual([])
    await store.close()
  })

  it('reads arrays, text and nested maps of documents that are not world documents', async () => {
    const store = openSqliteStore('', { durability: 'memory' })
    const { doc, updates } = recordingDoc()
    doc.getArray<number>('log').push([1, 2, 3])
    doc.getText('chat').insert(0, 'hello')
    const nested = new Y.Map<unknown>()
    doc.getMap('settings').set('audio', nested)
    nested.set('volume', 3)
    doc.getArray<number>('log').delete(0, 2)
    doc.getMap('settings').delete('audio')
    for (const [n, u] of updates.entries()) await store.append('misc', u, meta(n))
    const entries = history(store).list('misc')
    expect(entries.map((e) => e.description)).toEqual([
      'log +3/-0',
      'chat +5/-0',
      'settings/audio created',
      'settings/audio/volume = 3',
      'log +0/-2',
      'settings/audio removed',
    ])
    expect(entries[5]?.summary.keys).toEqual([{ path: ['settings', 'audio'], action: 'delete' }])
    expect(history(store).show('misc', { seq: 4 })).toEqual({ chat: 'hello', log: [1, 2, 3], settings: { audio: { volume: 3 } } })
    expect(history(store).show('misc', { seq: 6 })).toEqual({ chat: 'hello', log: [3] })
    await store.close()
  })

  it('says when an update waits for a missing earlier one', async () => {
    const store = openSqliteStore('', { durability: 'memory' })
    const { doc, updates } = recordingDoc()
    doc.getMap('m').set('a', 1)
    doc.getMap('m').set('a', 2)
    await store.append('w', updates[1]!, meta(1))
    await store.append('w', updates[0]!, meta(2))
    const entries = history(store).list('w')
    expect(entries[0]?.summary.pending).toBe(true)
    expect(entries[0]?.description).toBe('(waiting for a missing earlier update)')
    expect(entries[1]?.summary.keys).toEqual([{ path: ['m', 'a'], action: 'add', after: 2 }])
    await store.close()
  })

  it('describes big updates on one line', () => {
    const summary: UpdateSummary = {
      roots: ['m'],
      paths: [],
      keys: Array.from({ length: 9 }, (_, i) => ({ path: ['m', `k${i}`, 'x'], action: 'delete' as const })),
      sequences: [],
      entities: [],
      items: [],
      holders: [],
      structs: 0,
      deletedRanges: 9,
      pending: false,
    }
    expect(describeSummary(summary)).toMatch(/^m\/k0\/x deleted; .*; \.\.\. 3 more$/)
    expect(describeSummary({ ...summary, keys: [] })).toBe('(no visible change)')
  })
})

describe('history show and diff', () => {
  it('shows the state at a sequence or a time, from the nearest snapshot', async () => {
    for (const snapshotEvery of [0, 2]) {
      const { store, h } = await seed({ snapshotEvery })
      expect((h.show('w', { seq: 3 }).items as Record<string, unknown>).sword).toEqual({ kind: 'weapon', holder: { type: 'player', id: 'p1' } })
      expect((h.show('w', { timeMs: 1045 }).items as Record<string, unknown>).sword).toEqual({ kind: 'weapon', holder: { type: 'container', id: 'chest' } })
      expect(h.show('w', { seq: 6 }).items).toBeUndefined()
      expect(h.show('w', { seq: 0 })).toEqual({})
      expect(h.show('w', { timeMs: 5 })).toEqual({})
      expect(h.stateAt('w', { timeMs: 1031 })).toMatchObject({ seq: 4, wallMs: 1030 })
      expect(h.stateAt('w', { seq: 0 }).wallMs).toBeUndefined()
      const encoded = h.encodedStateAt('w', { seq: 2 })
      const doc = new Y.Doc()
      Y.applyUpdate(doc, encoded)
      expect(documentJson(doc)).toEqual(h.show('w', { seq: 2 }))
      expect(() => h.show('w', { seq: 7 })).toThrow(HistoryUnavailableError)
      expect(() => h.show('w', { seq: 7 })).toThrow(/the log ends at sequence 6/)
      expect(() => h.show('w', { seq: -1 })).toThrow(/not a log position/)
      await store.close()
    }
  })

  it('diffs two moments leaf by leaf', async () => {
    const { store, h } = await seed()
    expect(h.diff('w', { seq: 2 }, { seq: 4 })).toEqual([
      { path: 'entities/p1/components/health/hp', kind: 'changed', before: 100, after: 70 },
      { path: 'items/sword/holder/id', kind: 'added', after: 'p1' },
      { path: 'items/sword/holder/type', kind: 'changed', before: 'none', after: 'player' },
    ])
    expect(h.diff('w', { seq: 4 }, { seq: 4 })).toEqual([])
    expect(h.diff('w', { seq: 5 }, { seq: 6 }).map((c) => [c.path, c.kind])).toEqual([
      ['items/sword/holder/id', 'removed'],
      ['items/sword/holder/type', 'removed'],
      ['items/sword/kind', 'removed'],
    ])
    expect(diffJson({ a: [1], b: {} }, { a: [1, 2], c: null })).toEqual([
      { path: 'a', kind: 'changed', before: [1], after: [1, 2] },
      { path: 'b', kind: 'removed', before: {} },
      { path: 'c', kind: 'added', after: null },
    ])
    await store.close()
  })
})

describe('history trace', () => {
  it("follows an item's holder over time with origin peers", async () => {
    const { store, h } = await seed()
    const steps = h.trace('w', { item: 'sword' })
    expect(steps.map((s) => [s.seq, s.origin, s.change, s.holder?.from, s.holder?.to])).toEqual([
      [1, 'a', 'created', undefined, 'none'],
      [3, 'a', 'moved', 'none', 'player:p1'],
      [5, 'b', 'moved', 'player:p1', 'container:chest'],
      [6, 'a', 'removed', 'container:chest', undefined],
    ])
    expect(steps[1]?.value).toEqual({ kind: 'weapon', holder: { type: 'player', id: 'p1' } })
    expect(steps[3]?.value).toBeUndefined()
    expect(h.trace('w', { item: 'nothing' })).toEqual([])
    await store.close()
  })

  it("follows an entity's fields, starting from the snapshot history was cut at", async () => {
    const store = openSqliteStore('', { durability: 'memory', snapshotEvery: 0, retention: 'none' })
    const { world, updates } = recordingWorld()
    world.createEntity('p1', 'player', { health: { hp: 100 } })
    world.setComponent('p1', 'health', { hp: 90 })
    for (const [n, u] of updates.entries()) await store.append('w', u, meta(n, 'x'))
    await store.snapshot('w')
    world.setComponent('p1', 'health', { hp: 80 })
    world.setComponent('p1', 'stamina', { sp: 5 })
    world.removeEntity('p1')
    for (const [n, u] of updates.slice(2).entries()) await store.append('w', u, meta(10 + n, 'y'))
    const steps = history(store).trace('w', { entity: 'p1' })
    expect(steps.map((s) => [s.seq, s.origin, s.change, s.fields.map((f) => f.path)])).toEqual([
      [2, '(snapshot)', 'present', ['components/health/hp', 'kind']],
      [3, 'y', 'changed', ['components/health/hp']],
      [4, 'y', 'changed', ['components/stamina/sp']],
      [5, 'y', 'removed', ['components/health/hp', 'components/stamina/sp', 'kind']],
    ])
    expect(steps[0]?.holder).toBeUndefined()
    await store.close()
  })

  it('tolerates documents whose roots are not world maps', async () => {
    const store = openSqliteStore('', { durability: 'memory' })
    const { doc, updates } = recordingDoc()
    doc.getArray('items').push(['not a map'])
    doc.getMap('entities').set('p1', 'a string, not a map')
    for (const [n, u] of updates.entries()) await store.append('odd', u, meta(n))
    expect(history(store).trace('odd', { item: 'sword' })).toEqual([])
    expect(history(store).trace('odd', { entity: 'p1' }).map((s) => [s.change, s.value])).toEqual([['created', 'a string, not a map']])
    const odd = history(store).list('odd')
    expect(odd[0]?.summary.items).toEqual([])
    await store.close()
  })
})

describe('moments and roots', () => {
  it('parses and describes moments', () => {
    expect(parseMoment('42')).toEqual({ seq: 42 })
    expect(parseMoment(' seq:7 ')).toEqual({ seq: 7 })
    expect(parseMoment('ms:1000')).toEqual({ timeMs: 1000 })
    expect(parseMoment('2026-01-01T00:00:00Z')).toEqual({ timeMs: Date.parse('2026-01-01T00:00:00Z') })
    expect(() => parseMoment('yesterday')).toThrow(InvalidMomentError)
    expect(() => parseMoment('2026-13-45')).toThrow(/cannot read moment/)
    expect(describeMoment({ seq: 3 })).toBe('seq 3')
    expect(describeMoment({ timeMs: 0 })).toBe('1970-01-01T00:00:00.000Z')
  })

  it('types roots of decoded documents by their content', () => {
    const source = new Y.Doc()
    source.getMap('m').set('a', 1)
    source.getArray('a').push([1])
    source.getText('t').insert(0, 'x')
    source.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
    source.getArray('gone').push([1])
    source.getArray('gone').delete(0, 1)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(source))
    const kinds = Object.fromEntries([...copy.share].map(([name, type]) => [name, rootKind(type)]))
    expect(kinds).toEqual({ m: 'map', a: 'array', t: 'text', x: 'xml', gone: 'array' })
    expect(documentJson(copy)).toEqual({ a: [1], m: { a: 1 }, t: 'x', x: '<p></p>' })
    expect(rootKind(copy.getMap('m'))).toBe('map')
    expect(rootKind(copy.getArray('a'))).toBe('array')
    expect(rootKind(copy.getText('t'))).toBe('text')
    expect(rootKind(copy.getXmlFragment('x'))).toBe('xml')
    const bare = new Y.Doc()
    bare.get('empty')
    expect(rootKind(bare.share.get('empty')!)).toBe('empty')
  })

  it('opens the history of a data directory for reading', async () => {
    const dir = tempDataDir()
    const store = openSqliteStore(dir)
    const { world, updates } = recordingWorld()
    world.createItem('gem', 'loot')
    await store.append('w', updates[0]!, meta(5))
    await store.close()
    const reader = openHistory(dir)
    expect(reader.show('w', { seq: 1 })).toEqual({ items: { gem: { kind: 'loot', holder: { type: 'none' } } } })
    expect((await reader.verify())[0]).toMatchObject({ ok: true })
    await reader.close()
    expect(() => openHistory(tempDataDir())).toThrow(/no realmsync data/)
  })
})
