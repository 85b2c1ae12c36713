import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { WorldDoc } from '../../core/index.js'

// Why `transientHolderGaps` can be non-zero under loss although every move is one transaction writing
// one `holder` key: Yjs applies an update's delete set at once for every struct the replica has,
// but holds back (pending) every struct whose writer's earlier updates it lacks. A move deletes the
// previous holder value and inserts the new one; a replica that lost any earlier update of the same
// writer (on any key) applies the delete and parks the insert, so the item shows no holder until the
// lost update is repaired. The layout cannot prevent that; only the apply path can (hold an update
// back until its writers' earlier updates are there), which the second test shows.

const alice = { type: 'player' as const, id: 'alice' }
const bob = { type: 'player' as const, id: 'bob' }

/** A writer and a replica that starts equal to it, and each of the writer's transactions as one update. */
const setup = () => {
  const writerDoc = new Y.Doc()
  const writer = new WorldDoc(writerDoc)
  writer.createItem('sword', 'weapon')
  writer.createItem('shield', 'armour')
  const replicaDoc = new Y.Doc()
  Y.applyUpdate(replicaDoc, Y.encodeStateAsUpdate(writerDoc))
  const updates: Uint8Array[] = []
  writerDoc.on('update', (update: Uint8Array) => updates.push(update))
  return { writerDoc, writer, replicaDoc, replica: new WorldDoc(replicaDoc), updates }
}

describe('transient holder gaps under loss', () => {
  it('a replica that lost an earlier update of the writer shows the item without a holder until the repair', () => {
    const { writer, replicaDoc, replica, updates } = setup()
    writer.moveItem('sword', alice) // [0] arrives
    writer.moveItem('shield', bob) // [1] lost: another item entirely
    writer.moveItem('sword', bob) // [2] arrives: deletes alice's holder value (known here), inserts bob's (parked behind [1])
    Y.applyUpdate(replicaDoc, updates[0]!)
    expect(replica.getItem('sword')?.holder).toEqual(alice)
    Y.applyUpdate(replicaDoc, updates[2]!)
    expect(replica.checkSingleHolder().map((v) => v.item)).toContain('sword')
    expect(replica.getItem('sword')?.holder).toEqual({ type: 'none' })
    // The version was written in the same transaction: its insert is parked too, and its delete applied.
    expect(replica.itemVersion('sword')).toBe(0)
    // Anti-entropy repairs the lost update: the parked structs integrate and the gap closes.
    Y.applyUpdate(replicaDoc, updates[1]!)
    expect(replica.checkSingleHolder()).toEqual([])
    expect(replica.getItem('sword')?.holder).toEqual(bob)
    expect(replica.itemVersion('sword')).toBe(2)
  })

  it('an apply path that holds an update back until its writers are contiguous never shows the gap', () => {
    const { writer, replicaDoc, replica, updates } = setup()
    writer.moveItem('sword', alice)
    writer.moveItem('shield', bob)
    writer.moveItem('sword', bob)
    const held: Uint8Array[] = []
    // Apply only updates whose every writer starts where this replica is; retry the held ones after each apply.
    const contiguous = (update: Uint8Array): boolean => {
      const local = Y.encodeStateVector(replicaDoc)
      const have = Y.decodeStateVector(local)
      for (const [client, from] of Y.parseUpdateMeta(update).from) if ((have.get(client) ?? 0) < from) return false
      return true
    }
    const deliver = (update: Uint8Array): void => {
      held.push(update)
      for (let progress = true; progress; ) {
        progress = false
        for (const [i, next] of held.entries()) {
          if (!contiguous(next)) continue
          Y.applyUpdate(replicaDoc, next)
          held.splice(i, 1)
          progress = true
          break
        }
      }
      // Every state this replica shows has a holder for every item.
      expect(replica.checkSingleHolder()).toEqual([])
    }
    deliver(updates[0]!)
    deliver(updates[2]!)
    expect(replica.getItem('sword')?.holder).toEqual(alice)
    expect(held).toHaveLength(1)
    deliver(updates[1]!)
    expect(held).toHaveLength(0)
    expect(replica.getItem('sword')?.holder).toEqual(bob)
  })
})
