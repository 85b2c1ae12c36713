import { reconnectDelay, type BackoffOptions } from './backoff.js'
import { binaryData, WEBSOCKET_OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket-like.js'

/**
 * Close codes after which a retry cannot succeed with the same token and URL: 4400-4499 are the
 * gateway's auth refusals (and y-websocket's convention for "final"), 1008 a bad path or session.
 */
export const isFinalClose = (code: number): boolean => (code >= 4400 && code <= 4499) || code === 1008

/** What a reconnecting socket reports. */
export interface ReconnectingSocketEvents {
  /** The socket (re)opened: send the greeting and anything owed. */
  onOpen(): void
  onMessage(bytes: Uint8Array): void
  /** The socket closed; `final` means no retry will follow. */
  onClose(code: number, reason: string, final: boolean): void
}

/** Settings of a reconnecting socket. */
export interface ReconnectingSocketOptions extends BackoffOptions {
  readonly url: string
  readonly WebSocket: WebSocketConstructor
  /** A number in [0, 1) for backoff jitter. */
  readonly random: () => number
}

/**
 * One logical connection that reopens itself after a drop, waiting `reconnectDelay` between
 * attempts; the attempt count resets when a socket opens. A final close (auth refusal) stops it.
 */
export class ReconnectingSocket {
  private ws: WebSocketLike | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private attempt = 0
  private stopped = false
  /** Times a socket opened after the first. */
  reconnects = 0
  private opened = false

  constructor(
    private readonly options: ReconnectingSocketOptions,
    private readonly events: ReconnectingSocketEvents,
  ) {
    this.connect()
  }

  /** Whether a socket is open now. */
  get isOpen(): boolean {
    return this.ws !== undefined && this.ws.readyState === WEBSOCKET_OPEN
  }

  /** Sends if open; otherwise drops the frame (callers resend what matters on open). */
  send(frame: Uint8Array): boolean {
    if (!this.isOpen) return false
    this.ws?.send(frame)
    return true
  }

  /** Closes the current socket as a drop would, so the usual reconnect follows (tests, network changes). */
  reconnect(): void {
    this.ws?.close(4000, 'client reconnect')
  }

  /** Closes for good. */
  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    const ws = this.ws
    this.ws = undefined
    if (ws) {
      ws.onclose = null
      ws.onmessage = null
      ws.close(1000, 'client closed')
    }
  }

  private connect(): void {
    if (this.stopped) return
    const ws = new this.options.WebSocket(this.options.url)
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    ws.onopen = () => {
      if (this.ws !== ws) return
      if (this.opened) this.reconnects++
      this.opened = true
      this.attempt = 0
      this.events.onOpen()
    }
    ws.onmessage = (event) => {
      if (this.ws !== ws) return
      const bytes = binaryData(event)
      if (bytes) this.events.onMessage(bytes)
    }
    // Errors are always followed by close, which is where the retry is decided.
    ws.onerror = () => {}
    ws.onclose = (event) => {
      if (this.ws !== ws) return
      this.ws = undefined
      const final = this.stopped || isFinalClose(event.code)
      this.events.onClose(event.code, event.reason, final)
      if (final) return
      const delay = reconnectDelay(this.attempt++, this.options.random(), this.options)
      this.timer = setTimeout(() => this.connect(), delay)
    }
  }
}
