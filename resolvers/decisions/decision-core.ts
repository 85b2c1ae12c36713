import type { KeyObject } from 'node:crypto'
import { HybridLogicalClock, RealmsyncError, type Intent, type Millis, type WorldValue } from '../../core/index.js'
import type { Validation } from '../action-handler.js'
import { attestationSigningBytes, decisionDigest, decisionIdOf, decisionSigningBytes, sameOutcome, statementSigningBytes, type Attestation, type Decision, type SignedAttestation, type SignedDecision } from './decision.js'
import { signBytes, verifyBytes, type DecisionKeyRegistry } from './decision-keys.js'
import { ruleOf, runRule, type DecisionRules } from './decision-rule.js'
import { decodeDecisionMessage, encodeDecisionMessage, type DecisionMessage } from './decision-wire.js'
import { chooseValidators, rankValidators } from './validator-selection.js'

/** Settings of a `DecisionCore`. */
export interface DecisionCoreOptions {
  /** This peer's id, as registered in `keys`. */
  readonly self: string
  /** This peer's Ed25519 private key. */
  readonly privateKey: KeyObject
  /** Public keys of every cluster peer (this one included): the universe validators are drawn from. */
  readonly keys: DecisionKeyRegistry
  /** The pure rule of each decision kind. */
  readonly rules: DecisionRules
  /** Injected time (milliseconds); the decider's HLC reads it. */
  readonly now: () => Millis
  /** Attestations needed to confirm a decision (k). Default 2. */
  readonly validators?: number
  /** How many peers past the first k in rendezvous order may stand in for unreachable ones. Default 2. */
  readonly spareValidators?: number
  /** A decision stamped further in the past than this is refused as stale; ids are remembered this long. Default 30 000 ms. */
  readonly replayWindowMs?: Millis
  /** A decision stamped further ahead of local time than this is refused. Default 5 000 ms. */
  readonly maxAheadMs?: Millis
  /** A pending decision with too few answers after this long is rejected as `validation-timeout`. Default 2 000 ms. */
  readonly timeoutMs?: Millis
  /**
   * Extra check a re-validator makes of a decision's pre-state against its own replica (does the
   * target exist, does the seed match the one stored). It must only compare settled facts: a
   * failure flags the decider like a failed re-validation.
   */
  readonly checkPreState?: (decision: Decision) => Validation
}

/** Why and when a peer was quarantined, with the evidence, for tools and an audit ledger. */
export interface QuarantineRecord {
  readonly peer: string
  readonly atMs: Millis
  /** `bad-signature`, `revalidation-failed`, `pre-state-mismatch`, `equivocation`, `false-rejection`. */
  readonly reason: string
  readonly detail: string
  /** The decision (or attestation's decision) that proved it, if there was one. */
  readonly decisionId?: string
  readonly decision?: SignedDecision
  readonly attestation?: SignedAttestation
  /** Who reported it: this peer, or the peer whose evidence this peer checked. */
  readonly reportedBy: string
}

/** What the core asks its driver to do, or tells it happened. */
export type DecisionCommand =
  | { readonly type: 'send'; readonly to: string; readonly payload: Uint8Array }
  | { readonly type: 'confirmed'; readonly decision: SignedDecision; readonly attestations: readonly SignedAttestation[] }
  | { readonly type: 'rejected'; readonly decision: Decision; readonly reason: string; readonly by: string }
  | { readonly type: 'quarantined'; readonly record: QuarantineRecord }
  /** An incoming message was dropped (malformed, replayed, unknown peer, from a quarantined peer, ...). */
  | { readonly type: 'dropped'; readonly from: string; readonly reason: string; readonly message: string }

/** The answer of `decide`: the decision went out for re-validation, or the rule (or the cluster) refused it here. */
export type DecideResult =
  | { readonly ok: true; readonly decision: SignedDecision; readonly validators: readonly string[]; readonly commands: DecisionCommand[] }
  | { readonly ok: false; readonly reason: string; readonly message: string }

/** Counters of a decision core: the metrics hooks. */
export interface DecisionStats {
  /** Decisions this peer made and sent for re-validation. */
  decided: number
  /** Own decisions confirmed by k attestations. */
  confirmed: number
  /** Own decisions rejected by a re-validator or timed out. */
  rejected: number
  /** Other peers' decisions this peer re-ran and attested. */
  attested: number
  /** Other peers' decisions this peer re-ran and rejected. */
  refused: number
  /** Messages refused because their sender is quarantined. */
  quarantinedRefusals: number
  /** Peers this peer quarantined. */
  quarantinedPeers: number
  /** Incoming messages dropped, by reason. */
  dropped: Record<string, number>
}

interface Pending {
  readonly signed: SignedDecision
  readonly digest: string
  readonly asked: ReadonlySet<string>
  readonly attestations: Map<string, SignedAttestation>
  readonly sentAtMs: Millis
}

interface Seen {
  readonly digest: string
  readonly wallMs: Millis
}

/** A local decision could not be made (bad arguments). */
export class DecisionArgumentError extends RealmsyncError {
  constructor(detail: string) {
    super('invalid-decision', detail)
  }
}

/**
 * Distributed validation of critical decisions, sans-IO. The decider signs a decision over its
 * inputs and outcome and asks k peers, chosen by rendezvous hashing, to re-run the same pure rule;
 * each answers with a signed attestation or rejection, and k attestations confirm it. A bad
 * signature, an outcome the rule does not give, or two different decisions under one id quarantine
 * the decider: every later message of it is refused and counted, and the evidence goes to every
 * peer, which re-checks it before quarantining in turn (so one lying validator cannot frame an
 * honest decider). Time comes from `now`; messages come in as bytes and go out as commands.
 */
export class DecisionCore {
  /** Counters. */
  readonly stats: DecisionStats = { decided: 0, confirmed: 0, rejected: 0, attested: 0, refused: 0, quarantinedRefusals: 0, quarantinedPeers: 0, dropped: {} }
  private readonly hlc: HybridLogicalClock
  private readonly k: number
  private readonly spare: number
  private readonly replayWindowMs: Millis
  private readonly maxAheadMs: Millis
  private readonly timeoutMs: Millis
  private readonly pending = new Map<string, Pending>()
  private readonly seen = new Map<string, Seen>()
  private readonly quarantined = new Map<string, QuarantineRecord>()

  constructor(private readonly options: DecisionCoreOptions) {
    this.hlc = new HybridLogicalClock(options.self, options.now)
    this.k = Math.max(1, Math.floor(options.validators ?? 2))
    this.spare = Math.max(0, Math.floor(options.spareValidators ?? 2))
    this.replayWindowMs = options.replayWindowMs ?? 30_000
    this.maxAheadMs = options.maxAheadMs ?? 5_000
    this.timeoutMs = options.timeoutMs ?? 2_000
  }

  /**
   * Decides locally with the kind's rule, signs the decision and returns the requests to send to
   * the first k reachable validators. Refused here when the rule refuses, the kind is unknown, or
   * fewer than k validators are reachable (`authority-unavailable`: never confirmed on fewer).
   */
  decide(kind: string, intent: Intent, preState: WorldValue, reachable: (peer: string) => boolean): DecideResult {
    const rule = ruleOf(this.options.rules, kind)
    if (rule === undefined) return { ok: false, reason: 'unknown-kind', message: `no rule for decision kind '${kind}'` }
    const verdict = runRule(rule, { intent, preState })
    if (!verdict.ok) return verdict
    return this.send(kind, intent, preState, verdict.outcome, reachable)
  }

  /**
   * Signs and sends for re-validation an outcome this peer already produced some other way (the
   * resolver gate applies a settlement window through its engine, then reports what it granted):
   * the local rule is not consulted, so the k validators judge what this peer really did.
   */
  report(kind: string, intent: Intent, preState: WorldValue, outcome: WorldValue, reachable: (peer: string) => boolean): DecideResult {
    if (ruleOf(this.options.rules, kind) === undefined) return { ok: false, reason: 'unknown-kind', message: `no rule for decision kind '${kind}'` }
    return this.send(kind, intent, preState, outcome, reachable)
  }

  private send(kind: string, intent: Intent, preState: WorldValue, outcome: WorldValue, reachable: (peer: string) => boolean): DecideResult {
    const stamp = this.hlc.tick()
    const decision: Decision = { id: decisionIdOf(stamp), decider: this.options.self, kind, inputs: { intent, preState }, outcome, stamp }
    const validators = chooseValidators(decision.id, this.options.self, this.options.keys.peers(), (peer) => reachable(peer) && !this.quarantined.has(peer), this.k, this.spare)
    if (validators.length < this.k) return { ok: false, reason: 'authority-unavailable', message: `${validators.length} of ${this.k} validators reachable` }
    const signed: SignedDecision = { decision, signature: signBytes(this.options.privateKey, decisionSigningBytes(decision)) }
    let payload: Uint8Array
    try {
      payload = encodeDecisionMessage({ type: 'request', decision: signed })
    } catch (error) {
      return { ok: false, reason: 'invalid-intent', message: error instanceof Error ? error.message : String(error) }
    }
    this.pending.set(decision.id, { signed, digest: decisionDigest(decision), asked: new Set(validators), attestations: new Map(), sentAtMs: this.options.now() })
    this.stats.decided++
    return { ok: true, decision: signed, validators, commands: validators.map((to) => ({ type: 'send', to, payload })) }
  }

  /** Handles one message from a peer (untrusted bytes): re-validates requests, counts verdicts, checks evidence. */
  receive(from: string, bytes: Uint8Array): DecisionCommand[] {
    let message: DecisionMessage
    try {
      message = decodeDecisionMessage(bytes)
    } catch (error) {
      return this.drop(from, 'malformed', error instanceof Error ? error.message : String(error))
    }
    if (this.quarantined.has(from)) {
      this.stats.quarantinedRefusals++
      return this.drop(from, 'quarantined', `peer ${from} is quarantined`)
    }
    if (message.type === 'request') return this.revalidate(from, message.decision)
    if (message.type === 'verdict') return this.countVerdict(from, message.attestation)
    return this.checkEvidence(from, message.decision, message.rejection)
  }

  /** Rejects own decisions still short of k attestations after the timeout; call it from a timer. */
  expire(): DecisionCommand[] {
    const now = this.options.now()
    const commands: DecisionCommand[] = []
    for (const [id, pending] of this.pending) {
      if (now - pending.sentAtMs < this.timeoutMs) continue
      this.pending.delete(id)
      this.stats.rejected++
      commands.push({ type: 'rejected', decision: pending.signed.decision, reason: 'validation-timeout', by: this.options.self })
    }
    // Ids older than the window are refused as stale by their stamp, so they need not be remembered.
    for (const [key, seen] of this.seen) if (seen.wallMs < now - this.replayWindowMs) this.seen.delete(key)
    return commands
  }

  /** Whether this core has a rule for a decision kind. */
  hasRule(kind: string): boolean {
    return ruleOf(this.options.rules, kind) !== undefined
  }

  /** Signs a named statement with this peer's key (`statementSigningBytes`): a participant's vote in a cross-owner trade. */
  signStatement(name: string, value: WorldValue): Uint8Array {
    return signBytes(this.options.privateKey, statementSigningBytes(name, value))
  }

  /** Whether `signature` is `peer`'s signature of the named statement (false for an unregistered peer). */
  verifyStatement(peer: string, name: string, value: WorldValue, signature: Uint8Array): boolean {
    const key = this.options.keys.keyOf(peer)
    return key !== undefined && verifyBytes(key, statementSigningBytes(name, value), signature)
  }

  /** Whether a peer is quarantined here. */
  isQuarantined(peer: string): boolean {
    return this.quarantined.has(peer)
  }

  /** Why a peer is quarantined here (the evidence record), or undefined. */
  quarantineOf(peer: string): QuarantineRecord | undefined {
    return this.quarantined.get(peer)
  }

  /** The quarantine records, by peer. */
  quarantine(): QuarantineRecord[] {
    return [...this.quarantined.values()]
  }

  /** Own decisions waiting for attestations. */
  pendingCount(): number {
    return this.pending.size
  }

  /**
   * Checks a confirmation anyone may hold: the decider's signature, and k attestations of that exact
   * decision signed by distinct registered peers among its rendezvous candidates (first k + spare).
   */
  verifyConfirmation(signed: SignedDecision, attestations: readonly SignedAttestation[]): Validation {
    const { decision } = signed
    const deciderKey = this.options.keys.keyOf(decision.decider)
    if (deciderKey === undefined) return { ok: false, reason: 'unknown-peer', message: `decider ${decision.decider} is not registered` }
    if (!verifyBytes(deciderKey, decisionSigningBytes(decision), signed.signature)) return { ok: false, reason: 'bad-signature', message: 'the decider signature does not verify' }
    const candidates = new Set(rankValidators(decision.id, decision.decider, this.options.keys.peers()).slice(0, this.k + this.spare))
    const digest = decisionDigest(decision)
    const attesters = new Set<string>()
    for (const { attestation, signature } of attestations) {
      const key = this.options.keys.keyOf(attestation.attester)
      if (key === undefined || !candidates.has(attestation.attester) || attestation.verdict !== 'attest' || attestation.decisionDigest !== digest) continue
      if (attestation.decisionId !== decision.id || !verifyBytes(key, attestationSigningBytes(attestation), signature)) continue
      attesters.add(attestation.attester)
    }
    return attesters.size >= this.k ? { ok: true } : { ok: false, reason: 'not-confirmed', message: `${attesters.size} of ${this.k} valid attestations` }
  }

  private revalidate(from: string, signed: SignedDecision): DecisionCommand[] {
    const { decision } = signed
    // Requests come from their decider only; anyone else forwarding one is not asking on its behalf.
    if (from !== decision.decider) return this.drop(from, 'sender-mismatch', `peer ${from} sent a decision of ${decision.decider}`)
    const key = this.options.keys.keyOf(decision.decider)
    if (key === undefined) return this.drop(from, 'unknown-peer', `decider ${decision.decider} is not registered`)
    if (!verifyBytes(key, decisionSigningBytes(decision), signed.signature)) {
      // A bad signature arrived on the decider's own link: the decider sent it.
      return [...this.answer(signed, 'reject', 'bad-signature'), ...this.quarantinePeer({ peer: decision.decider, reason: 'bad-signature', detail: `decision ${decision.id} carries a signature that does not verify`, decisionId: decision.id, decision: signed, reportedBy: this.options.self })]
    }
    if (decision.stamp.peer !== decision.decider || decision.id !== decisionIdOf(decision.stamp)) return this.answer(signed, 'reject', 'malformed-decision')
    const digest = decisionDigest(decision)
    const seenKey = `${decision.decider}\u0000${decision.id}`
    const earlier = this.seen.get(seenKey)
    if (earlier !== undefined) {
      if (earlier.digest === digest) return this.drop(from, 'replayed', `decision ${decision.id} was already re-validated`)
      return [...this.answer(signed, 'reject', 'equivocation'), ...this.quarantinePeer({ peer: decision.decider, reason: 'equivocation', detail: `two different decisions signed under id ${decision.id}`, decisionId: decision.id, decision: signed, reportedBy: this.options.self })]
    }
    const now = this.options.now()
    if (decision.stamp.wallMs < now - this.replayWindowMs) return this.drop(from, 'stale', `decision ${decision.id} is ${now - decision.stamp.wallMs} ms old, the window is ${this.replayWindowMs} ms`)
    if (decision.stamp.wallMs > now + this.maxAheadMs) return this.drop(from, 'from-the-future', `decision ${decision.id} is stamped ${decision.stamp.wallMs - now} ms ahead`)
    this.seen.set(seenKey, { digest, wallMs: decision.stamp.wallMs })
    const failure = this.recheck(decision)
    if (failure === undefined) {
      this.stats.attested++
      return this.answer(signed, 'attest', '')
    }
    this.stats.refused++
    if (failure.reason === 'unknown-kind') return this.answer(signed, 'reject', 'unknown-kind')
    const commands = this.answer(signed, 'reject', failure.reason)
    const rejection = this.signAttestation(decision, digest, 'reject', failure.reason)
    const evidence = encodeDecisionMessage({ type: 'evidence', decision: signed, rejection })
    // Every other peer gets the evidence and re-checks it itself before quarantining the decider.
    for (const peer of this.options.keys.peers()) if (peer !== this.options.self && peer !== decision.decider) commands.push({ type: 'send', to: peer, payload: evidence })
    commands.push(...this.quarantinePeer({ peer: decision.decider, reason: failure.reason, detail: failure.message, decisionId: decision.id, decision: signed, attestation: rejection, reportedBy: this.options.self }))
    return commands
  }

  /** Re-runs the decision's rule (and the pre-state check): undefined when it holds, else why not. */
  private recheck(decision: Decision): { reason: string; message: string } | undefined {
    const rule = ruleOf(this.options.rules, decision.kind)
    if (rule === undefined) return { reason: 'unknown-kind', message: `no rule for decision kind '${decision.kind}'` }
    const verdict = runRule(rule, decision.inputs)
    if (!verdict.ok) return { reason: 'revalidation-failed', message: `the ${decision.kind} rule refuses: ${verdict.reason}: ${verdict.message}` }
    if (!sameOutcome(verdict.outcome, decision.outcome)) return { reason: 'revalidation-failed', message: `the ${decision.kind} rule gives a different outcome` }
    const preState = this.options.checkPreState?.(decision)
    if (preState !== undefined && !preState.ok) return { reason: 'pre-state-mismatch', message: `${preState.reason}: ${preState.message}` }
    return undefined
  }

  private countVerdict(from: string, signed: SignedAttestation): DecisionCommand[] {
    const { attestation } = signed
    if (from !== attestation.attester) return this.drop(from, 'sender-mismatch', `peer ${from} sent an answer of ${attestation.attester}`)
    const key = this.options.keys.keyOf(attestation.attester)
    if (key === undefined) return this.drop(from, 'unknown-peer', `attester ${attestation.attester} is not registered`)
    if (!verifyBytes(key, attestationSigningBytes(attestation), signed.signature)) {
      return this.quarantinePeer({ peer: from, reason: 'bad-signature', detail: `answer about ${attestation.decisionId} carries a signature that does not verify`, decisionId: attestation.decisionId, attestation: signed, reportedBy: this.options.self })
    }
    const pending = attestation.decider === this.options.self ? this.pending.get(attestation.decisionId) : undefined
    if (pending === undefined) return this.drop(from, 'unknown-decision', `no pending decision ${attestation.decisionId}`)
    if (!pending.asked.has(from)) return this.drop(from, 'not-asked', `peer ${from} was not asked about ${attestation.decisionId}`)
    if (attestation.decisionDigest !== pending.digest) return this.drop(from, 'digest-mismatch', `answer about different content under id ${attestation.decisionId}`)
    const decision = pending.signed.decision
    if (attestation.verdict === 'reject') {
      this.pending.delete(attestation.decisionId)
      this.stats.rejected++
      const commands: DecisionCommand[] = [{ type: 'rejected', decision, reason: attestation.reason, by: from }]
      // The rule is deterministic: a validator claiming it fails on inputs where it holds is lying.
      if (attestation.reason === 'revalidation-failed' && this.recheck(decision) === undefined) {
        commands.push(...this.quarantinePeer({ peer: from, reason: 'false-rejection', detail: `rejected ${decision.id} although the ${decision.kind} rule holds`, decisionId: decision.id, decision: pending.signed, attestation: signed, reportedBy: this.options.self }))
      }
      return commands
    }
    pending.attestations.set(from, signed)
    if (pending.attestations.size < this.k) return []
    this.pending.delete(attestation.decisionId)
    this.stats.confirmed++
    return [{ type: 'confirmed', decision: pending.signed, attestations: [...pending.attestations.values()] }]
  }

  private checkEvidence(from: string, signed: SignedDecision, rejection: SignedAttestation): DecisionCommand[] {
    const { decision } = signed
    const { attestation } = rejection
    if (from !== attestation.attester) return this.drop(from, 'sender-mismatch', `peer ${from} sent evidence of ${attestation.attester}`)
    const deciderKey = this.options.keys.keyOf(decision.decider)
    const attesterKey = this.options.keys.keyOf(attestation.attester)
    if (deciderKey === undefined || attesterKey === undefined) return this.drop(from, 'unknown-peer', 'evidence names an unregistered peer')
    if (this.quarantined.has(decision.decider)) return this.drop(from, 'already-quarantined', `peer ${decision.decider} is quarantined already`)
    const valid =
      attestation.verdict === 'reject' &&
      attestation.decisionId === decision.id &&
      attestation.decider === decision.decider &&
      attestation.decisionDigest === decisionDigest(decision) &&
      verifyBytes(attesterKey, attestationSigningBytes(attestation), rejection.signature) &&
      verifyBytes(deciderKey, decisionSigningBytes(decision), signed.signature)
    if (!valid) return this.drop(from, 'invalid-evidence', `evidence about ${decision.id} does not verify`)
    // Only what this peer can check for itself convicts: the signed decision and its own run of the rule.
    const failure = this.recheck(decision)
    if (failure === undefined || failure.reason === 'unknown-kind') return this.drop(from, 'unconfirmed-evidence', `the ${decision.kind} rule holds for ${decision.id} here`)
    return this.quarantinePeer({ peer: decision.decider, reason: failure.reason, detail: failure.message, decisionId: decision.id, decision: signed, attestation: rejection, reportedBy: from })
  }

  private signAttestation(decision: Decision, digest: string, verdict: Attestation['verdict'], reason: string): SignedAttestation {
    const attestation: Attestation = { decisionId: decision.id, decider: decision.decider, decisionDigest: digest, attester: this.options.self, verdict, reason }
    return { attestation, signature: signBytes(this.options.privateKey, attestationSigningBytes(attestation)) }
  }

  private answer(signed: SignedDecision, verdict: Attestation['verdict'], reason: string): DecisionCommand[] {
    const { decision } = signed
    const attestation = this.signAttestation(decision, decisionDigest(decision), verdict, reason)
    return [{ type: 'send', to: decision.decider, payload: encodeDecisionMessage({ type: 'verdict', attestation }) }]
  }

  private quarantinePeer(record: Omit<QuarantineRecord, 'atMs'>): DecisionCommand[] {
    if (this.quarantined.has(record.peer) || record.peer === this.options.self) return []
    const full: QuarantineRecord = { ...record, atMs: this.options.now() }
    this.quarantined.set(record.peer, full)
    this.stats.quarantinedPeers++
    return [{ type: 'quarantined', record: full }]
  }

  private drop(from: string, reason: string, message: string): DecisionCommand[] {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1
    return [{ type: 'dropped', from, reason, message }]
  }
}
