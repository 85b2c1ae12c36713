import { createHash } from 'node:crypto'
import { canonicalJson, type WorldDoc } from '../core/index.js'

/**
 * SHA-256 (hex) of a world's content (every entity with its components, every item with its
 * holder) in canonical JSON: two worlds hash equal exactly when a player could not tell them apart,
 * whatever Yjs client ids or write order produced them.
 */
export const worldStateHash = (world: WorldDoc): string => {
  const entities = Object.fromEntries(world.listEntities().map((entity) => [entity.id, entity]))
  const items = Object.fromEntries(world.listItems().map((item) => [item.id, item]))
  return createHash('sha256').update(canonicalJson({ entities, items })).digest('hex')
}
