import { createHash, type Hash } from 'node:crypto'
import type { Millis, Random } from '../core/index.js'
import type { EndpointId, Transport, TransportHandlers } from '../transports/index.js'
import { classifyFrame } from './frame-kinds.js'
import type { LatencyMatrix } from './latency.js'
import type { SimScheduler } from './scheduler.js'

/** Fault knobs of every link (TigerBeetle-style named knobs, all driven by the seeded source). */
export interface LinkFaults {
  /** Extra one-way delay drawn uniformly from [0, jitterMs]. */
  jitterMs: number
  /** Probability a frame is lost. */
  loss: number
  /** Probability a frame is delivered twice. */
  duplicate: number
  /** Whether a frame may overtake an earlier one on the same link (otherwise per-link FIFO). */
  reorder: boolean
}

/** Counters of the simulated network. */
export interface NetworkStats {
  framesSent: number
  framesDelivered: number
  framesLost: number
  framesDuplicated: number
  bytesSent: number
  /** Frames and bytes sent by kind (see `classifyFrame`). */
  readonly sentByKind: Record<string, { frames: number; bytes: number }>
}

/**
 * A simulated network of endpoints on the scheduler's virtual time, with base latencies per pair,
 * jitter, loss, duplication, reordering, partitions, crashes and latency spikes. Every delivered
 * frame feeds the trace hash, so a run's whole traffic is one comparable digest.
 */
export class SimNetwork {
  readonly stats: NetworkStats = { framesSent: 0, framesDelivered: 0, framesLost: 0, framesDuplicated: 0, bytesSent: 0, sentByKind: {} }
  private readonly endpoints = new Map<EndpointId, SimTransport>()
  private readonly index = new Map<EndpointId, number>()
  private readonly linkUp = new Set<string>()
  // Each connect starts a new incarnation of a link; a frame sent on an earlier one is never
  // delivered on a later one, as bytes of a dead TCP connection never arrive on a new one.
  private readonly linkEpoch = new Map<string, number>()
  private readonly lastDelivery = new Map<string, Millis>()
  private readonly groupOf = new Map<EndpointId, number>()
  private readonly spikes: Array<{ a: EndpointId | undefined; b: EndpointId | undefined; extraMs: number; until: Millis }> = []
  private readonly trace: Hash = createHash('sha256')
  private readonly header = Buffer.alloc(24)
  /** Per-peer-index frames sent, for reports. */
  readonly framesSentBy: number[] = []

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly random: Random,
    readonly latency: LatencyMatrix,
    readonly faults: LinkFaults,
  ) {}

  /** Creates (or re-creates after a crash) the endpoint for peer `position` in the latency matrix. */
  endpoint(id: EndpointId, position: number): SimTransport {
    if (this.endpoints.get(id)?.alive) throw new Error(`endpoint ${id} is already up`)
    const transport = new SimTransport(id, this)
    this.endpoints.set(id, transport)
    this.index.set(id, position)
    this.framesSentBy[position] ??= 0
    return transport
  }

  /** Connects every pair of live endpoints that the current partition lets talk. */
  connectAll(): void {
    const ids = [...this.endpoints.keys()]
    for (let i = 0; i < ids.length; i++) for (let j = i + 1; j < ids.length; j++) this.connect(ids[i]!, ids[j]!)
  }

  /** Brings a link up; both ends hear `onConnect` at the current virtual time. */
  connect(a: EndpointId, b: EndpointId): void {
    const left = this.endpoints.get(a)
    const right = this.endpoints.get(b)
    if (!left?.alive || !right?.alive || a === b || !this.reachable(a, b)) return
    const key = linkKey(a, b)
    if (this.linkUp.has(key)) return
    this.linkUp.add(key)
    const epoch = (this.linkEpoch.get(key) ?? 0) + 1
    this.linkEpoch.set(key, epoch)
    this.scheduler.setTimer(0, () => {
      if (!this.linkUp.has(key) || this.linkEpoch.get(key) !== epoch) return
      left.handlers?.onConnect(b)
      right.handlers?.onConnect(a)
    })
  }

  /** Takes a link down; both ends hear `onDisconnect`; frames in flight on it are lost. */
  disconnect(a: EndpointId, b: EndpointId): void {
    const key = linkKey(a, b)
    if (!this.linkUp.delete(key)) return
    const left = this.endpoints.get(a)
    const right = this.endpoints.get(b)
    this.scheduler.setTimer(0, () => {
      if (left?.alive) left.handlers?.onDisconnect(b)
      if (right?.alive) right.handlers?.onDisconnect(a)
    })
  }

  /** Splits endpoints into groups that cannot reach each other (links across groups go down). */
  partition(groups: readonly (readonly EndpointId[])[]): void {
    this.groupOf.clear()
    groups.forEach((group, g) => group.forEach((id) => this.groupOf.set(id, g)))
    for (const key of [...this.linkUp]) {
      const [a, b] = key.split('\u0000') as [string, string]
      if (!this.reachable(a, b)) this.disconnect(a, b)
    }
  }

  /** Ends any partition and reconnects every live pair. */
  heal(): void {
    this.groupOf.clear()
    this.connectAll()
  }

  /** Crashes an endpoint: all its links drop and frames to it are lost until it is re-created. */
  crash(id: EndpointId): void {
    const transport = this.endpoints.get(id)
    if (!transport?.alive) return
    for (const key of [...this.linkUp]) {
      const [a, b] = key.split('\u0000') as [string, string]
      if (a === id || b === id) this.disconnect(a, b)
    }
    transport.alive = false
  }

  /** Adds `extraMs` to links touching `a` (and `b`, if given) until virtual time `until`. */
  spike(a: EndpointId | undefined, b: EndpointId | undefined, extraMs: number, until: Millis): void {
    this.spikes.push({ a, b, extraMs, until })
  }

  /** The base one-way latency between two endpoints, in ms. */
  baseLatency(a: EndpointId, b: EndpointId): number {
    return this.latency[this.index.get(a) ?? 0]?.[this.index.get(b) ?? 0] ?? 0
  }

  /** The SHA-256 of every delivery so far (time, sender, receiver, bytes), hex. */
  traceHash(): string {
    return this.trace.copy().digest('hex')
  }

  /** @internal */
  isConnected(a: EndpointId, b: EndpointId): boolean {
    return this.linkUp.has(linkKey(a, b))
  }

  /** @internal */
  connectedPeersOf(id: EndpointId): EndpointId[] {
    const out: EndpointId[] = []
    for (const other of this.endpoints.keys()) if (other !== id && this.linkUp.has(linkKey(id, other))) out.push(other)
    return out
  }

  /** @internal Sends one frame over a link with this network's faults. */
  transmit(from: EndpointId, to: EndpointId, frame: Uint8Array): boolean {
    if (!this.linkUp.has(linkKey(from, to))) return false
    this.stats.framesSent++
    this.stats.bytesSent += frame.length
    const kind = classifyFrame(frame)
    const counted = (this.stats.sentByKind[kind] ??= { frames: 0, bytes: 0 })
    counted.frames++
    counted.bytes += frame.length
    const position = this.index.get(from) ?? 0
    this.framesSentBy[position] = (this.framesSentBy[position] ?? 0) + 1
    if (this.faults.loss > 0 && this.random.next() < this.faults.loss) {
      this.stats.framesLost++
      return true
    }
    this.schedule(from, to, frame)
    if (this.faults.duplicate > 0 && this.random.next() < this.faults.duplicate) {
      this.stats.framesDuplicated++
      this.schedule(from, to, frame)
    }
    return true
  }

  private schedule(from: EndpointId, to: EndpointId, frame: Uint8Array): void {
    const now = this.scheduler.now()
    let delay = this.baseLatency(from, to) + this.spikeDelay(from, to, now)
    if (this.faults.jitterMs > 0) delay += this.random.next() * this.faults.jitterMs
    let at = now + delay
    const directed = `${from}\u0000${to}`
    if (!this.faults.reorder) {
      // Per-link FIFO, as over one TCP connection: a frame never overtakes an earlier one.
      at = Math.max(at, this.lastDelivery.get(directed) ?? 0)
      this.lastDelivery.set(directed, at)
    }
    const key = linkKey(from, to)
    const epoch = this.linkEpoch.get(key)
    this.scheduler.at(at, () => {
      const target = this.endpoints.get(to)
      if (!target?.alive || !this.linkUp.has(key) || this.linkEpoch.get(key) !== epoch) return
      this.stats.framesDelivered++
      this.header.writeDoubleLE(this.scheduler.now(), 0)
      this.header.writeUInt32LE(this.index.get(from) ?? 0, 8)
      this.header.writeUInt32LE(this.index.get(to) ?? 0, 12)
      this.header.writeDoubleLE(frame.length, 16)
      this.trace.update(this.header)
      this.trace.update(frame)
      target.handlers?.onFrame(from, frame)
    })
  }

  private spikeDelay(from: EndpointId, to: EndpointId, now: Millis): number {
    let extra = 0
    for (const spike of this.spikes) {
      if (spike.until <= now) continue
      const touches = spike.b === undefined ? spike.a === undefined || spike.a === from || spike.a === to : linkKey(from, to) === linkKey(spike.a ?? '', spike.b)
      if (touches) extra += spike.extraMs
    }
    return extra
  }

  private reachable(a: EndpointId, b: EndpointId): boolean {
    if (this.groupOf.size === 0) return true
    return this.groupOf.get(a) === this.groupOf.get(b)
  }
}

const linkKey = (a: EndpointId, b: EndpointId): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`)

/** One peer's endpoint on a `SimNetwork`. */
export class SimTransport implements Transport {
  /** @internal */
  handlers: TransportHandlers | undefined
  /** @internal */
  alive = true

  constructor(
    readonly id: EndpointId,
    private readonly network: SimNetwork,
  ) {}

  listen(handlers: TransportHandlers): void {
    this.handlers = handlers
  }

  send(to: EndpointId, frame: Uint8Array): boolean {
    if (!this.alive) return false
    return this.network.transmit(this.id, to, frame)
  }

  disconnect(peer: EndpointId): void {
    this.network.disconnect(this.id, peer)
  }

  connectedPeers(): readonly EndpointId[] {
    return this.alive ? this.network.connectedPeersOf(this.id) : []
  }

  close(): void {
    this.network.crash(this.id)
  }
}
