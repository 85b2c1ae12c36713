import type { WorldDoc } from '../../core/index.js'
import { accept, refuse } from '../action-handler.js'
import { payloadField } from '../anticheat/index.js'
import type { ActionResolver } from './resolver.js'

// Escrow as a bounded counter (Balegas et al., "Putting consistency back into eventual
// consistency", 2015): a scarce stock is split into per-peer shares. Each peer writes only its own
// fields (what it spent, what it sent to whom), so there are no concurrent writes to one key; a peer
// spends or gives away only what its own view says it has, and that view can only under-count
// (credits from others may still be on the way, its own debits never are). So the sum spent never
// exceeds the stock, on any replica, partition or not, with no coordination per sale.

/** The component an escrowed stock keeps its shares in. */
export const ESCROW_COMPONENT = 'escrow'

const shareField = (peer: string): string => `share:${peer}`
const spentField = (peer: string): string => `spent:${peer}`
const sentField = (from: string, to: string): string => `sent:${JSON.stringify([from, to])}`

/** Totals of an escrowed stock as one replica sees them. */
export interface EscrowTotals {
  /** Sum of the initial shares. */
  readonly stock: number
  /** Sum spent by every peer. */
  readonly spent: number
  /** Per peer: what it may still spend, as this replica sees it. */
  readonly available: Readonly<Record<string, number>>
}

const numberOf = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0)

/** Creates an escrowed stock on an entity with each peer's initial share (whole, non-negative numbers). */
export const createEscrow = (world: WorldDoc, stock: string, shares: Readonly<Record<string, number>>, kind = 'stock'): void => {
  for (const [peer, share] of Object.entries(shares)) {
    if (!Number.isSafeInteger(share) || share < 0) throw new RangeError(`share of ${peer} must be a whole non-negative number, got ${share}`)
  }
  world.createEntity(stock, kind, { [ESCROW_COMPONENT]: Object.fromEntries(Object.entries(shares).map(([peer, share]) => [shareField(peer), share])) })
}

/** Every peer's available amount, the stock and the total spent, from one read of the component. */
export const escrowTotals = (world: WorldDoc, stock: string): EscrowTotals => {
  const fields = world.getComponent(stock, ESCROW_COMPONENT) ?? {}
  const available: Record<string, number> = {}
  let total = 0
  let spent = 0
  const add = (peer: string, amount: number): void => {
    available[peer] = (available[peer] ?? 0) + amount
  }
  for (const [field, raw] of Object.entries(fields)) {
    const value = numberOf(raw)
    if (field.startsWith('share:')) {
      total += value
      add(field.slice(6), value)
    } else if (field.startsWith('spent:')) {
      spent += value
      add(field.slice(6), -value)
    } else if (field.startsWith('sent:')) {
      const pair = JSON.parse(field.slice(5)) as unknown
      if (Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string') {
        add(pair[0], -value)
        add(pair[1], value)
      }
    }
  }
  return { stock: total, spent, available }
}

/** What a peer may still spend or give away, as this replica sees it. */
export const escrowAvailable = (world: WorldDoc, stock: string, peer: string): number => escrowTotals(world, stock).available[peer] ?? 0

const isAmount = (amount: number): boolean => Number.isSafeInteger(amount) && amount > 0

/** Spends from this peer's share; false (and nothing written) if the share cannot cover it. */
export const spendEscrow = (world: WorldDoc, stock: string, peer: string, amount: number): boolean => {
  if (!isAmount(amount) || escrowAvailable(world, stock, peer) < amount) return false
  const field = spentField(peer)
  world.setComponent(stock, ESCROW_COMPONENT, { [field]: numberOf(world.getComponent(stock, ESCROW_COMPONENT)?.[field]) + amount })
  return true
}

/** Moves part of this peer's share to another peer (rebalancing); false if the share cannot cover it. */
export const transferEscrow = (world: WorldDoc, stock: string, from: string, to: string, amount: number): boolean => {
  if (from === to || !isAmount(amount) || escrowAvailable(world, stock, from) < amount) return false
  const field = sentField(from, to)
  world.setComponent(stock, ESCROW_COMPONENT, { [field]: numberOf(world.getComponent(stock, ESCROW_COMPONENT)?.[field]) + amount })
  return true
}

/**
 * What a peer short of share should ask for, and from whom: the peer that (as this replica sees it)
 * has the most, for half its surplus over this peer's or `need`, whichever is more, capped by what
 * it has. Undefined when nobody has anything to give.
 */
export const planRebalance = (world: WorldDoc, stock: string, self: string, need: number): { from: string; amount: number } | undefined => {
  const { available } = escrowTotals(world, stock)
  const mine = available[self] ?? 0
  let richest: string | undefined
  for (const [peer, amount] of Object.entries(available).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (peer !== self && amount > (richest === undefined ? 0 : (available[richest] ?? 0))) richest = peer
  }
  if (richest === undefined) return undefined
  const theirs = available[richest] ?? 0
  const amount = Math.min(theirs, Math.max(need, Math.floor((theirs - mine) / 2)))
  return amount > 0 ? { from: richest, amount } : undefined
}

/** A donor's answer to a rebalancing request: gives at most half of what it has, so it keeps selling too. */
export const grantRebalance = (world: WorldDoc, stock: string, self: string, to: string, asked: number): number => {
  const amount = Math.min(Math.floor(asked), Math.floor(escrowAvailable(world, stock, self) / 2))
  return amount > 0 && transferEscrow(world, stock, self, to, amount) ? amount : 0
}

/** Settings of `purchaseResolver`. */
export interface PurchaseResolverOptions {
  /** The peer selling (whose share is spent). */
  readonly peer: string
  /** The action name. Default `buy`. */
  readonly action?: string
}

/**
 * Buying from an escrowed stock: commutative, so it stays available in a partition; each peer sells
 * from its own share and refuses with `conflict` (sold out here) when its share is spent.
 */
export const purchaseResolver = (options: PurchaseResolverOptions): ActionResolver => ({
  action: options.action ?? 'buy',
  kind: 'commutative',
  validate: ({ world, intent }) => {
    const stock = payloadField(intent.payload, 'stock')
    const amount = payloadField(intent.payload, 'amount')
    if (typeof stock !== 'string' || !world.hasEntity(stock)) return refuse('invalid-intent', 'payload.stock must name an escrowed stock')
    if (typeof amount !== 'number' || !isAmount(amount)) return refuse('invalid-intent', 'payload.amount must be a positive whole number')
    const left = escrowAvailable(world, stock, options.peer)
    return left >= amount ? accept() : refuse('conflict', `this server's share of ${stock} has ${left} left`)
  },
  apply: ({ world, intent }) => {
    const stock = payloadField(intent.payload, 'stock') as string
    spendEscrow(world, stock, options.peer, payloadField(intent.payload, 'amount') as number)
    return escrowAvailable(world, stock, options.peer)
  },
})
