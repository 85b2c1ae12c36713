import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { canonicalJson, contentJson, rebuildContent } from '../../core/index.js'
import { filterContent, SpectatorView, type SpectatorFilter } from '../../spectator/index.js'

// The view's contract as a property: for random source changes and random epoch switches, after
// the tick at time t the projection holds filter(content of the source at t - delay). Exactly so
// when the delay is a whole number of ticks; otherwise the source at some moment of the tick before
// (late by less than a tick, never early).

const TICK = 50
const filter: SpectatorFilter = {
  roots: ['world', 'players'],
  hiddenKeys: ['secret'],
  entity: (_root, _key, value) => !(typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === 'b'),
}

type Op =
  | { kind: 'set'; root: string; key: string; value: unknown; shared: boolean }
  | { kind: 'field'; root: string; key: string; field: string; value: number }
  | { kind: 'delete'; root: string; key: string }
  | { kind: 'epoch' }
  | { kind: 'wait'; ms: number }

const root = fc.constantFrom('world', 'players', 'admin')
const key = fc.constantFrom('k0', 'k1', 'k2', 'k3', 'secret')
const value = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.record({ hp: fc.integer({ min: 0, max: 9 }), secret: fc.integer(), tag: fc.constantFrom('a', 'b') }),
  fc.record({ pos: fc.record({ x: fc.integer({ min: 0, max: 3 }), secret: fc.boolean() }) }),
).map((generated) => JSON.parse(JSON.stringify(generated)) as unknown) // plain prototypes: Yjs refuses null-prototype objects
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), root, key, value, shared: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('field' as const), root, key, field: fc.constantFrom('hp', 'secret', 'tag'), value: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), root, key }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'epoch' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 120 }) }) },
)

/** The filter written out independently of the library's, so a bug in it cannot hide behind itself. */
const strip = (input: unknown): unknown => {
  if (Array.isArray(input)) return input.map(strip)
  if (input === null || typeof input !== 'object') return input
  return Object.fromEntries(Object.entries(input as Record<string, unknown>).filter(([k]) => k !== 'secret').map(([k, v]) => [k, strip(v)]))
}
const reference = (content: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const name of ['world', 'players']) {
    const entries = Object.entries((content[name] ?? {}) as Record<string, unknown>)
      .filter(([k]) => k !== 'secret')
      .map(([k, v]) => [k, strip(v)] as const)
      .filter(([, v]) => !(typeof v === 'object' && v !== null && (v as { tag?: unknown }).tag === 'b'))
    if (entries.length > 0) out[name] = Object.fromEntries(entries)
  }
  return out
}

/** A plain object as a nested Y.Map (what `WorldDoc` entities are), so field edits have something to edit. */
const toShared = (input: unknown): unknown => {
  if (input === null || typeof input !== 'object') return input
  const map = new Y.Map<unknown>()
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) map.set(k, toShared(v))
  return map
}

const run = (ops: readonly Op[], delayMs: number): void => {
  const view = new SpectatorView({ delayMs, filter, rebuildMinBytes: 600, rebuildRatio: 2 })
  let now = 1
  let source = new Y.Doc()
  const listen = (doc: Y.Doc): void => {
    doc.on('update', (update: Uint8Array) => view.receive(update, now))
  }
  listen(source)
  /** Filtered content of the source after each change, with the change's time. */
  const history: Array<[number, string]> = [[0, '{}']]
  const record = (): void => {
    const expected = canonicalJson(reference(contentJson(source)))
    expect(canonicalJson(filterContent(contentJson(source), filter))).toBe(expected)
    history.push([now, expected])
  }
  const at = (time: number): string => {
    let out = '{}'
    for (const [when, content] of history) if (when <= time) out = content
    return out
  }
  let nextTick = TICK
  const tickUntil = (time: number): void => {
    while (nextTick <= time) {
      view.tick(nextTick)
      const shown = canonicalJson(contentJson(view.projection))
      if (delayMs % TICK === 0) expect(shown).toBe(at(nextTick - delayMs))
      else {
        const candidates = new Set<string>()
        for (let t = nextTick - delayMs - TICK + 1; t <= nextTick - delayMs; t++) candidates.add(at(t))
        expect(candidates.has(shown)).toBe(true)
      }
      nextTick += TICK
    }
  }
  for (const step of ops) {
    switch (step.kind) {
      case 'wait':
        // Changes at a tick's own time come before that tick.
        tickUntil(now + step.ms - 1)
        now += step.ms
        continue
      case 'set':
        source.getMap(step.root).set(step.key, step.shared ? toShared(step.value) : step.value)
        break
      case 'field': {
        const entity = source.getMap(step.root).get(step.key)
        if (!(entity instanceof Y.Map)) continue
        entity.set(step.field, step.field === 'tag' ? (step.value % 2 === 0 ? 'a' : 'b') : step.value)
        break
      }
      case 'delete':
        source.getMap(step.root).delete(step.key)
        break
      case 'epoch': {
        // What a peer does at a cut: a fresh replica from the rebuilt content, handed over whole.
        const next = new Y.Doc()
        Y.applyUpdate(next, rebuildContent(source).update)
        view.receiveEpoch(Y.encodeStateAsUpdate(next), now)
        source = next
        listen(source)
        break
      }
    }
    record()
  }
  // Then long enough for everything to come out.
  tickUntil(now + delayMs + 2 * TICK)
  expect(canonicalJson(contentJson(view.projection))).toBe(canonicalJson(filterContent(contentJson(source), filter)))
  view.destroy()
}

describe('SpectatorView property', () => {
  it('the projection at tick t is the filtered source at t - delay, across random epoch switches', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), fc.constantFrom(0, 50, 100, 200, 30, 130), (ops, delayMs) => run(ops, delayMs)),
      { numRuns: 60 },
    )
  })
})
