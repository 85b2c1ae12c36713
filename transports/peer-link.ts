import { AdmissionHandshake, MAX_HANDSHAKE_MESSAGE_BYTES, type AdmissionOutcome } from './cluster-admission.js'
import type { TransportStats } from './transport-stats.js'

/** The channel under a link: a libp2p stream or a WebSocket, carrying whole messages. */
export interface LinkWire {
  /** Writes one whole message. Returns false when the channel wants to drain before more writes (this one was still taken). */
  write(message: Uint8Array): boolean
  /** Resolves when the channel takes writes again; rejects if it closed. */
  drained(): Promise<void>
  /** Closes the channel after flushing what was written (a refusal verdict must reach the remote). */
  close(reason: string): void
}

/** What a link reports to its transport. */
export interface LinkOwner {
  /** The handshake ended in admission; frames may flow. */
  admitted(link: PeerLink, outcome: Extract<AdmissionOutcome, { admitted: true }>): void
  /** The handshake ended in a refusal, by either side, or timed out; the link is closing. */
  refused(link: PeerLink, reason: string, remoteId: string | undefined): void
  /** An application frame arrived on an admitted link. */
  frame(link: PeerLink, frame: Uint8Array): void
  /** The link is gone (after `close` or when its channel closed). Reported once. */
  closed(link: PeerLink): void
}

/** Per-link limits. */
export interface LinkLimits {
  /** Hard limit on one frame in either direction. */
  readonly maxFrameBytes: number
  /** Frames held for a peer while its channel drains; more are dropped and counted. */
  readonly maxQueuedFrames: number
  /** Bytes held for a peer while its channel drains. */
  readonly maxQueuedBytes: number
  /** A handshake not finished by then is a refusal. */
  readonly handshakeTimeoutMs: number
}

/** Default limits: 16 MiB frames (a whole-document sync step 2 must fit), 4096 frames or 64 MiB queued, 5 s handshake. */
export const DEFAULT_LINK_LIMITS: LinkLimits = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxQueuedFrames: 4096,
  maxQueuedBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 5000,
}

/**
 * One connection to one remote peer: the admission handshake, then frames both ways. Outgoing
 * frames are written straight through while the channel is writable; while it drains they wait in
 * a bounded queue, and once that is full further frames are dropped (the caller's `send` sees
 * false, and anti-entropy repairs the loss) rather than growing memory without bound.
 */
export class PeerLink {
  /** Where the link is in its life. */
  state: 'handshake' | 'open' | 'closed' = 'handshake'
  /** The remote's peer id, known once admitted (or once the channel authenticated it). */
  remoteId: string | undefined
  private readonly queue: Uint8Array[] = []
  private queuedBytes = 0
  private draining = false
  private handshakeInbox: Uint8Array[] = []
  private handshakeBusy = false
  private endAfterInbox = false
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly wire: LinkWire,
    private readonly handshake: AdmissionHandshake,
    /** Whether this side dialed; ties between two links to one peer break on it. */
    readonly outbound: boolean,
    private readonly owner: LinkOwner,
    private readonly limits: LinkLimits,
    private readonly stats: TransportStats,
  ) {}

  /** Sends the first handshake message and starts the handshake clock. */
  start(): void {
    this.handshakeTimer = setTimeout(() => this.refuse(`admission handshake not finished within ${this.limits.handshakeTimeoutMs} ms`), this.limits.handshakeTimeoutMs)
    this.handshakeTimer.unref?.()
    this.wire.write(this.handshake.hello())
  }

  /** Largest message accepted now: small until admitted, so strangers get no big buffers. */
  get maxIncomingBytes(): number {
    return this.state === 'open' ? this.limits.maxFrameBytes : MAX_HANDSHAKE_MESSAGE_BYTES
  }

  /** Whether the link is gone (read through a getter: it changes across awaits). */
  get isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Frames waiting for the channel to drain. */
  get queuedFrames(): number {
    return this.queue.length
  }

  /** Feeds one whole message from the channel. */
  receive(message: Uint8Array): void {
    if (this.state === 'closed') return
    if (this.state === 'open' && !this.handshakeBusy) {
      this.owner.frame(this, message)
      return
    }
    // Handshake steps are asynchronous (signatures); frames that follow the remote's verdict wait
    // here so they reach the owner after `admitted`, in order.
    this.handshakeInbox.push(message)
    if (!this.handshakeBusy) void this.pumpHandshake()
  }

  /** An incoming message was over the limit: in the handshake that is a refusal; after it, a dropped frame. */
  oversized(size: number): void {
    if (this.state === 'handshake') this.refuse(`handshake message of ${size} bytes`)
    else this.stats.oversizedFramesReceived++
  }

  /** Queues or writes one frame; false if it was dropped. */
  send(frame: Uint8Array): boolean {
    if (this.state !== 'open') {
      this.stats.sendsNotConnected++
      return false
    }
    if (frame.length > this.limits.maxFrameBytes) {
      this.stats.sendsTooLarge++
      return false
    }
    if (this.draining) {
      if (this.queue.length >= this.limits.maxQueuedFrames || this.queuedBytes + frame.length > this.limits.maxQueuedBytes) {
        this.stats.sendsQueueFull++
        return false
      }
      this.queue.push(frame)
      this.queuedBytes += frame.length
      return true
    }
    this.writeFrame(frame)
    return true
  }

  /** Closes the link and its channel. */
  close(reason: string): void {
    if (this.state === 'closed') return
    this.wire.close(reason)
    this.channelClosed()
  }

  /**
   * The remote closed its sending side. A refusal verdict may still wait in the handshake inbox
   * behind an asynchronous step: read it first, so the reason reaches the log, then close.
   */
  remoteEnded(): void {
    if (this.state === 'closed') return
    if (this.handshakeBusy) this.endAfterInbox = true
    else this.close('remote closed the channel')
  }

  /** The channel closed under the link (remote hung up, connection died). */
  channelClosed(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    clearTimeout(this.handshakeTimer)
    this.queue.length = 0
    this.queuedBytes = 0
    this.handshakeInbox = []
    this.owner.closed(this)
  }

  private writeFrame(frame: Uint8Array): void {
    this.stats.framesSent++
    this.stats.bytesSent += frame.length
    if (!this.wire.write(frame)) {
      this.draining = true
      void this.drain()
    }
  }

  private async drain(): Promise<void> {
    while (this.draining && this.state === 'open') {
      try {
        await this.wire.drained()
      } catch {
        return // the channel closed; channelClosed() clears the queue
      }
      this.draining = false
      while (!this.draining && this.queue.length > 0 && this.state === 'open') {
        const frame = this.queue.shift() as Uint8Array
        this.queuedBytes -= frame.length
        this.writeFrame(frame)
      }
    }
  }

  private async pumpHandshake(): Promise<void> {
    this.handshakeBusy = true
    while (this.handshakeInbox.length > 0 && this.state !== 'closed') {
      const message = this.handshakeInbox.shift() as Uint8Array
      if (this.state === 'open') {
        this.owner.frame(this, message)
        continue
      }
      const step = await this.handshake.receive(message)
      if (this.isClosed) break
      for (const reply of step.send) this.wire.write(reply)
      const outcome = step.outcome
      if (!outcome) continue
      if (outcome.admitted) {
        clearTimeout(this.handshakeTimer)
        this.state = 'open'
        this.remoteId = outcome.remoteId
        this.owner.admitted(this, outcome)
      } else {
        this.remoteId ??= outcome.remoteId
        this.owner.refused(this, outcome.reason, outcome.remoteId)
        this.close(outcome.reason)
      }
    }
    this.handshakeBusy = false
    if (this.endAfterInbox) this.close('remote closed the channel')
  }

  private refuse(reason: string): void {
    if (this.state !== 'handshake') return
    this.owner.refused(this, reason, this.remoteId)
    this.close(reason)
  }
}
