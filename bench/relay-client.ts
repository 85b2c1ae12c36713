// Raw y-protocols clients for the relay benchmarks: a reader that syncs one document and hands
// every update the server fans out to a callback without applying it, and a writer that sends
// Y.Map updates from its own document. No Y.Doc per reader, so one load-generator process can hold
// thousands of them and its own cost stays far below the server's. Two framings: plain y-websocket
// (realmsync's gateway, @y/websocket-server) and Hocuspocus's (every message starts with the
// document name; the first one authenticates).
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import type { RelayFlavour } from './relay-protocol.js'

const MESSAGE_SYNC = 0
const MESSAGE_AUTH = 2
const SYNC_STEP1 = 0
const SYNC_STEP2 = 1
const SYNC_UPDATE = 2
// Hocuspocus's auth message kinds (@hocuspocus/common); y-protocols' auth has only permission-denied (0).
const HOCUSPOCUS_TOKEN = 0
const HOCUSPOCUS_PERMISSION_DENIED = 1
const HOCUSPOCUS_AUTHENTICATED = 2
const Y_PERMISSION_DENIED = 0

/** How a raw client connects. */
export interface RelayClientOptions {
  readonly flavour: RelayFlavour
  /** `ws://host:port` of the server. */
  readonly url: string
  readonly docName: string
  /** A realmsync token, sent as the `token` query parameter (and as Hocuspocus's auth token). */
  readonly token?: string
  readonly localAddress?: string
  /** Gives up on connecting after this long. */
  readonly timeoutMs: number
}

/** What a raw client reports while it is open. */
export interface RelayClientEvents {
  /** An update the server fanned out (not the initial state). */
  onUpdate?(update: Uint8Array): void
  /** A permission-denied message. */
  onRefusal?(reason: string): void
  /** The socket closed after the client was synced. */
  onClose?(code: number, reason: string): void
}

/** An open client: send updates, close. */
export interface RelayClient {
  /** Sends a Yjs update as a y-protocols update message. */
  sendUpdate(update: Uint8Array): void
  /** Bytes queued in the socket. */
  readonly bufferedAmount: number
  close(): void
}

/** A message of the flavour's framing: the document name first for Hocuspocus. */
const frame = (flavour: RelayFlavour, docName: string, write: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder()
  if (flavour === 'hocuspocus') encoding.writeVarString(encoder, docName)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

const syncFrame = (flavour: RelayFlavour, docName: string, kind: number, payload: Uint8Array): Uint8Array =>
  frame(flavour, docName, (encoder) => {
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    encoding.writeVarUint(encoder, kind)
    encoding.writeVarUint8Array(encoder, payload)
  })

// An empty state vector (no clients) and an empty update (no structs, no deletions).
const EMPTY_STATE_VECTOR = new Uint8Array([0])
const EMPTY_UPDATE = new Uint8Array([0, 0])

/**
 * Opens a raw client and resolves once it holds the document's state (sync step 2 received); rejects
 * when the server closes or refuses it first, or after `timeoutMs`.
 */
export const connectRelayClient = (options: RelayClientOptions, events: RelayClientEvents): Promise<RelayClient> =>
  new Promise((resolve, reject) => {
    const { flavour, docName } = options
    const path = flavour === 'hocuspocus' ? '/' : `/${docName}`
    const query = options.token && flavour === 'y-websocket' ? `?token=${encodeURIComponent(options.token)}` : ''
    const ws = new WebSocket(`${options.url}${path}${query}`, {
      perMessageDeflate: false,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    })
    ws.binaryType = 'nodebuffer'
    let synced = false
    const emptyStep2 = syncFrame(flavour, docName, SYNC_STEP2, EMPTY_UPDATE)
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`timed out after ${options.timeoutMs} ms`))
    }, options.timeoutMs)
    const client: RelayClient = {
      sendUpdate: (update) => ws.send(syncFrame(flavour, docName, SYNC_UPDATE, update)),
      get bufferedAmount() {
        return ws.bufferedAmount
      },
      close: () => ws.close(),
    }
    const startSync = (): void => ws.send(syncFrame(flavour, docName, SYNC_STEP1, EMPTY_STATE_VECTOR))
    ws.on('open', () => {
      if (flavour === 'hocuspocus') {
        ws.send(
          frame(flavour, docName, (encoder) => {
            encoding.writeVarUint(encoder, MESSAGE_AUTH)
            encoding.writeVarUint(encoder, HOCUSPOCUS_TOKEN)
            encoding.writeVarString(encoder, options.token ?? '')
          }),
        )
      } else {
        startSync()
      }
    })
    ws.on('message', (data: Buffer) => {
      const decoder = decoding.createDecoder(data)
      if (flavour === 'hocuspocus') decoding.readVarString(decoder)
      const type = decoding.readVarUint(decoder)
      if (type === MESSAGE_SYNC) {
        const kind = decoding.readVarUint(decoder)
        if (kind === SYNC_UPDATE) {
          if (synced) events.onUpdate?.(decoding.readVarUint8Array(decoder))
        } else if (kind === SYNC_STEP1) {
          // Answered as the stock provider does; this client holds nothing, so the answer is empty.
          ws.send(emptyStep2)
        } else if (kind === SYNC_STEP2 && !synced) {
          synced = true
          clearTimeout(timer)
          resolve(client)
        }
      } else if (type === MESSAGE_AUTH) {
        const kind = decoding.readVarUint(decoder)
        if (flavour === 'hocuspocus' && kind === HOCUSPOCUS_AUTHENTICATED) {
          startSync()
        } else if ((flavour === 'hocuspocus' && kind === HOCUSPOCUS_PERMISSION_DENIED) || (flavour === 'y-websocket' && kind === Y_PERMISSION_DENIED)) {
          const reason = decoding.hasContent(decoder) ? decoding.readVarString(decoder) : 'permission denied'
          if (synced) events.onRefusal?.(reason)
          else {
            clearTimeout(timer)
            ws.terminate()
            reject(new Error(`refused: ${reason}`))
          }
        }
      }
    })
    ws.on('error', (error) => {
      if (synced) return
      clearTimeout(timer)
      reject(error)
    })
    ws.on('close', (code, reason) => {
      if (synced) events.onClose?.(code, reason.toString())
      else {
        clearTimeout(timer)
        reject(new Error(`closed before sync: ${code} ${reason.toString()}`))
      }
    })
  })
