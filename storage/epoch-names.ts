/**
 * How a stored document name tells an epoch apart. With epochs on, a peer persists epoch 0 of a
 * document under the document's own name and epoch n > 0 under its wire name `name#<n>.<tag>`
 * (`epochWireName` in replication/epoch-chain.ts; storage depends on core only, so the shape is
 * read here, and a test checks both agree).
 */
export interface StoredEpochName {
  /** The document the epoch belongs to. */
  readonly doc: string
  /** The epoch number, 0 for a plain document name. */
  readonly n: number
  /** The 16 hex digits naming the epoch id, empty for epoch 0. */
  readonly tag: string
}

/** Splits a stored name into document, epoch number and tag; a name without an epoch suffix is epoch 0. */
export const parseStoredEpochName = (name: string): StoredEpochName => {
  const hash = name.lastIndexOf('#')
  const match = hash > 0 ? /^(\d{1,9})\.([0-9a-f]{16})$/.exec(name.slice(hash + 1)) : null
  if (match === null) return { doc: name, n: 0, tag: '' }
  return { doc: name.slice(0, hash), n: Number(match[1]), tag: match[2] as string }
}
