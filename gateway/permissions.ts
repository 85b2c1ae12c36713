import { RealmsyncError } from '../core/index.js'

/**
 * Per-document permissions as glob patterns over document names.
 *
 * A document name is split on `/` into segments. A pattern is a `/`-separated list of segments:
 * - `*` matches exactly one non-empty segment (`world/*` matches `world/1`, not `world/1/economy`);
 * - `**` matches any number of segments, zero included (`**` matches every name; `world/**`
 *   matches `world`, `world/1` and `world/1/region/3`);
 * - anything else is a literal segment, compared exactly (no regular expressions anywhere, so
 *   characters such as `.`, `+` or `(` mean themselves).
 * A wildcard must be a whole segment (`p*` is refused), and empty segments (`a//b`, a leading or
 * trailing `/`) are refused: both raise a `PermissionPatternError`.
 *
 * Permissions are per document, never per key inside a document (DESIGN.md decision 5). A player
 * may write only documents that are wholly theirs: a write grant is honoured only when its pattern
 * lies under `player/<their id>/`, and `canWrite` also checks the document name itself.
 */

/** Longest pattern accepted, in UTF-8 bytes (the same bound as a document name on the wire). */
export const MAX_PATTERN_BYTES = 512

/** Longest player id accepted, in UTF-8 bytes. */
export const MAX_PLAYER_ID_BYTES = 128

/** One parsed pattern segment. */
export type PatternSegment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'one' }
  | { readonly kind: 'any' }

/** A parsed document-name pattern; build it with `parseDocumentPattern`. */
export interface DocumentPattern {
  /** The pattern as written, e.g. `player/p1/*`. */
  readonly source: string
  readonly segments: readonly PatternSegment[]
}

/** What a verified session may read and write. */
export interface Grants {
  /** The player id (the token's `sub`). */
  readonly player: string
  readonly read: readonly DocumentPattern[]
  readonly write: readonly DocumentPattern[]
  /** When the grant runs out, in milliseconds since the epoch (the token's `exp`), if known. */
  readonly expiresAt?: number
}

/** A permission pattern or player id is malformed; says which and why. */
export class PermissionPatternError extends RealmsyncError {
  /** The offending pattern or player id. */
  readonly pattern: string

  constructor(pattern: string, reason: string) {
    super('bad-permission-pattern', `invalid permission pattern '${pattern.slice(0, 80)}': ${reason}`)
    this.pattern = pattern
  }
}

/** A grant asks for more than a player may have (a write outside `player/<id>/`). */
export class ForbiddenGrantError extends RealmsyncError {
  /** The player the grant was for. */
  readonly player: string
  /** The refused pattern. */
  readonly pattern: string

  constructor(player: string, pattern: string) {
    super('forbidden-grant', `player '${player}' may write only documents under 'player/${player}/', not '${pattern.slice(0, 80)}'`)
    this.player = player
    this.pattern = pattern
  }
}

const utf8 = new TextEncoder()
const byteLength = (text: string): number => utf8.encode(text).length
const CONTROL = /[\u0000-\u001f\u007f]/u

/** Parses a pattern; throws `PermissionPatternError` when it is malformed. */
export const parseDocumentPattern = (source: string): DocumentPattern => {
  if (typeof source !== 'string') throw new PermissionPatternError(String(source), 'a pattern must be a string')
  if (source.length === 0) throw new PermissionPatternError(source, 'a pattern must not be empty')
  if (byteLength(source) > MAX_PATTERN_BYTES) throw new PermissionPatternError(source, `a pattern must be at most ${MAX_PATTERN_BYTES} bytes`)
  if (CONTROL.test(source)) throw new PermissionPatternError(source, 'a pattern must not contain control characters')
  const segments: PatternSegment[] = []
  for (const text of source.split('/')) {
    if (text.length === 0) throw new PermissionPatternError(source, 'empty segment (leading, trailing or doubled /)')
    if (text === '*') segments.push({ kind: 'one' })
    else if (text === '**') {
      // `a/**/**/b` means the same as `a/**/b`; collapsing keeps matching linear in practice.
      if (segments.at(-1)?.kind !== 'any') segments.push({ kind: 'any' })
    } else if (text.includes('*')) throw new PermissionPatternError(source, `'${text.slice(0, 40)}': a wildcard must be a whole segment (* or **)`)
    else segments.push({ kind: 'literal', text })
  }
  return { source, segments }
}

/** Whether `pattern` matches the document name `doc` (see the module comment for the rules). */
export const matchesDocument = (pattern: DocumentPattern, doc: string): boolean => {
  const names = doc.split('/')
  const segments = pattern.segments
  // reachable[j]: the segments matched so far can end just before name j. Dynamic programming over
  // (pattern segment, name segment) keeps the cost at O(segments x names) with no backtracking blow-up.
  let reachable: boolean[] = new Array<boolean>(names.length + 1).fill(false)
  reachable[0] = true
  for (const segment of segments) {
    const next: boolean[] = new Array<boolean>(names.length + 1).fill(false)
    if (segment.kind === 'any') {
      let seen = false
      for (let j = 0; j <= names.length; j++) {
        seen = seen || reachable[j] === true
        next[j] = seen
      }
    } else {
      for (let j = 0; j < names.length; j++) {
        if (reachable[j] !== true) continue
        const name = names[j] as string
        if (segment.kind === 'one' ? name.length > 0 : name === segment.text) next[j + 1] = true
      }
    }
    reachable = next
  }
  return reachable[names.length] === true
}

/** Throws `PermissionPatternError` unless `player` can be used as one document-name segment. */
export const assertPlayerId = (player: string): void => {
  if (typeof player !== 'string' || player.length === 0) throw new PermissionPatternError(String(player), 'a player id must be a non-empty string')
  // A `/` would let player `a/b` reach into player `a`'s documents; `*` would read as a wildcard.
  if (player.includes('/') || player.includes('*')) throw new PermissionPatternError(player, "a player id must not contain '/' or '*'")
  if (CONTROL.test(player)) throw new PermissionPatternError(player, 'a player id must not contain control characters')
  if (byteLength(player) > MAX_PLAYER_ID_BYTES) throw new PermissionPatternError(player, `a player id must be at most ${MAX_PLAYER_ID_BYTES} bytes`)
}

const isSegmentName = (player: string): boolean => player.length > 0 && !player.includes('/') && !player.includes('*')

/** The prefix of every document wholly owned by `player`: `player/<id>/`. */
export const ownedPrefix = (player: string): string => `player/${player}/`

/** Whether a write pattern stays inside `player/<player>/` (and names at least one segment below it). */
export const isOwnedWritePattern = (player: string, pattern: DocumentPattern): boolean => {
  const [first, second, ...rest] = pattern.segments
  return (
    first?.kind === 'literal' &&
    first.text === 'player' &&
    second?.kind === 'literal' &&
    second.text === player &&
    // `player/p1/**` would also match `player/p1` itself; canWrite refuses that name separately.
    rest.length > 0
  )
}

/** The grant lists as a token carries them. */
export interface GrantClaims {
  readonly player: string
  readonly read: readonly string[]
  readonly write: readonly string[]
  readonly expiresAt?: number
}

/**
 * Checks and parses grant claims. Throws `PermissionPatternError` for a malformed pattern or player
 * id and `ForbiddenGrantError` for a write pattern outside `player/<player>/`.
 */
export const grantsFrom = (claims: GrantClaims): Grants => {
  assertPlayerId(claims.player)
  const read = claims.read.map(parseDocumentPattern)
  const write = claims.write.map(parseDocumentPattern)
  for (const pattern of write) {
    if (!isOwnedWritePattern(claims.player, pattern)) throw new ForbiddenGrantError(claims.player, pattern.source)
  }
  return { player: claims.player, read, write, ...(claims.expiresAt !== undefined ? { expiresAt: claims.expiresAt } : {}) }
}

/** Whether the session may read (sync from) document `doc`. Writing implies reading. */
export const canRead = (grants: Grants, doc: string): boolean =>
  grants.read.some((pattern) => matchesDocument(pattern, doc)) || canWrite(grants, doc)

/** Whether the session may write document `doc`: only documents under `player/<id>/`, and only where a write grant matches. */
export const canWrite = (grants: Grants, doc: string): boolean =>
  // Checked again here, not only in grantsFrom, because a host's own hook may build grants by hand.
  isSegmentName(grants.player) &&
  doc.startsWith(ownedPrefix(grants.player)) &&
  doc.length > ownedPrefix(grants.player).length &&
  grants.write.some((pattern) => matchesDocument(pattern, doc))
