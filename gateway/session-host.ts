import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import * as Y from 'yjs'
import type { Logger } from 'pino'
import { RealmsyncError } from '../core/index.js'
import type { Peer } from '../replication/index.js'
import { CLOSE_UNAUTHORIZED } from './auth.js'
import { CLOSE_TRY_AGAIN_LATER } from './client-connection.js'
import { LocalSession } from './local-session.js'
import type { SessionHello } from './session-control.js'
import { SESSION_REGISTRY_DOC, SessionRegistry, stateVectorCovers, type SessionRecord } from './session-registry.js'

/** Settings of player sessions on a gateway (affinity, handoff, resume). */
export interface SessionOptions {
  /** The base URL clients reach this gateway at, announced in the registry. Default `ws://<host>:<port>`. */
  readonly url?: string
  /** How long a handoff target waits for the registry and the documents to catch up. Default 3000 ms. */
  readonly handoffWaitMs?: number
  /**
   * How long a disconnected session is kept here for a resume (its answers are the engine's, which
   * forgets a released session after its own `idleSessionMs`). Past it the session can still resume
   * with its token. Bounds memory by players connected recently, not players ever seen. Default 10 min.
   */
  readonly resumeWindowMs?: number
  /** Documents intents write (the engines' worlds): a handoff target waits to hold what the old home had. */
  readonly intentDocuments?: readonly string[]
}

/** How a session connection is to be answered. */
export type SessionAdmission =
  | { readonly kind: 'admit'; readonly session: LocalSession; readonly hello: Omit<SessionHello, 'type'> }
  | { readonly kind: 'redirect'; readonly url: string; readonly peer: string; readonly handoff: boolean }
  | { readonly kind: 'refuse'; readonly code: number; readonly reason: string }

/** What a drain did. */
export interface DrainReport {
  /** Sessions handed over, with the peer that took each. */
  readonly handedOff: ReadonlyArray<{ readonly player: string; readonly session: string; readonly to: string }>
}

/** A drain found no peer to hand sessions to. */
export class NoHandoffTargetError extends RealmsyncError {
  constructor(detail: string) {
    super('no-handoff-target', `cannot drain: ${detail}`)
  }
}

const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url')

const sameHash = (token: string, hash: string): boolean => {
  const a = Buffer.from(hashToken(token))
  const b = Buffer.from(hash)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The session side of a gateway: admits session connections (serve here, redirect to the home
 * peer, or take over a session whose home is gone), remembers answers per session, and drains:
 * each session's record is rewritten to name a new home, with its answers and the state vectors the
 * client has seen, and the client is redirected there.
 */
export class SessionHost {
  readonly registry: SessionRegistry
  private readonly sessions = new Map<string, LocalSession>()
  /** The session id served per player (one per player): replacing it must not scan every session. */
  private readonly sessionOfPlayer = new Map<string, string>()
  /** Open document connections per player, by document name. */
  private readonly documentsOf = new Map<string, Map<string, number>>()
  private draining = false
  private readonly handoffWaitMs: number

  constructor(
    private readonly peer: Peer,
    /** This gateway's client URL. */
    readonly url: string,
    private readonly options: SessionOptions,
    private readonly logger: Logger,
  ) {
    this.registry = new SessionRegistry(peer.openDoc(SESSION_REGISTRY_DOC))
    this.handoffWaitMs = options.handoffWaitMs ?? 3000
    this.registry.announce(peer.id, { url, draining: false })
  }

  /** Whether this gateway is draining. */
  get isDraining(): boolean {
    return this.draining
  }

  /** Sessions served here now. */
  localSessions(): LocalSession[] {
    return [...this.sessions.values()]
  }

  /** Counts a document connection of `player`; returns the function that uncounts it. */
  trackDocument(player: string, doc: string): () => void {
    let docs = this.documentsOf.get(player)
    if (!docs) this.documentsOf.set(player, (docs = new Map()))
    docs.set(doc, (docs.get(doc) ?? 0) + 1)
    return () => {
      const count = (docs.get(doc) ?? 1) - 1
      if (count > 0) docs.set(doc, count)
      else docs.delete(doc)
      if (docs.size === 0 && this.documentsOf.get(player) === docs) this.documentsOf.delete(player)
    }
  }

  /** Waits (at most `timeoutMs`) until `check` holds after some registry change. */
  private waitForRegistry(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const stop = this.registry.onChange(() => {
        if (!check()) return
        clearTimeout(timer)
        stop()
        resolve(true)
      })
      const timer = setTimeout(() => {
        stop()
        resolve(check())
      }, timeoutMs)
    })
  }

  /** Waits (at most until `deadline`) until this peer holds at least the given document states. */
  private async waitForDocuments(docs: Readonly<Record<string, Uint8Array>>, deadline: number): Promise<void> {
    for (const [name, need] of Object.entries(docs)) {
      try {
        await this.peer.openStoredDoc(name)
      } catch {
        continue
      }
      const doc = this.peer.getDoc(name)
      if (!doc) continue
      const covered = (): boolean => {
        try {
          return stateVectorCovers(Y.encodeStateVector(doc), need)
        } catch {
          // A vector that does not decode came from a broken peer; waiting cannot help.
          return true
        }
      }
      if (covered()) continue
      const caughtUp = await new Promise<boolean>((resolve) => {
        const onUpdate = (): void => {
          if (!covered()) return
          clearTimeout(timer)
          doc.off('update', onUpdate)
          resolve(true)
        }
        const timer = setTimeout(() => {
          doc.off('update', onUpdate)
          resolve(covered())
        }, Math.max(0, deadline - Date.now()))
        doc.on('update', onUpdate)
      })
      if (!caughtUp) this.logger.warn({ doc: name }, 'handoff target serves a session before holding all its old home had')
    }
  }

  /** A live, non-draining gateway of another peer, if `peer` is one. */
  private liveGateway(peer: string): { url: string } | undefined {
    const gateway = this.registry.gateway(peer)
    if (!gateway || gateway.draining || !this.peer.connectedPeers().includes(peer)) return undefined
    return gateway
  }

  /**
   * Decides a session connection of `player` with nonce `nonce`: serve it here, redirect it to its
   * home, or refuse it (a wrong resume token, or a draining peer with nowhere to send it).
   */
  async admit(player: string, nonce: string, resumeToken: string | undefined, handoff: boolean): Promise<SessionAdmission> {
    if (this.draining) {
      const record = this.registry.get(player)
      const home = record && record.home !== this.peer.id ? record.home : undefined
      const live = home !== undefined && this.liveGateway(home) !== undefined ? home : undefined
      const target = live ?? this.handoffTargets()[0]?.[0]
      const gateway = target === undefined ? undefined : this.registry.gateway(target)
      if (target === undefined || gateway === undefined) return { kind: 'refuse', code: CLOSE_TRY_AGAIN_LATER, reason: 'draining: this peer takes no sessions and has no peer to send you to' }
      return { kind: 'redirect', url: gateway.url, peer: target, handoff: false }
    }
    let record = this.registry.get(player)
    if (handoff && record !== undefined && record.home !== this.peer.id) {
      // The old home wrote the handoff before redirecting the client; the record may still be on its way here.
      await this.waitForRegistry(() => this.registry.get(player)?.home === this.peer.id, this.handoffWaitMs)
      record = this.registry.get(player)
    }
    if (record !== undefined && record.home !== this.peer.id) {
      const gateway = this.liveGateway(record.home)
      if (gateway) return { kind: 'redirect', url: gateway.url, peer: record.home, handoff: false }
      // The home is gone or draining: this peer takes the session over (without answers the home kept).
      this.logger.info({ player, from: record.home }, 'taking over a session whose home is unreachable')
    }
    const sameSession = record !== undefined && record.session === nonce
    if (sameSession && (resumeToken === undefined || !sameHash(resumeToken, (record as SessionRecord).resumeHash))) {
      return { kind: 'refuse', code: CLOSE_UNAUTHORIZED, reason: 'bad-resume-token: this session continues only with its resume token' }
    }
    const id = `${player}/${nonce}`
    let session = this.sessions.get(id)
    if (session === undefined) {
      session = new LocalSession(player, nonce, sameSession ? (resumeToken as string) : randomBytes(24).toString('base64url'))
      if (sameSession && record?.home === this.peer.id && record.state === 'handed-off') {
        await this.waitForDocuments(record.docs, Date.now() + this.handoffWaitMs)
        session.adopt(record.answers, record.answersFloor, record.lastAckedSeq)
      } else if (sameSession && record !== undefined) {
        // Resumed here after a restart, or taken over from an unreachable home: what the engine does
        // not remember up to the recorded acked sequence was answered before, so it is refused as
        // expired rather than applied again (an engine with a durable answer log remembers it all).
        session.adopt([], record.lastAckedSeq + 1, record.lastAckedSeq)
      }
      // Another nonce of the same player is replaced: one session per player, as the registry keys it.
      const otherId = this.sessionOfPlayer.get(player)
      if (otherId !== undefined && otherId !== id) this.sessions.delete(otherId)
      this.sessionOfPlayer.set(player, id)
      this.sessions.set(id, session)
    }
    this.registry.put({
      player,
      session: nonce,
      home: this.peer.id,
      resumeHash: hashToken(session.resumeToken),
      lastAckedSeq: session.lastAckedSeq,
      state: 'active',
      answers: [],
      answersFloor: 0,
      docs: {},
      updatedAt: Date.now(),
    })
    return { kind: 'admit', session, hello: { session: nonce, resumeToken: session.resumeToken, home: this.peer.id, lastAckedSeq: session.lastAckedSeq } }
  }

  /** Where a player's session lives when that is another live peer (for a connection that raced a handoff). */
  homeElsewhere(player: string): { url: string; peer: string } | undefined {
    const home = this.registry.get(player)?.home
    if (home === undefined || home === this.peer.id) return undefined
    const gateway = this.liveGateway(home)
    return gateway ? { url: gateway.url, peer: home } : undefined
  }

  /** Records the last acknowledged sequence when a session's connection closes (not once per intent). */
  disconnected(session: LocalSession): void {
    if (session.link !== undefined || this.sessions.get(session.id) !== session) return
    session.release()
    const timer = setTimeout(() => {
      if (session.link === undefined && this.sessions.get(session.id) === session) this.forgetSession(session)
    }, this.options.resumeWindowMs ?? 10 * 60_000)
    timer.unref()
    const record = this.registry.get(session.player)
    if (!record || record.home !== this.peer.id || record.session !== session.nonce || record.lastAckedSeq === session.lastAckedSeq) return
    this.registry.put({ ...record, lastAckedSeq: session.lastAckedSeq, updatedAt: Date.now() })
  }

  private forgetSession(session: LocalSession): void {
    this.sessions.delete(session.id)
    if (this.sessionOfPlayer.get(session.player) === session.id) this.sessionOfPlayer.delete(session.player)
  }

  /** Peers that can take sessions: announced, connected, not draining, not this one; sorted by id. */
  handoffTargets(): Array<[string, { url: string }]> {
    return this.registry.gatewaysByPeer().filter(([peer, gateway]) => peer !== this.peer.id && !gateway.draining && this.peer.connectedPeers().includes(peer))
  }

  /**
   * Drains this gateway: it takes no new sessions, and every session homed here is handed over, to
   * `target` or spread over the live peers. For each: first-time intents stop being taken, those in
   * flight are answered, then the record names the new home with the answers and the document
   * states the client has seen, and only then is the client redirected, so the new home never
   * serves it without what this peer knew.
   */
  async drain(target?: string): Promise<DrainReport> {
    const targets = target === undefined ? this.handoffTargets() : this.handoffTargets().filter(([peer]) => peer === target)
    if (targets.length === 0) {
      throw new NoHandoffTargetError(target === undefined ? 'no connected peer has a live gateway' : `peer '${target}' has no live gateway or is not connected`)
    }
    this.draining = true
    this.registry.announce(this.peer.id, { url: this.url, draining: true })
    const handedOff: Array<{ player: string; session: string; to: string }> = []
    const records = this.registry.records().filter((record) => record.home === this.peer.id)
    let next = 0
    for (const record of records) {
      const [to, gateway] = targets[next++ % targets.length] as [string, { url: string }]
      await this.handOver(record, to, gateway.url)
      handedOff.push({ player: record.player, session: record.session, to })
    }
    return { handedOff }
  }

  /**
   * Hands one player's session to `target` (a player moving to a zone another peer serves), the
   * same way a drain hands over each session. Throws `NoHandoffTargetError` when the target has no
   * live gateway, and a `RealmsyncError` when the player's session is not homed here.
   */
  async handOff(player: string, target: string): Promise<{ player: string; session: string; to: string }> {
    const gateway = this.liveGateway(target)
    if (gateway === undefined || target === this.peer.id) throw new NoHandoffTargetError(`peer '${target}' has no live gateway or is not connected`)
    const record = this.registry.get(player)
    if (record === undefined || record.home !== this.peer.id) throw new RealmsyncError('session-not-here', `player '${player}' has no session homed on peer '${this.peer.id}'`)
    await this.handOver(record, target, gateway.url)
    return { player, session: record.session, to: target }
  }

  /** Stops the session taking first-time intents, waits for those in flight, writes the handed-off record, then redirects the client. */
  private async handOver(record: SessionRecord, to: string, url: string): Promise<void> {
    const session = this.sessions.get(`${record.player}/${record.session}`)
    if (session) {
      session.draining = true
      await session.quiesce()
    }
    const docs: Record<string, Uint8Array> = {}
    const names = new Set([...(this.documentsOf.get(record.player)?.keys() ?? []), ...(this.options.intentDocuments ?? [])])
    for (const name of names) {
      const doc = this.peer.getDoc(name)
      if (doc) docs[name] = Y.encodeStateVector(doc)
    }
    const carried = session?.answersToHandOver()
    this.registry.put({
      ...record,
      home: to,
      state: 'handed-off',
      from: this.peer.id,
      answers: carried?.answers ?? [],
      answersFloor: carried?.floor ?? 0,
      lastAckedSeq: session?.lastAckedSeq ?? record.lastAckedSeq,
      docs,
      updatedAt: Date.now(),
    })
    session?.link?.redirect({ url, peer: to, handoff: true })
    session?.release()
    if (session) this.forgetSession(session)
    this.logger.info({ player: record.player, to }, 'session handed off')
  }
}
