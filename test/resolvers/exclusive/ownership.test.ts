import { describe, expect, it } from 'vitest'
import { InvalidMembershipViewError, Membership, rendezvousOwner } from '../../../resolvers/index.js'

const members = ['peer-0', 'peer-1', 'peer-2', 'peer-3', 'peer-4']
const resources = Array.from({ length: 2000 }, (_, i) => `item:${i}`)

describe('rendezvous ownership', () => {
  it('is deterministic, independent of member order, and spreads resources over every member', () => {
    const counts = new Map<string, number>()
    for (const resource of resources) {
      const owner = rendezvousOwner(resource, { epoch: 1, members })
      expect(rendezvousOwner(resource, { epoch: 1, members: [...members].reverse() })).toBe(owner)
      counts.set(owner, (counts.get(owner) ?? 0) + 1)
    }
    for (const member of members) expect(counts.get(member)).toBeGreaterThan(resources.length / members.length / 2)
  })

  it('moves only the resources of a removed member', () => {
    const fewer = members.filter((m) => m !== 'peer-2')
    for (const resource of resources) {
      const before = rendezvousOwner(resource, { epoch: 1, members })
      const after = rendezvousOwner(resource, { epoch: 2, members: fewer })
      if (before !== 'peer-2') expect(after).toBe(before)
    }
  })

  it('refuses an empty view', () => {
    expect(() => rendezvousOwner('x', { epoch: 1, members: [] })).toThrow(InvalidMembershipViewError)
  })
})

describe('Membership', () => {
  it('changes ownership only by installing a newer view', () => {
    const membership = new Membership({ epoch: 1, members: ['b', 'a', 'a'] })
    expect(membership.view).toEqual({ epoch: 1, members: ['a', 'b'] })
    expect(['a', 'b']).toContain(membership.owner('item:x'))
    expect(() => membership.install({ epoch: 1, members: ['a'] })).toThrow(/not newer/)
    expect(() => membership.install({ epoch: 2, members: [] })).toThrow(/no members/)
    expect(() => new Membership({ epoch: -1, members: ['a'] })).toThrow(/epoch/)
    membership.install({ epoch: 2, members: ['a'] })
    expect(membership.owner('item:x')).toBe('a')
    const custom = new Membership({ epoch: 1, members: ['a', 'b'] }, () => 'b')
    expect(custom.owner('anything')).toBe('b')
  })
})
