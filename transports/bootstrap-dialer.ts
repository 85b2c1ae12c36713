import type { Logger } from 'pino'
import { DEFAULT_BACKOFF, redialDelayMs, type BackoffPolicy } from './redial-backoff.js'

/** How one dial attempt ended. */
export type DialOutcome =
  | { readonly kind: 'admitted'; readonly peer: string }
  /** The address leads back to this peer: never dial it again. */
  | { readonly kind: 'self' }
  | { readonly kind: 'failed'; readonly reason: string }

interface AddressState {
  readonly address: string
  failures: number
  peer: string | undefined
  timer: ReturnType<typeof setTimeout> | undefined
  dialing: boolean
  done: boolean
}

/**
 * Keeps a fixed list of bootstrap addresses connected: dials each at start, and again with
 * exponential backoff after a failure or after the peer behind it drops. Real timers: a transport
 * is an I/O driver, and the backoff rule itself is the pure `redialDelayMs`.
 */
export class BootstrapDialer {
  private readonly states: AddressState[]
  private stopped = false

  constructor(
    addresses: readonly string[],
    private readonly attempt: (address: string) => Promise<DialOutcome>,
    /** Whether a peer is connected now; an admitted peer may drop before its dial attempt returns. */
    private readonly isConnected: (peer: string) => boolean,
    private readonly logger: Logger,
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
  ) {
    this.states = [...new Set(addresses)].map((address) => ({ address, failures: 0, peer: undefined, timer: undefined, dialing: false, done: false }))
  }

  /** Dials every address now. */
  start(): void {
    for (const state of this.states) void this.dial(state)
  }

  /** A peer went away: redial the addresses that led to it. */
  peerDown(peer: string): void {
    for (const state of this.states) {
      if (state.peer !== peer) continue
      state.peer = undefined
      this.schedule(state)
    }
  }

  /** Addresses and the peer each currently leads to. */
  status(): Array<{ address: string; peer: string | undefined; failures: number }> {
    return this.states.map(({ address, peer, failures }) => ({ address, peer, failures }))
  }

  /** Cancels every pending redial. */
  stop(): void {
    this.stopped = true
    for (const state of this.states) clearTimeout(state.timer)
  }

  private schedule(state: AddressState): void {
    if (this.stopped || state.done || state.timer || state.dialing) return
    const delay = redialDelayMs(state.failures, Math.random(), this.policy)
    state.timer = setTimeout(() => {
      state.timer = undefined
      void this.dial(state)
    }, delay)
    state.timer.unref?.()
  }

  private async dial(state: AddressState): Promise<void> {
    if (this.stopped || state.dialing || state.done) return
    state.dialing = true
    let outcome: DialOutcome
    try {
      outcome = await this.attempt(state.address)
    } catch (error) {
      outcome = { kind: 'failed', reason: error instanceof Error ? error.message : String(error) }
    }
    state.dialing = false
    if (this.stopped) return
    if (outcome.kind === 'admitted') {
      state.failures = 0
      state.peer = outcome.peer
      if (!this.isConnected(outcome.peer)) this.peerDown(outcome.peer)
    } else if (outcome.kind === 'self') {
      state.done = true
      this.logger.debug({ address: state.address }, 'bootstrap address is this peer; not dialing it')
    } else {
      state.failures++
      this.logger.debug({ address: state.address, failures: state.failures, reason: outcome.reason }, 'bootstrap dial failed')
      this.schedule(state)
    }
  }
}
