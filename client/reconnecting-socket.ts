import { reconnectDelay, type BackoffOptions } from './backoff.js'
import { binaryData, WEBSOCKET_OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket-like.js'

/**
 * Close codes after which a retry cannot succeed with the same token and URL: 4400-4499 are the
 * gateway's auth refusals (and y-websocket's convention for "final"), 1008 a bad path or session.
 */
export const isFinalClose = (code: number): boolean => (code >= 4400 && code <= 4499) || code === 1008

/** The gateway's redirect close (the session lives on another peer): reconnect at once, to the new URL. */
export const CLOSE_REDIRECT = 4300

/**
 * The gateway's close when a document moved to a new epoch (gateway/epoch-resync.ts): resync with a
 * fresh `Y.Doc`. The reconnect is quick but jittered over `baseMs`, so the clients of one document
 * do not all come back in the same millisecond.
 */
export const CLOSE_EPOCH_CHANGED = 4100

const MAX_QUICK_REDIRECTS = 3

/** What a reconnecting socket reports. */
export interface ReconnectingSocketEvents {
  /** The socket (re)opened: send the greeting and anything owed. */
  onOpen(): void
  onMessage(bytes: Uint8Array): void
  /** A text frame arrived (session control); without this, text frames are dropped. */
  onText?(text: string): void
  /** The socket closed; `final` means no retry will follow. */
  onClose(code: number, reason: string, final: boolean): void
}

/** Settings of a reconnecting socket. */
export interface ReconnectingSocketOptions extends BackoffOptions {
  /** The URL, or a function read at every connect (so a redirect can move the socket). */
  readonly url: string | (() => string)
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
  /** Redirects followed at once since the last `settled()`; past a few, redirects back off like drops (two peers disagreeing must not spin). */
  private quickRedirects = 0

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

  /** The server accepted this connection for good (a session greeting): redirects may be quick again. */
  settled(): void {
    this.quickRedirects = 0
  }

  /** Sends a text frame if open. */
  sendText(text: string): boolean {
    if (!this.isOpen) return false
    this.ws?.send(text)
    return true
  }

  /** Closes the current socket as a drop would, so the usual reconnect follows (tests, network changes). */
  reconnect(): void {
    this.ws?.close(4000, 'client reconnect')
  }

  /** Leaves the current socket quietly and connects again now (to the URL as it reads now): a move, not a drop. */
  moveNow(): void {
    if (this.stopped) return
    clearTimeout(this.timer)
    const ws = this.ws
    this.ws = undefined
    if (ws) {
      ws.onclose = null
      ws.onmessage = null
      ws.close(1000, 'client moved')
    }
    this.connect()
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
    const url = this.options.url
    const ws = new this.options.WebSocket(typeof url === 'function' ? url() : url)
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
      if (typeof event.data === 'string') {
        this.events.onText?.(event.data)
        return
      }
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
      // A redirect is not a failure: the next URL is known and waiting would only add latency.
      const quick = (event.code === CLOSE_REDIRECT || event.code === CLOSE_EPOCH_CHANGED) && this.quickRedirects++ < MAX_QUICK_REDIRECTS
      const spread = event.code === CLOSE_EPOCH_CHANGED ? this.options.random() * (this.options.baseMs ?? 250) : 0
      const delay = quick ? spread : reconnectDelay(this.attempt++, this.options.random(), this.options)
      this.timer = setTimeout(() => this.connect(), delay)
    }
  }
}
