import { RealmsyncError, type Millis } from '../../core/index.js'

/**
 * The set of peers that may own resources, numbered by epoch. A view changes only by an explicit
 * `install` (an operator, a majority decision), never because a peer stopped answering: if liveness
 * moved ownership, both sides of a partition would each find an owner on their side and grant the
 * same item twice. Liveness decides only whether the owner is reachable right now.
 */
export interface MembershipView {
  readonly epoch: number
  /** Member peer ids; order does not matter. */
  readonly members: readonly string[]
}

/** Maps a resource id to the member that owns it under a view; must be deterministic so every peer agrees. */
export type OwnershipFunction = (resource: string, view: MembershipView) => string

/** A membership view is empty or not newer than the installed one. */
export class InvalidMembershipViewError extends RealmsyncError {
  constructor(detail: string) {
    super('invalid-membership-view', `membership view refused: ${detail}`)
  }
}

// FNV-1a over UTF-16 code units with murmur3's final mix: fast, stable across machines and well
// enough spread for rendezvous scores (no adversary chooses our peer ids). 32 bits suffice: a tie
// between two members is broken by id below.
const score = (member: string, resource: string): number => {
  let h = 0x811c9dc5
  const text = `${member}\u0000${resource}`
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * Rendezvous (highest random weight) hashing: the member with the highest score for the resource
 * owns it. Adding or removing one member moves only the resources that member wins or held.
 */
export const rendezvousOwner: OwnershipFunction = (resource, view) => {
  let best: string | undefined
  let bestScore = -1
  for (const member of view.members) {
    const s = score(member, resource)
    if (s > bestScore || (s === bestScore && best !== undefined && member < best)) {
      best = member
      bestScore = s
    }
  }
  if (best === undefined) throw new InvalidMembershipViewError('no members')
  return best
}

/** The installed membership view of one peer and the ownership function over it. */
export class Membership {
  private current: MembershipView
  private previousView: MembershipView | undefined
  private installedAt: Millis = 0

  constructor(
    view: MembershipView,
    /** Default: `rendezvousOwner`. */
    readonly ownerOf: OwnershipFunction = rendezvousOwner,
  ) {
    Membership.check(view)
    this.current = { epoch: view.epoch, members: [...new Set(view.members)].sort() }
  }

  /** The installed view. */
  get view(): MembershipView {
    return this.current
  }

  /** The owner of a resource under the installed view. */
  owner(resource: string): string {
    return this.ownerOf(resource, this.current)
  }

  /**
   * Installs a newer view at time `atMs` (the injected clock's); an older or equal epoch is refused,
   * so a delayed announcement cannot roll ownership back. The view before it is kept, so settlement
   * can hold back resources whose owner changed until the handover window has passed.
   */
  install(view: MembershipView, atMs: Millis = 0): void {
    Membership.check(view)
    if (view.epoch <= this.current.epoch) throw new InvalidMembershipViewError(`epoch ${view.epoch} is not newer than ${this.current.epoch}`)
    this.previousView = this.current
    this.installedAt = atMs
    this.current = { epoch: view.epoch, members: [...new Set(view.members)].sort() }
  }

  /** When the current view was installed, and the owner of a resource under the view before it (undefined for the first view). */
  previousOwner(resource: string): { readonly owner: string; readonly since: Millis } | undefined {
    return this.previousView === undefined ? undefined : { owner: this.ownerOf(resource, this.previousView), since: this.installedAt }
  }

  private static check(view: MembershipView): void {
    if (!Number.isSafeInteger(view.epoch) || view.epoch < 0) throw new InvalidMembershipViewError(`epoch ${view.epoch} is not a non-negative integer`)
    if (view.members.length === 0) throw new InvalidMembershipViewError('no members')
  }
}
