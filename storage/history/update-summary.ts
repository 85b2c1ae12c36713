import * as Y from 'yjs'
import type { KeyChange, ObservedChanges, SequenceChange } from './change-observer.js'
import type { HolderMove, WorldChanges } from './world-tracker.js'

/** What one update changed, decoded with Yjs's own APIs (`Y.decodeUpdate` and change events on a scratch document). */
export interface UpdateSummary {
  /** Root types touched. */
  readonly roots: readonly string[]
  /** `root/key` for every top-level key touched (for world documents: `entities/<id>`, `items/<id>`). */
  readonly paths: readonly string[]
  /** Every map key added, overwritten or deleted, at any depth, with values before and after. */
  readonly keys: readonly KeyChange[]
  /** Arrays and texts edited. */
  readonly sequences: readonly SequenceChange[]
  /** Entities touched (world documents). */
  readonly entities: readonly string[]
  /** Items touched (world documents). */
  readonly items: readonly string[]
  /** Items whose holder changed, with from and to. */
  readonly holders: readonly HolderMove[]
  /** Structs (insertions) the update carries, per `Y.decodeUpdate`. */
  readonly structs: number
  /** Deleted ranges the update carries. */
  readonly deletedRanges: number
  /** Whether the document still waits for a missing dependency after this update (its changes show when it arrives). */
  readonly pending: boolean
}

const pathText = (path: readonly (string | number)[]): string => path.join('/')

/** Builds the summary of one applied update from its bytes, the observed changes and the world reading. */
export const summarizeUpdate = (update: Uint8Array, observed: ObservedChanges, world: WorldChanges, doc: Y.Doc): UpdateSummary => {
  const decoded = Y.decodeUpdate(update)
  let deletedRanges = 0
  for (const ranges of decoded.ds.clients.values()) deletedRanges += ranges.length
  const touched = [...observed.keys.map((k) => k.path), ...observed.sequences.map((s) => s.path)]
  const roots = new Set<string>()
  const paths = new Set<string>()
  for (const path of touched) {
    roots.add(String(path[0]))
    paths.add(pathText(path.slice(0, 2)))
  }
  return {
    roots: [...roots].sort(),
    paths: [...paths].sort(),
    keys: observed.keys,
    sequences: observed.sequences,
    entities: world.entities,
    items: world.items,
    holders: world.holders,
    structs: decoded.structs.length,
    deletedRanges,
    pending: doc.store.pendingStructs !== null || doc.store.pendingDs !== null,
  }
}

const valueText = (value: unknown): string => JSON.stringify(value) ?? '(none)'

/**
 * One line for a table: holder moves first (`items/sword holder none -> player:p1`), then other
 * changes by path, each key change as `path before -> after`, capped so a big update stays one line.
 */
export const describeSummary = (summary: UpdateSummary, maxParts = 6): string => {
  const parts: string[] = []
  const described = new Set<string>()
  for (const move of summary.holders) {
    const path = `items/${move.item}`
    described.add(path)
    if (move.from === undefined) parts.push(`${path} created (${move.to})`)
    else if (move.to === undefined) parts.push(`${path} removed (was ${move.from})`)
    else parts.push(`${path} holder ${move.from} -> ${move.to}`)
  }
  for (const change of summary.keys) {
    const top = pathText(change.path.slice(0, 2))
    if (described.has(top)) continue
    if (change.path.length <= 2) {
      described.add(top)
      parts.push(`${top} ${change.action === 'add' ? 'created' : change.action === 'delete' ? 'removed' : 'replaced'}`)
    } else {
      parts.push(`${pathText(change.path)} ${change.action === 'add' ? '= ' + valueText(change.after) : change.action === 'delete' ? 'deleted' : `${valueText(change.before)} -> ${valueText(change.after)}`}`)
    }
  }
  for (const change of summary.sequences) parts.push(`${pathText(change.path)} +${change.inserted}/-${change.deleted}`)
  if (parts.length === 0) return summary.pending ? '(waiting for a missing earlier update)' : '(no visible change)'
  return parts.length > maxParts ? `${parts.slice(0, maxParts).join('; ')}; ... ${parts.length - maxParts} more` : parts.join('; ')
}
