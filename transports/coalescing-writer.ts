import type { Stream } from '@libp2p/interface'
import { encodeLengthPrefix } from './length-prefixed-frames.js'

// A flush happens at the end of the current microtask queue, or at once past this many bytes.
const FLUSH_BYTES = 256 * 1024

/**
 * Writes length-prefixed frames to a libp2p stream, coalescing every frame written in one tick
 * into a single `stream.send`. Each send costs a yamux frame, a noise encryption and a socket
 * write; a peer fanning out a burst of small updates would otherwise pay them per update (about
 * 28k frames/s end to end on loopback, against several times that coalesced).
 */
export class CoalescingWriter {
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private scheduled = false

  constructor(private readonly stream: Stream) {}

  /** Queues one frame; false when the stream wants to drain before more writes (this one was still taken). */
  write(frame: Uint8Array): boolean {
    this.pending.push(encodeLengthPrefix(frame.length), frame)
    this.pendingBytes += frame.length + 8
    if (this.pendingBytes >= FLUSH_BYTES) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => this.flush())
    }
    return !this.stream.writableNeedsDrain
  }

  /** Sends what is pending now. */
  flush(): void {
    this.scheduled = false
    if (this.pending.length === 0) return
    const parts = this.pending
    const chunk = new Uint8Array(this.pendingBytes)
    let at = 0
    for (const part of parts) {
      chunk.set(part, at)
      at += part.length
    }
    this.pending = []
    this.pendingBytes = 0
    if (this.stream.writeStatus !== 'writable') return
    try {
      this.stream.send(chunk.subarray(0, at))
    } catch {
      // The stream is closing under us; its close event ends the link.
    }
  }

  /** Resolves once the stream takes writes again. */
  async drained(): Promise<void> {
    this.flush()
    await this.stream.onDrain()
  }
}
