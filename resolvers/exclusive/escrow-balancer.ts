import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { expectEnd, MalformedFrameError, readStrictByte, readStrictString, readStrictUint, UnsupportedVersionError, type WorldDoc } from '../../core/index.js'
import { LaneOrigin } from '../../replication/index.js'
import { grantRebalance, planRebalance } from './escrow.js'
import type { ClaimLink } from './resolver-gate.js'

/** The application channel escrow rebalancing requests travel on. */
export const ESCROW_CHANNEL = 'resolvers/escrow'

const ESCROW_CODEC_VERSION = 1
const MAX_STOCK_BYTES = 512

/** A request for part of another peer's share of a stock. */
export interface ShareRequest {
  readonly stock: string
  readonly amount: number
}

/** Encodes a share request with lib0 encoding. */
export const encodeShareRequest = (request: ShareRequest): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, ESCROW_CODEC_VERSION)
  encoding.writeVarString(encoder, request.stock)
  encoding.writeVarUint(encoder, request.amount)
  return encoding.toUint8Array(encoder)
}

/** Decodes a share request strictly; throws a `FrameDecodeError` subclass on malformed input. */
export const decodeShareRequest = (bytes: Uint8Array): ShareRequest => {
  const decoder = decoding.createDecoder(bytes)
  const version = readStrictByte(decoder, 'share request version')
  if (version !== ESCROW_CODEC_VERSION) throw new UnsupportedVersionError(version, ESCROW_CODEC_VERSION)
  const stock = readStrictString(decoder, 'share request stock', MAX_STOCK_BYTES)
  if (stock.length === 0) throw new MalformedFrameError('share request names no stock')
  const amount = readStrictUint(decoder, 'share request amount')
  expectEnd(decoder, 'share request')
  return { stock, amount }
}

/** Counters of an escrow balancer. */
export interface EscrowBalancerStats {
  requestsSent: number
  requestsAnswered: number
  unitsGranted: number
}

/**
 * Rebalancing of escrowed stocks between peers: a peer running short asks the peer its replica says
 * has the most, which gives at most half of what it has by writing a transfer into the world
 * document (its own row, so no coordination); the credit reaches the asker by replication. Asking
 * is only a hint: a lost or refused request costs a sale at worst, never an oversell.
 */
export class EscrowBalancer {
  /** Counters. */
  readonly stats: EscrowBalancerStats = { requestsSent: 0, requestsAnswered: 0, unitsGranted: 0 }
  private readonly stopListening: () => void
  private readonly origin = new LaneOrigin('normal', this)

  constructor(
    private readonly link: ClaimLink,
    private readonly world: WorldDoc,
  ) {
    this.stopListening = link.onChannel(ESCROW_CHANNEL, (from, payload) => {
      const request = decodeShareRequest(payload)
      if (!world.hasEntity(request.stock)) return
      this.stats.requestsAnswered++
      this.stats.unitsGranted += world.transact(this.origin, () => grantRebalance(world, request.stock, link.id, from, request.amount))
    })
  }

  /** Asks the richest reachable-looking peer for at least `need` of a stock; false when nobody has any or the donor is unreachable. */
  request(stock: string, need: number): boolean {
    const plan = planRebalance(this.world, stock, this.link.id, need)
    if (plan === undefined || !this.link.connectedPeers().includes(plan.from)) return false
    this.stats.requestsSent++
    return this.link.sendChannel(plan.from, ESCROW_CHANNEL, encodeShareRequest({ stock, amount: plan.amount }))
  }

  /** Stops answering requests. */
  close(): void {
    this.stopListening()
  }
}
