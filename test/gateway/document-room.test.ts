import * as decoding from 'lib0/decoding'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DocumentRoom, type RoomMember } from '../../gateway/document-room.js'

/** A member that keeps the updates it was sent, decoded from y-websocket update frames. */
class Recorder implements RoomMember {
  readonly updates: Uint8Array[] = []
  epochChanged?: (epoch: number, cutHere: boolean) => void
  send(frame: Uint8Array): void {
    const decoder = decoding.createDecoder(frame)
    expect(decoding.readVarUint(decoder)).toBe(0) // sync message
    expect(decoding.readVarUint(decoder)).toBe(2) // update
    this.updates.push(decoding.readVarUint8Array(decoder))
  }
  /** What the member would see after applying everything it was sent. */
  content(): Record<string, unknown> {
    const doc = new Y.Doc()
    for (const update of this.updates) Y.applyUpdate(doc, update)
    return doc.getMap('m').toJSON()
  }
}

const setup = () => {
  const doc = new Y.Doc()
  const flushes: Array<() => void> = []
  const room = new DocumentRoom('d', doc, (flush) => flushes.push(flush))
  const [reader, writerA, writerB] = [new Recorder(), new Recorder(), new Recorder()]
  for (const member of [reader, writerA, writerB]) room.join(member)
  // Each writer edits its own replica (its own Yjs client), whose updates reach the room's
  // document with the writer as origin, as a client connection applies them.
  const replicas = new Map<unknown, Y.Doc>()
  const write = (origin: unknown, key: string, value: number) => {
    let replica = replicas.get(origin)
    if (!replica) {
      replica = new Y.Doc()
      replica.on('update', (update: Uint8Array) => Y.applyUpdate(doc, update, origin))
      replicas.set(origin, replica)
    }
    replica.getMap('m').set(key, value)
  }
  const runFlushes = () => flushes.splice(0).forEach((flush) => flush())
  return { doc, room, reader, writerA, writerB, write, runFlushes, flushes }
}

describe('DocumentRoom', () => {
  it('merges the updates of one turn into one frame per member, and a writer hears only the others', () => {
    const { room, reader, writerA, writerB, write, runFlushes, flushes } = setup()
    for (let i = 0; i < 5; i++) write(writerA, `a${i}`, i)
    write(writerB, 'b', 1)
    write('server', 's', 1)
    expect(flushes).toHaveLength(1)
    expect(reader.updates).toHaveLength(0)
    runFlushes()
    expect(reader.updates).toHaveLength(1)
    expect(reader.content()).toEqual({ a0: 0, a1: 1, a2: 2, a3: 3, a4: 4, b: 1, s: 1 })
    expect(writerA.updates).toHaveLength(1)
    expect(writerA.content()).toEqual({ b: 1, s: 1 })
    expect(writerB.updates).toHaveLength(1)
    expect(writerB.content()).toEqual({ a0: 0, a1: 1, a2: 2, a3: 3, a4: 4, s: 1 })
    room.destroy()
  })

  it('schedules its flush after what earlier update listeners of the document schedule in the same turn (the store commits before clients hear)', () => {
    const doc = new Y.Doc()
    const order: string[] = []
    // As the peer's store does: an update listener registered before the room that schedules its own work.
    doc.on('update', () => order.push('store'))
    const flushes: Array<() => void> = []
    const room = new DocumentRoom('d', doc, (flush) => {
      order.push('room')
      flushes.push(flush)
    })
    const reader = new Recorder()
    room.join(reader)
    doc.getMap('m').set('k', 1)
    expect(order).toEqual(['store', 'room'])
    expect(flushes).toHaveLength(1)
    flushes.splice(0).forEach((flush) => flush())
    expect(reader.content()).toEqual({ k: 1 })
    room.destroy()
  })

  it('merges a large turn in groups: every member still gets exactly the others\' writes', () => {
    const { doc, room, reader, writerA, writerB, write, runFlushes } = setup()
    for (let i = 0; i < 300; i++) write(i % 3 === 0 ? writerB : writerA, `k${i % 40}`, i)
    runFlushes()
    expect(reader.updates).toHaveLength(1)
    expect(reader.content()).toEqual(doc.getMap('m').toJSON())
    const clientsOf = (update: Uint8Array): number[] => [...Y.parseUpdateMeta(update).from.keys()]
    expect(clientsOf(reader.updates[0] as Uint8Array)).toHaveLength(2)
    // Each writer hears the other's 200 or 100 writes, none of its own.
    const [fromA, fromB] = [writerB.updates[0] as Uint8Array, writerA.updates[0] as Uint8Array]
    expect(clientsOf(fromA)).toHaveLength(1)
    expect(clientsOf(fromB)).toHaveLength(1)
    expect(clientsOf(fromA)[0]).not.toBe(clientsOf(fromB)[0])
    const count = (update: Uint8Array): number => [...Y.parseUpdateMeta(update).to.values()].reduce((sum, to) => sum + to, 0)
    expect(count(fromA)).toBe(200)
    expect(count(fromB)).toBe(100)
    room.destroy()
  })

  it('sends nothing to a lone writer, and nothing after the room is destroyed', () => {
    const { room, reader, writerA, write, runFlushes } = setup()
    room.leave(reader)
    write(writerA, 'k', 1)
    runFlushes()
    expect(writerA.updates).toHaveLength(0)
    write(writerA, 'k', 2)
    room.destroy()
    runFlushes()
    expect(reader.updates).toHaveLength(0)
  })

  it('moves to a new epoch replica: drops the old replica\'s held updates, tells members, relays the new one', () => {
    const { room, reader, doc, runFlushes } = setup()
    const told: Array<[number, boolean]> = []
    reader.epochChanged = (epoch: number, cutHere: boolean) => told.push([epoch, cutHere])
    doc.getMap('m').set('old', 1)
    const next = new Y.Doc()
    room.rebind(next, 1, true)
    room.rebind(next, 1, true)
    expect(told).toEqual([[1, true]])
    expect(room.doc).toBe(next)
    runFlushes()
    expect(reader.updates).toHaveLength(0)
    doc.getMap('m').set('later-old', 1)
    next.getMap('m').set('new', 2)
    runFlushes()
    expect(reader.content()).toEqual({ new: 2 })
    room.destroy()
    next.getMap('m').set('after-destroy', 3)
    runFlushes()
    expect(reader.updates).toHaveLength(1)
  })

  it('flushes at once when a turn holds too many bytes', () => {
    const { room, reader, doc, runFlushes } = setup()
    doc.getMap('m').set('big', 'x'.repeat(300 * 1024))
    expect(reader.updates).toHaveLength(1)
    runFlushes()
    expect(reader.updates).toHaveLength(1)
    expect((reader.content().big as string).length).toBe(300 * 1024)
    room.destroy()
  })
})
