import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeSessionBatch, SESSION_BATCH_LIMITS, type IntentResult, type SessionBatchItem } from '../../core/index.js'
import { SessionFlusher, SessionOutbox, type BatchSink, type EphemeralBatch } from '../../gateway/index.js'

// Batching on the intent channel: what one client is owed between two flushes leaves as one frame
// (more only past the soft size), ephemeral items before answers, nothing once the client is gone.

class Sink implements BatchSink {
  readonly frames: Uint8Array[] = []
  open = true
  sendBatchFrame(frame: Uint8Array): boolean {
    if (!this.open) return false
    this.frames.push(frame)
    return true
  }
  get items(): SessionBatchItem[] {
    return this.frames.flatMap((frame) => decodeSessionBatch(frame))
  }
}

const ack = (seq: number): IntentResult => ({ type: 'ack', seq, result: seq })
const batch = (entries: EphemeralBatch['entries'], gone: string[] = []): EphemeralBatch => ({ type: 'ephemeral', entries, gone })

describe('SessionOutbox', () => {
  it('sends everything queued between two flushes as one frame, ephemeral items first, each kind in order', () => {
    const flusher = new SessionFlusher('tick')
    const sink = new Sink()
    const outbox = new SessionOutbox(sink, flusher)
    outbox.queueAnswer(ack(1))
    outbox.queueEphemeral(batch([{ entity: 'orc', field: 'position', value: { x: 1, y: 2 } }], ['elf']))
    outbox.queueAnswer(ack(2))
    outbox.queueEphemeral(batch([{ entity: 'orc', field: 'hp', value: 3 }]))
    expect(sink.frames).toHaveLength(0)
    flusher.flush()
    expect(sink.frames).toHaveLength(1)
    expect(flusher.frames).toBe(1)
    expect(sink.items).toEqual([
      { kind: 'ephemeral', entries: [{ entity: 'orc', field: 'position', value: { x: 1, y: 2 } }], gone: ['elf'] },
      { kind: 'ephemeral', entries: [{ entity: 'orc', field: 'hp', value: 3 }], gone: [] },
      { kind: 'answer', result: ack(1) },
      { kind: 'answer', result: ack(2) },
    ])
    flusher.flush()
    expect(sink.frames).toHaveLength(1)
  })

  it('encodes a register once for every client that sees it in a flush', () => {
    const flusher = new SessionFlusher('tick')
    const register = { entity: 'orc', field: 'position', value: { x: 1, y: 2 } }
    expect(flusher.registerBytes(register)).toBe(flusher.registerBytes(register))
    const sinks = [new Sink(), new Sink()]
    for (const sink of sinks) new SessionOutbox(sink, flusher).queueEphemeral(batch([register]))
    flusher.flush()
    expect(sinks.map((sink) => sink.items)).toEqual([0, 1].map(() => [{ kind: 'ephemeral', entries: [register], gone: [] }]))
    // A flush forgets the encodings: registers are the store's entries, and a new value is a new entry.
    const before = flusher.registerBytes(register)
    flusher.flush()
    expect(flusher.registerBytes(register)).not.toBe(before)
  })

  it('splits what outgrows the soft frame size over several frames, losing and reordering nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 12 }), fc.array(fc.nat({ max: 3 }), { maxLength: 8 }), (sizes, answers) => {
        const flusher = new SessionFlusher('tick')
        const sink = new Sink()
        const outbox = new SessionOutbox(sink, flusher)
        const entries = sizes.map((size, index) => ({ entity: `e${index}`, field: 'blob', value: 'x'.repeat(size) }))
        outbox.queueEphemeral(batch(entries, ['gone']))
        answers.forEach((_, seq) => outbox.queueAnswer(ack(seq)))
        flusher.flush()
        for (const frame of sink.frames) expect(frame.length).toBeLessThanOrEqual(SESSION_BATCH_LIMITS.softFrameBytes + 100_000)
        const total = sizes.reduce((sum, size) => sum + size, 0)
        if (total + answers.length * 10 < SESSION_BATCH_LIMITS.softFrameBytes / 2) expect(sink.frames).toHaveLength(1)
        const items = sink.items
        const ephemeral = items.filter((item) => item.kind === 'ephemeral')
        expect(ephemeral.flatMap((item) => item.entries)).toEqual(entries)
        expect(ephemeral[0]?.gone).toEqual(['gone'])
        expect(ephemeral.slice(1).every((item) => item.gone.length === 0)).toBe(true)
        expect(items.filter((item) => item.kind === 'answer')).toEqual(answers.map((_, seq) => ({ kind: 'answer', result: ack(seq) })))
        expect(items.findIndex((item) => item.kind === 'answer')).toBe(answers.length === 0 ? -1 : ephemeral.length)
      }),
      { numRuns: 40 },
    )
  })

  it('drops what is left once the client is gone, and what was queued before a close', () => {
    const flusher = new SessionFlusher('tick')
    const sink = new Sink()
    const outbox = new SessionOutbox(sink, flusher)
    outbox.queueEphemeral(batch(Array.from({ length: 3 }, (_, index) => ({ entity: `e${index}`, field: 'blob', value: 'x'.repeat(200_000) }))))
    sink.open = false
    flusher.flush()
    expect(sink.frames).toHaveLength(0)
    expect(outbox.empty).toBe(true)
    sink.open = true
    outbox.queueAnswer(ack(1))
    outbox.clear()
    flusher.flush()
    expect(sink.frames).toHaveLength(0)
  })

  it('flushes at the end of the event-loop turn in immediate mode, and only when asked in tick mode', async () => {
    const immediate = new SessionFlusher('immediate')
    const tick = new SessionFlusher('tick')
    const sinks = [new Sink(), new Sink()]
    new SessionOutbox(sinks[0] as Sink, immediate).queueAnswer(ack(1))
    new SessionOutbox(sinks[1] as Sink, tick).queueAnswer(ack(1))
    expect(sinks[0]?.frames).toHaveLength(0)
    await new Promise((resolve) => setImmediate(resolve))
    expect(sinks.map((sink) => sink.frames.length)).toEqual([1, 0])
    tick.flush()
    expect(sinks[1]?.items).toEqual([{ kind: 'answer', result: ack(1) }])
    const closed = new SessionFlusher('immediate')
    const sink = new Sink()
    new SessionOutbox(sink, closed).queueAnswer(ack(2))
    closed.close()
    await new Promise((resolve) => setImmediate(resolve))
    expect(sink.frames).toHaveLength(0)
  })
})
