import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  canRead,
  canWrite,
  ForbiddenGrantError,
  grantsFrom,
  matchesDocument,
  parseDocumentPattern,
  PermissionPatternError,
  type DocumentPattern,
} from '../../gateway/index.js'

const matches = (pattern: string, doc: string): boolean => matchesDocument(parseDocumentPattern(pattern), doc)

/** An independent oracle: the documented rules as plain recursion over segments (tests only). */
const oracle = (pattern: DocumentPattern, doc: string): boolean => {
  const names = doc.split('/')
  const go = (p: number, n: number): boolean => {
    const segment = pattern.segments[p]
    if (segment === undefined) return n === names.length
    if (segment.kind === 'any') {
      for (let skip = n; skip <= names.length; skip++) if (go(p + 1, skip)) return true
      return false
    }
    const name = names[n]
    if (name === undefined) return false
    return (segment.kind === 'one' ? name.length > 0 : name === segment.text) && go(p + 1, n + 1)
  }
  return go(0, 0)
}

const segmentChars = fc.constantFrom('a', 'b', 'p1', 'world', '.', '+', '(', '$', 'é', '-', ' ', '[')
const segment = fc.array(segmentChars, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(''))
const docName = fc.array(fc.oneof(segment, fc.constant('')), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/'))
const patternText = fc.array(fc.oneof(segment, fc.constant('*'), fc.constant('**')), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/'))

describe('document patterns', () => {
  it('follows the documented rules on examples', () => {
    expect(matches('world/*', 'world/1')).toBe(true)
    expect(matches('world/*', 'world/1/economy')).toBe(false)
    expect(matches('world/*', 'world')).toBe(false)
    expect(matches('world/*', 'world/')).toBe(false)
    expect(matches('world/**', 'world')).toBe(true)
    expect(matches('world/**', 'world/1/region/3')).toBe(true)
    expect(matches('world/**', 'worlds/1')).toBe(false)
    expect(matches('**/economy', 'world/1/economy')).toBe(true)
    expect(matches('**/economy', 'economy')).toBe(true)
    expect(matches('player/p1/*', 'player/p1/inventory')).toBe(true)
    expect(matches('player/p1/*', 'player/p12/inventory')).toBe(false)
    expect(matches('a/**/**/b', 'a/x/y/b')).toBe(true)
    // Regex metacharacters are literal.
    expect(matches('world/.+', 'world/.+')).toBe(true)
    expect(matches('world/.+', 'world/abc')).toBe(false)
  })

  it('refuses malformed patterns with a typed error', () => {
    for (const bad of ['', 'world/', '/world', 'a//b', 'p*', 'world/*x', '***', 'a/\u0000', 'x'.repeat(513)]) {
      expect(() => parseDocumentPattern(bad), bad).toThrow(PermissionPatternError)
    }
    expect(() => parseDocumentPattern(42 as unknown as string)).toThrow(PermissionPatternError)
  })

  it('never throws anything but PermissionPatternError, and matching never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (text, doc) => {
        let pattern: DocumentPattern
        try {
          pattern = parseDocumentPattern(text)
        } catch (error) {
          expect(error).toBeInstanceOf(PermissionPatternError)
          return
        }
        expect(typeof matchesDocument(pattern, doc)).toBe('boolean')
      }),
      { numRuns: 2000 },
    )
  })

  it('`**` covers every document name', () => {
    const all = parseDocumentPattern('**')
    fc.assert(fc.property(fc.string(), (doc) => matchesDocument(all, doc)), { numRuns: 2000 })
    fc.assert(fc.property(docName, (doc) => matchesDocument(all, doc)))
  })

  it('`*` stands for exactly one non-empty segment', () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (names, starred) => {
        const doc = names.join('/')
        const pattern = names.map((name, i) => (starred[i] ? '*' : name)).join('/')
        expect(matches(pattern, doc)).toBe(true)
        // One segment more or fewer never matches a pattern without `**`.
        expect(matches(pattern, `${doc}/x`)).toBe(false)
        if (names.length > 1) expect(matches(pattern, names.slice(1).join('/'))).toBe(false)
        // A literal pattern matches only itself.
        expect(matches(doc, doc)).toBe(true)
      }),
    )
  })

  it('agrees with an independent regular-expression oracle', () => {
    fc.assert(
      fc.property(patternText, docName, (text, doc) => {
        const pattern = parseDocumentPattern(text)
        expect(matchesDocument(pattern, doc)).toBe(oracle(pattern, doc))
      }),
      { numRuns: 3000 },
    )
    // A tiny alphabet makes matches common, so both answers get exercised.
    const tinyPattern = fc.array(fc.constantFrom('a', 'b', '*', '**'), { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'))
    const tinyDoc = fc.array(fc.constantFrom('a', 'b', ''), { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'))
    let matched = 0
    fc.assert(
      fc.property(tinyPattern, tinyDoc, (text, doc) => {
        const pattern = parseDocumentPattern(text)
        const answer = matchesDocument(pattern, doc)
        if (answer) matched++
        expect(answer).toBe(oracle(pattern, doc))
      }),
      { numRuns: 3000 },
    )
    expect(matched).toBeGreaterThan(100)
  })

  it('stays fast on adversarial patterns (no backtracking blow-up)', () => {
    const pattern = parseDocumentPattern(Array.from({ length: 61 }, (_, i) => (i % 2 ? '**' : 'a')).join('/'))
    const doc = Array.from({ length: 200 }, () => 'a').join('/') + '/b'
    const started = performance.now()
    expect(matchesDocument(pattern, doc)).toBe(false)
    expect(performance.now() - started).toBeLessThan(1000)
  })
})

describe('grants', () => {
  it('reads by pattern; writes only documents wholly the player’s', () => {
    const grants = grantsFrom({ player: 'p1', read: ['world/*'], write: ['player/p1/**'] })
    expect(canRead(grants, 'world/1')).toBe(true)
    expect(canRead(grants, 'world/1/economy')).toBe(false)
    expect(canWrite(grants, 'world/1')).toBe(false)
    expect(canWrite(grants, 'player/p1/inventory')).toBe(true)
    expect(canWrite(grants, 'player/p1/a/b')).toBe(true)
    // `**` matches zero segments, but the bare `player/p1` is not under `player/p1/`.
    expect(canWrite(grants, 'player/p1')).toBe(false)
    expect(canWrite(grants, 'player/p2/inventory')).toBe(false)
    // Writing implies reading (a y-websocket client must sync what it writes).
    expect(canRead(grants, 'player/p1/inventory')).toBe(true)
    expect(canRead(grants, 'player/p2/inventory')).toBe(false)
  })

  it('refuses write grants outside player/<id>/ with a clear reason', () => {
    for (const write of ['world/*', '**', 'player/*/inventory', 'player/p2/*', 'player/p1', 'player/**', 'player/p1x/*']) {
      const attempt = () => grantsFrom({ player: 'p1', read: [], write: [write] })
      expect(attempt, write).toThrow(ForbiddenGrantError)
      expect(attempt, write).toThrow(/may write only documents under 'player\/p1\/'/)
    }
  })

  it('refuses player ids that are not one plain segment', () => {
    for (const player of ['', 'a/b', 'p*', 'p\n', 'x'.repeat(129)]) {
      expect(() => grantsFrom({ player, read: [], write: [] }), player).toThrow(PermissionPatternError)
    }
  })

  it('never lets a write grant reach another player’s documents', () => {
    fc.assert(
      fc.property(segment, segment, patternText, docName, (player, other, suffix, rest) => {
        fc.pre(player !== other)
        let grants
        try {
          grants = grantsFrom({ player, read: [], write: [`player/${player}/${suffix}`] })
        } catch (error) {
          expect(error).toBeInstanceOf(PermissionPatternError)
          return
        }
        expect(canWrite(grants, `player/${other}/${rest}`)).toBe(false)
        if (canWrite(grants, rest)) expect(rest.startsWith(`player/${player}/`)).toBe(true)
      }),
    )
  })

  it('holds hand-built grants to the same ownership rule', () => {
    const all = parseDocumentPattern('**')
    expect(canWrite({ player: 'a/b', read: [], write: [all] }, 'player/a/b/x')).toBe(false)
    expect(canWrite({ player: 'p1', read: [], write: [all] }, 'world/1')).toBe(false)
    expect(canWrite({ player: 'p1', read: [], write: [all] }, 'player/p1/x')).toBe(true)
  })
})
