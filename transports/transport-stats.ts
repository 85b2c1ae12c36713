/** Counters of a network transport (libp2p or WebSocket), read by metrics and tests. */
export interface TransportStats {
  framesSent: number
  framesReceived: number
  bytesSent: number
  bytesReceived: number
  /** send() refused: no admitted link to that peer (or the transport is closed). */
  sendsNotConnected: number
  /** send() refused: the frame is over the size limit. */
  sendsTooLarge: number
  /** send() refused: the peer's outgoing queue was full (the link is slower than we write). */
  sendsQueueFull: number
  /** Incoming frames over the size limit, skipped unread. */
  oversizedFramesReceived: number
  /** Links dropped because their byte stream was garbage (bad length prefix, bad message kind). */
  malformedLinks: number
  /** Frames that arrived before anyone listened, or whose handler threw. */
  framesUndelivered: number
  /** Times the owner's handlers threw (swallowed, see `TransportHandlers`). */
  handlerErrors: number
  /** Links that passed admission. */
  linksAdmitted: number
  /** Handshakes that ended in a refusal, by either side, or timed out. */
  linksRefused: number
  /** Second links to an already connected peer, closed (simultaneous dials). */
  duplicateLinksClosed: number
  /** Dial attempts to bootstrap addresses that failed. */
  dialFailures: number
}

/** All counters at zero. */
export const createTransportStats = (): TransportStats => ({
  framesSent: 0,
  framesReceived: 0,
  bytesSent: 0,
  bytesReceived: 0,
  sendsNotConnected: 0,
  sendsTooLarge: 0,
  sendsQueueFull: 0,
  oversizedFramesReceived: 0,
  malformedLinks: 0,
  framesUndelivered: 0,
  handlerErrors: 0,
  linksAdmitted: 0,
  linksRefused: 0,
  duplicateLinksClosed: 0,
  dialFailures: 0,
})
