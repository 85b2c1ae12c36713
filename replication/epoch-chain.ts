import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { digest } from 'lib0/hash/sha256'
import {
  MalformedFrameError,
  MAX_NAME_BYTES,
  expectEnd,
  readStrictBytes,
  readStrictString,
  readStrictUint,
  toHexString,
} from '../core/index.js'
import { parseStateVector } from './sync-message.js'

/** Names one epoch of a document: its number, the peer that cut it, and the hash of its base content. */
export interface EpochId {
  /** 0 for a document's first epoch, then 1, 2, ... */
  readonly n: number
  /** The peer that decided the cut (empty for epoch 0). */
  readonly coordinator: string
  /** SHA-256 (hex) of the epoch's base update (empty for epoch 0). */
  readonly hash: string
}

/** One link of a document's chain: an epoch and the state vector of its parent at the cut that made it. */
export interface EpochLink {
  readonly id: EpochId
  /** `Y.encodeStateVector` of the parent epoch's replica at the coordinator when it cut (empty for epoch 0). */
  readonly cut: Uint8Array
}

/** The first epoch of every document: nothing cut it. */
export const GENESIS_EPOCH: EpochLink = { id: { n: 0, coordinator: '', hash: '' }, cut: new Uint8Array([0]) }

/** How many links an announcement carries: enough to find the fork point with any peer that is not far behind. */
export const MAX_CHAIN_LINKS = 32

const encoder = new TextEncoder()

/** A short, stable tag of an epoch id for wire names. */
export const epochTag = (id: EpochId): string => (id.n === 0 ? '' : toHexString(digest(encoder.encode(`${id.n}\u0000${id.coordinator}\u0000${id.hash}`))).slice(0, 16))

/** Whether two ids name the same epoch. */
export const sameEpoch = (a: EpochId, b: EpochId): boolean => a.n === b.n && a.coordinator === b.coordinator && a.hash === b.hash

/**
 * The name an epoch's replica travels under in sync, gossip and digest frames: the document's own
 * name for epoch 0 (so a peer without epochs interoperates until the first cut), `name#n.tag` after.
 * Frames of different epochs never reach the same Y.Doc.
 */
export const epochWireName = (doc: string, id: EpochId): string => (id.n === 0 ? doc : `${doc}#${id.n}.${epochTag(id)}`)

/** Splits a wire name into document and epoch number/tag; a name without an epoch suffix is epoch 0. */
export const parseEpochWireName = (wire: string): { readonly doc: string; readonly n: number; readonly tag: string } => {
  const hash = wire.lastIndexOf('#')
  const match = hash > 0 ? /^(\d{1,9})\.([0-9a-f]{16})$/.exec(wire.slice(hash + 1)) : null
  if (match === null) return { doc: wire, n: 0, tag: '' }
  return { doc: wire.slice(0, hash), n: Number(match[1]), tag: match[2] as string }
}

/** What comparing a peer's chain with ours decided. */
export type ChainVerdict =
  | { readonly kind: 'same' }
  /** Ours wins: the other peer should move to ours. */
  | { readonly kind: 'ours' }
  /** Theirs wins; `fork` is the last epoch both chains share (undefined when too far apart to tell), `cut` its cut state vector on their chain. */
  | { readonly kind: 'theirs'; readonly fork: EpochId | undefined; readonly cut: Uint8Array | undefined }

/**
 * Compares two chains (each a suffix, oldest first). A chain that extends the other wins; two
 * chains that forked (two coordinators cut the same epoch on two sides of a partition) are ordered
 * at the first epoch where they differ, lower coordinator id first, then lower hash. Deciding at the
 * fork point, not by length, keeps the order stable while both sides keep cutting, so every peer
 * picks the same winner whatever it hears first.
 */
export const compareChains = (ours: readonly EpochLink[], theirs: readonly EpochLink[]): ChainVerdict => {
  const ourTip = ours[ours.length - 1] as EpochLink
  const theirTip = theirs[theirs.length - 1] as EpochLink
  if (sameEpoch(ourTip.id, theirTip.id)) return { kind: 'same' }
  const ourByN = new Map(ours.map((link) => [link.id.n, link]))
  let fork: EpochLink | undefined
  for (const link of theirs) {
    const mine = ourByN.get(link.id.n)
    if (mine === undefined) {
      // Below our oldest link: unknown to us, look further. Past our tip: their chain extends ours.
      if (link.id.n < ourTip.id.n) continue
      return fork === undefined ? { kind: 'theirs', fork: undefined, cut: undefined } : { kind: 'theirs', fork: fork.id, cut: link.cut }
    }
    if (sameEpoch(mine.id, link.id)) {
      fork = mine
      continue
    }
    const theirsWins = link.id.coordinator < mine.id.coordinator || (link.id.coordinator === mine.id.coordinator && link.id.hash < mine.id.hash)
    if (!theirsWins) return { kind: 'ours' }
    return fork === undefined ? { kind: 'theirs', fork: undefined, cut: undefined } : { kind: 'theirs', fork: fork.id, cut: link.cut }
  }
  // Their chain ended inside ours (their tip is one of our epochs, or older than all we keep).
  return { kind: 'ours' }
}

/** What travels on the epoch channel. */
export type EpochMessage =
  /** A chain (oldest first, at most `MAX_CHAIN_LINKS`) and the base update of its tip epoch. */
  | { readonly kind: 'announce'; readonly doc: string; readonly chain: readonly EpochLink[]; readonly base: Uint8Array }
  /** Asks for an announcement: the asker saw frames of an epoch it does not know. */
  | { readonly kind: 'want'; readonly doc: string }

const ANNOUNCE = 0
const WANT = 1

/** Encodes an epoch channel message with lib0. */
export const encodeEpochMessage = (message: EpochMessage): Uint8Array => {
  const out = encoding.createEncoder()
  encoding.writeVarUint(out, message.kind === 'announce' ? ANNOUNCE : WANT)
  encoding.writeVarString(out, message.doc)
  if (message.kind === 'announce') {
    encoding.writeVarUint(out, message.chain.length)
    for (const link of message.chain) {
      encoding.writeVarUint(out, link.id.n)
      encoding.writeVarString(out, link.id.coordinator)
      encoding.writeVarString(out, link.id.hash)
      encoding.writeVarUint8Array(out, link.cut)
    }
    encoding.writeVarUint8Array(out, message.base)
  }
  return encoding.toUint8Array(out)
}

/** Decodes an epoch channel message strictly: numbers rising by one, bounded sizes; else `MalformedFrameError`. */
export const decodeEpochMessage = (payload: Uint8Array, maxBytes: number): EpochMessage => {
  const decoder = decoding.createDecoder(payload)
  const kind = readStrictUint(decoder, 'epoch message kind')
  const doc = readStrictString(decoder, 'epoch document', MAX_NAME_BYTES)
  if (kind === WANT) {
    expectEnd(decoder, 'epoch want')
    return { kind: 'want', doc }
  }
  if (kind !== ANNOUNCE) throw new MalformedFrameError(`unknown epoch message kind ${kind}`)
  const count = readStrictUint(decoder, 'epoch chain length')
  if (count === 0 || count > MAX_CHAIN_LINKS) throw new MalformedFrameError(`epoch chain of ${count} links`)
  const chain: EpochLink[] = []
  for (let i = 0; i < count; i++) {
    const n = readStrictUint(decoder, 'epoch number')
    const coordinator = readStrictString(decoder, 'epoch coordinator', MAX_NAME_BYTES)
    const hash = readStrictString(decoder, 'epoch hash', 64)
    const cut = readStrictBytes(decoder, 'epoch cut', maxBytes)
    parseStateVector(cut)
    const previous = chain[chain.length - 1]
    if (previous !== undefined && n !== previous.id.n + 1) throw new MalformedFrameError('epoch chain numbers must rise by one')
    if (n > 0 && !/^[0-9a-f]{64}$/.test(hash)) throw new MalformedFrameError('epoch hash must be 64 hex digits')
    chain.push({ id: { n, coordinator, hash }, cut })
  }
  const base = readStrictBytes(decoder, 'epoch base', maxBytes)
  expectEnd(decoder, 'epoch announcement')
  return { kind: 'announce', doc, chain, base }
}
