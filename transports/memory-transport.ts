import type { EndpointId, Transport, TransportHandlers } from './transport.js'

/**
 * An in-process network of endpoints: frames cross by microtask, in send order, with no loss. For
 * tests and single-process deployments; the simulator has its own network with faults.
 */
export class MemoryNetwork {
  private readonly endpoints = new Map<EndpointId, MemoryTransport>()

  /** Creates an endpoint; ids are unique within the network. */
  endpoint(id: EndpointId): MemoryTransport {
    if (this.endpoints.has(id)) throw new Error(`endpoint ${id} already exists in this memory network`)
    const transport = new MemoryTransport(id, this)
    this.endpoints.set(id, transport)
    return transport
  }

  /** Connects two endpoints both ways; both see `onConnect` on the next microtask. */
  connect(a: EndpointId, b: EndpointId): void {
    const left = this.endpoints.get(a)
    const right = this.endpoints.get(b)
    if (!left || !right) throw new Error(`cannot connect ${a} and ${b}: unknown endpoint`)
    if (a === b || left.closed || right.closed || left.links.has(b)) return
    left.links.add(b)
    right.links.add(a)
    queueMicrotask(() => {
      left.notify((handlers) => handlers.onConnect(b))
      right.notify((handlers) => handlers.onConnect(a))
    })
  }

  /** Disconnects two endpoints; both see `onDisconnect`. */
  disconnect(a: EndpointId, b: EndpointId): void {
    const left = this.endpoints.get(a)
    const right = this.endpoints.get(b)
    if (!left || !right || !left.links.has(b)) return
    left.links.delete(b)
    right.links.delete(a)
    queueMicrotask(() => {
      left.notify((handlers) => handlers.onDisconnect(b))
      right.notify((handlers) => handlers.onDisconnect(a))
    })
  }

  /** Connects every pair of endpoints. */
  connectAll(): void {
    const ids = [...this.endpoints.keys()]
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) this.connect(ids[i] as EndpointId, ids[j] as EndpointId)
    }
  }

  /** @internal Delivers a frame on the next microtask if the link still exists then. */
  deliver(from: EndpointId, to: EndpointId, frame: Uint8Array): boolean {
    const target = this.endpoints.get(to)
    const source = this.endpoints.get(from)
    if (!target || !source || !source.links.has(to)) return false
    queueMicrotask(() => {
      if (target.links.has(from)) target.notify((handlers) => handlers.onFrame(from, frame))
    })
    return true
  }

  /** @internal */
  remove(id: EndpointId): void {
    const transport = this.endpoints.get(id)
    if (!transport) return
    for (const peer of [...transport.links]) this.disconnect(id, peer)
  }
}

/** One endpoint of a `MemoryNetwork`. */
export class MemoryTransport implements Transport {
  /** @internal */
  readonly links = new Set<EndpointId>()
  /** @internal */
  handlers: TransportHandlers | undefined
  /** @internal */
  closed = false
  private thrownByHandlers = 0

  constructor(
    readonly id: EndpointId,
    private readonly network: MemoryNetwork,
  ) {}

  listen(handlers: TransportHandlers): void {
    this.handlers = handlers
  }

  send(to: EndpointId, frame: Uint8Array): boolean {
    if (this.closed) return false
    return this.network.deliver(this.id, to, frame)
  }

  disconnect(peer: EndpointId): void {
    this.network.disconnect(this.id, peer)
  }

  connectedPeers(): readonly EndpointId[] {
    return [...this.links]
  }

  close(): void {
    if (this.closed) return
    this.network.remove(this.id)
    this.closed = true
  }

  /** How many times the owner's handlers threw; the transport swallowed each (see `TransportHandlers`). */
  get handlerErrors(): number {
    return this.thrownByHandlers
  }

  /**
   * @internal Calls the owner's handlers. A throw must not escape: in a microtask it would be an
   * uncaught exception, and the other endpoint's handler queued in the same task would never run.
   */
  notify(call: (handlers: TransportHandlers) => void): void {
    if (!this.handlers) return
    try {
      call(this.handlers)
    } catch {
      this.thrownByHandlers++
    }
  }
}
