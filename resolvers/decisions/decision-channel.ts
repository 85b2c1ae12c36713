import type { Clock, Intent, TimerHandle, WorldValue } from '../../core/index.js'
import type { Peer } from '../../replication/index.js'
import type { SignedAttestation, SignedDecision } from './decision.js'
import type { DecideResult, DecisionCommand, DecisionCore, QuarantineRecord } from './decision-core.js'

/** The application channel decisions travel on. */
export const DECISIONS_CHANNEL = 'resolvers/decisions'

/** How one of this peer's decisions ended. */
export type DecisionSettlement =
  | { readonly status: 'confirmed'; readonly decision: SignedDecision; readonly attestations: readonly SignedAttestation[] }
  | { readonly status: 'rejected'; readonly reason: string; readonly by: string; readonly message?: string }

/** Settings of `bindDecisions`. */
export interface DecisionChannelOptions {
  readonly peer: Peer
  readonly core: DecisionCore
  /** Drives timeouts of pending decisions. */
  readonly clock: Clock
  /** How often pending decisions are checked for timeout. Default 250 ms. */
  readonly expiryIntervalMs?: number
  /** Told of every peer this one quarantines, with the evidence. */
  readonly onQuarantine?: (record: QuarantineRecord) => void
  /** Told of every dropped incoming message (for metrics and logs). */
  readonly onDropped?: (from: string, reason: string, message: string) => void
}

/** A decision started at once: signed and sent (its settlement still to come), or refused here. */
export type DecisionStart =
  | { readonly ok: true; readonly decision: SignedDecision; readonly settlement: Promise<DecisionSettlement> }
  | { readonly ok: false; readonly reason: string; readonly message: string }

/** A decision core bound to a peer's `resolvers/decisions` channel. */
export interface DecisionChannel {
  /** Decides, signs and sends for re-validation; resolves when k peers attested or one rejected. */
  decide(kind: string, intent: Intent, preState: WorldValue): Promise<DecisionSettlement>
  /**
   * Like `decide`, but says synchronously whether the decision went out and what it decided, so a
   * caller can apply the outcome before the attestations arrive (optimistic critical actions).
   */
  begin(kind: string, intent: Intent, preState: WorldValue): DecisionStart
  /** Hears every peer this one quarantines (after `onQuarantine`); returns a function that stops listening. */
  onQuarantined(listener: (record: QuarantineRecord) => void): () => void
  /** Signs an outcome this peer already produced and sends it for re-validation (`DecisionCore.report`). */
  report(kind: string, intent: Intent, preState: WorldValue, outcome: WorldValue): Promise<DecisionSettlement>
  /** Stops listening and cancels the expiry timer; pending decisions are rejected as `closed`. */
  close(): void
}

/**
 * The thin driver of a `DecisionCore` over a `Peer`: channel payloads go into `receive`, `send`
 * commands go out with `sendChannel`, and the core's outcomes settle the promises `decide` returned.
 */
export const bindDecisions = (options: DecisionChannelOptions): DecisionChannel => {
  const { peer, core, clock } = options
  const waiting = new Map<string, (settlement: DecisionSettlement) => void>()
  const interval = options.expiryIntervalMs ?? 250
  const quarantineListeners = new Set<(record: QuarantineRecord) => void>()
  let timer: TimerHandle | undefined
  let closed = false

  const run = (commands: readonly DecisionCommand[]): void => {
    for (const command of commands) {
      if (command.type === 'send') peer.sendChannel(command.to, DECISIONS_CHANNEL, command.payload)
      else if (command.type === 'confirmed') settle(command.decision.decision.id, { status: 'confirmed', decision: command.decision, attestations: command.attestations })
      else if (command.type === 'rejected') settle(command.decision.id, { status: 'rejected', reason: command.reason, by: command.by })
      else if (command.type === 'quarantined') {
        options.onQuarantine?.(command.record)
        for (const listener of [...quarantineListeners]) listener(command.record)
      }
      else options.onDropped?.(command.from, command.reason, command.message)
    }
  }
  const settle = (id: string, settlement: DecisionSettlement): void => {
    const resolve = waiting.get(id)
    waiting.delete(id)
    resolve?.(settlement)
  }
  const tick = (): void => {
    timer = undefined
    if (closed) return
    run(core.expire())
    timer = clock.setTimer(interval, tick)
  }
  const stop = peer.onChannel(DECISIONS_CHANNEL, (from, payload) => run(core.receive(from, payload)))
  timer = clock.setTimer(interval, tick)
  const connected = (): Set<string> => new Set(peer.connectedPeers())

  const begin = (decideNow: (reachable: (peer: string) => boolean) => DecideResult): DecisionStart => {
    if (closed) return { ok: false, reason: 'closed', message: `the decisions channel of ${peer.id} is closed` }
    const live = connected()
    const result = decideNow((candidate) => live.has(candidate))
    if (!result.ok) return result
    const settlement = new Promise<DecisionSettlement>((resolve) => waiting.set(result.decision.decision.id, resolve))
    run(result.commands)
    return { ok: true, decision: result.decision, settlement }
  }
  const start = (decideNow: (reachable: (peer: string) => boolean) => DecideResult): Promise<DecisionSettlement> => {
    const started = begin(decideNow)
    return started.ok ? started.settlement : Promise.resolve({ status: 'rejected', reason: started.reason, by: peer.id, message: started.message })
  }

  return {
    decide: (kind, intent, preState) => start((reachable) => core.decide(kind, intent, preState, reachable)),
    begin: (kind, intent, preState) => begin((reachable) => core.decide(kind, intent, preState, reachable)),
    onQuarantined: (listener) => {
      quarantineListeners.add(listener)
      return () => quarantineListeners.delete(listener)
    },
    report: (kind, intent, preState, outcome) => start((reachable) => core.report(kind, intent, preState, outcome, reachable)),
    close: () => {
      closed = true
      stop()
      if (timer !== undefined) clock.cancelTimer(timer)
      for (const id of [...waiting.keys()]) settle(id, { status: 'rejected', reason: 'closed', by: peer.id })
    },
  }
}
