/** The id of one endpoint (one peer process) on a transport. */
export type EndpointId = string

/** What a transport tells its owner. Handlers must not throw; a transport swallows and counts if they do. */
export interface TransportHandlers {
  /** A frame arrived from a connected endpoint. */
  onFrame(from: EndpointId, frame: Uint8Array): void
  /** A connection to `peer` is up: frames can flow both ways. */
  onConnect(peer: EndpointId): void
  /** The connection to `peer` is gone. */
  onDisconnect(peer: EndpointId): void
}

/**
 * Moves opaque frames between endpoints. Implementations: in-memory, the simulator's virtual
 * network, WebSocket and libp2p. Delivery is asynchronous; a frame sent to an endpoint that is not
 * connected is dropped (the protocols above repair loss by anti-entropy).
 */
export interface Transport {
  /** This endpoint's id. */
  readonly id: EndpointId
  /**
   * True when frames to a connected endpoint arrive in order or the connection drops (TCP,
   * WebSocket, libp2p streams): nothing is lost silently, so routers need no redundant copies.
   */
  readonly reliable?: boolean
  /** Registers the owner's handlers; there is one owner, so a second call replaces the first. */
  listen(handlers: TransportHandlers): void
  /** Sends one frame to a connected endpoint. Returns false if it was dropped (not connected, closed). */
  send(to: EndpointId, frame: Uint8Array): boolean
  /** The endpoints currently connected. */
  connectedPeers(): readonly EndpointId[]
  /** Drops the connection to one endpoint (a misbehaving peer), if the transport supports it. */
  disconnect?(peer: EndpointId): void
  /** Disconnects from everyone and stops delivering. Idempotent. */
  close(): void
}
