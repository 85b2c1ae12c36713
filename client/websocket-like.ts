/**
 * The part of the WHATWG `WebSocket` the client uses, so it runs on a browser's own WebSocket and,
 * in Node 20 (which has none), on `ws`'s, passed in as a constructor. Typed here rather than
 * taken from the DOM library so the package compiles without it.
 */

/** A message event: binary frames arrive as `ArrayBuffer` once `binaryType` is `arraybuffer`. */
export interface WebSocketMessageEvent {
  readonly data: unknown
}

/** A close event with the peer's code and reason. */
export interface WebSocketCloseEvent {
  readonly code: number
  readonly reason: string
}

/** A socket as the client drives it. */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: WebSocketMessageEvent) => void) | null
  onclose: ((event: WebSocketCloseEvent) => void) | null
  onerror: ((event: unknown) => void) | null
  send(data: Uint8Array | string): void
  close(code?: number, reason?: string): void
}

/** A `WebSocket` constructor: the browser's, or `ws`'s `WebSocket` in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** `readyState` of an open socket. */
export const WEBSOCKET_OPEN = 1

/** The bytes of a binary message event, or undefined for anything else (text frames). */
export const binaryData = (event: WebSocketMessageEvent): Uint8Array | undefined => {
  const data = event.data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (data instanceof Uint8Array) return data
  return undefined
}
