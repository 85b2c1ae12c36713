import * as Y from 'yjs'
import type { IntentResult, WorldValue } from '../core/index.js'

/**
 * The session registry: which peer is each player's home, kept as a replicated document so every
 * peer can answer "where does this player belong" without asking anyone. Only a session's home peer
 * writes its record (a handoff is the old home writing the new home's name); every peer reads. Per
 * DESIGN.md decision 10 every overwrite leaves a struct behind, so records are written on session
 * events (claim, handoff, disconnect), never once per intent.
 */

/** The registry's document name. The `realmsync/` prefix is internal: the gateway never serves it to clients. */
export const SESSION_REGISTRY_DOC = 'realmsync/sessions'

/** Where a session stands. */
export type SessionState = 'active' | 'draining' | 'handed-off'

/** One player's session as the registry holds it. */
export interface SessionRecord {
  readonly player: string
  /** The client's session nonce; with the player it names the session. */
  readonly session: string
  /** The home peer's id. */
  readonly home: string
  /** SHA-256 (base64url) of the resume token: a peer that reads the registry cannot resume a session. */
  readonly resumeHash: string
  /** Highest sequence number answered so far (as of the last write). */
  readonly lastAckedSeq: number
  readonly state: SessionState
  /** The peer that handed the session over, on a handed-off record. */
  readonly from?: string
  /** Answers carried across a handoff, so a resent intent gets its original answer on the new home. */
  readonly answers: readonly IntentResult[]
  /** Lowest sequence the answers cover: anything older was answered and forgotten. */
  readonly answersFloor: number
  /** State vectors of documents at handoff: the new home serves the client once it holds at least these. */
  readonly docs: Readonly<Record<string, Uint8Array>>
  /** Wall-clock ms of the write (for operators; never used to order writes). */
  readonly updatedAt: number
}

/** A peer's client gateway, as announced in the registry. */
export interface GatewayAnnouncement {
  /** The base URL clients reach it at, e.g. `ws://10.0.0.2:8080`. */
  readonly url: string
  /** Whether it is draining: it takes no new sessions. */
  readonly draining: boolean
}

const SESSIONS_MAP = 'sessions'
const GATEWAYS_MAP = 'gateways'

type Fields = Readonly<Record<string, unknown>>

const isRecordObject = (value: unknown): value is Fields => value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)
const isSeq = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** An intent answer read from the registry, or undefined if it is not one. */
const parseAnswer = (value: unknown): IntentResult | undefined => {
  if (!isRecordObject(value) || !isSeq(value.seq)) return undefined
  if (value.type === 'ack' && Object.hasOwn(value, 'result')) return { type: 'ack', seq: value.seq, result: value.result as WorldValue }
  if (value.type === 'reject' && typeof value.reason === 'string' && typeof value.message === 'string') return { type: 'reject', seq: value.seq, reason: value.reason, message: value.message }
  return undefined
}

/**
 * A session record read from the registry, or undefined when the entry is not a well-formed
 * record: the registry arrives from other peers, so it is read strictly and a bad entry is ignored.
 */
export const parseSessionRecord = (player: string, value: unknown): SessionRecord | undefined => {
  if (!isRecordObject(value)) return undefined
  const { session, home, resumeHash, lastAckedSeq, state, from, answers, answersFloor, docs, updatedAt } = value
  if (typeof session !== 'string' || typeof home !== 'string' || typeof resumeHash !== 'string' || !isSeq(lastAckedSeq) || !isSeq(answersFloor)) return undefined
  if (state !== 'active' && state !== 'draining' && state !== 'handed-off') return undefined
  if (from !== undefined && typeof from !== 'string') return undefined
  if (!Array.isArray(answers) || !isRecordObject(docs) || typeof updatedAt !== 'number') return undefined
  const parsedAnswers: IntentResult[] = []
  for (const answer of answers) {
    const parsed = parseAnswer(answer)
    if (parsed === undefined) return undefined
    parsedAnswers.push(parsed)
  }
  const parsedDocs: Record<string, Uint8Array> = Object.create(null) as Record<string, Uint8Array>
  for (const [name, vector] of Object.entries(docs)) {
    if (!(vector instanceof Uint8Array)) return undefined
    parsedDocs[name] = vector
  }
  return { player, session, home, resumeHash, lastAckedSeq, state, ...(from !== undefined ? { from } : {}), answers: parsedAnswers, answersFloor, docs: parsedDocs, updatedAt }
}

/** The registry as lib0 stores it: a plain object (the player is the map key). */
const toStored = (record: SessionRecord): Record<string, unknown> => {
  const { player: _player, ...rest } = record
  return { ...rest, answers: record.answers.map((answer) => ({ ...answer })), docs: { ...record.docs } }
}

/** The session registry over a replicated document (see `SESSION_REGISTRY_DOC`). */
export class SessionRegistry {
  private readonly sessions: Y.Map<unknown>
  private readonly gateways: Y.Map<unknown>

  constructor(
    /** The peer's replica of the registry document. */
    readonly doc: Y.Doc,
  ) {
    this.sessions = doc.getMap(SESSIONS_MAP)
    this.gateways = doc.getMap(GATEWAYS_MAP)
  }

  /** The record of `player`'s session, if any (malformed entries read as none). */
  get(player: string): SessionRecord | undefined {
    return parseSessionRecord(player, this.sessions.get(player))
  }

  /** Every well-formed record. */
  records(): SessionRecord[] {
    const out: SessionRecord[] = []
    for (const [player, value] of this.sessions.entries()) {
      const record = parseSessionRecord(player, value)
      if (record) out.push(record)
    }
    return out
  }

  /** Writes `record` (only a session's home peer does). */
  put(record: SessionRecord): void {
    this.sessions.set(record.player, toStored(record))
  }

  /** Announces a peer's client gateway. */
  announce(peer: string, announcement: GatewayAnnouncement): void {
    const current = this.gateway(peer)
    if (current?.url === announcement.url && current.draining === announcement.draining) return
    this.gateways.set(peer, { url: announcement.url, draining: announcement.draining })
  }

  /** A peer's announced gateway, if any. */
  gateway(peer: string): GatewayAnnouncement | undefined {
    const value = this.gateways.get(peer)
    if (!isRecordObject(value) || typeof value.url !== 'string' || typeof value.draining !== 'boolean') return undefined
    return { url: value.url, draining: value.draining }
  }

  /** Every announced gateway by peer id, sorted by id (so choices made from it are deterministic). */
  gatewaysByPeer(): Array<[string, GatewayAnnouncement]> {
    const out: Array<[string, GatewayAnnouncement]> = []
    for (const peer of [...this.gateways.keys()].sort()) {
      const announcement = this.gateway(peer)
      if (announcement) out.push([peer, announcement])
    }
    return out
  }

  /** Calls `listener` after every change to the registry; returns a function that stops it. */
  onChange(listener: () => void): () => void {
    const observer = (): void => listener()
    this.doc.on('afterTransaction', observer)
    return () => this.doc.off('afterTransaction', observer)
  }
}

/** Whether the document state vector `have` covers `need` (every client's clock at least as far). */
export const stateVectorCovers = (have: Uint8Array, need: Uint8Array): boolean => {
  const held = Y.decodeStateVector(have)
  for (const [client, clock] of Y.decodeStateVector(need)) if ((held.get(client) ?? 0) < clock) return false
  return true
}
