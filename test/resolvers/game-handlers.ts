import type { WorldValue } from '../../core/index.js'
import { accept, refuse, type ActionHandler } from '../../resolvers/index.js'

// A small game for engine and replay tests: spawn loot (kind drawn from the seeded random source),
// pick it up, drop it, move. Every rule reads only world state, so a replay decides the same.

const KINDS = ['sword', 'shield', 'potion', 'gem'] as const

const field = (payload: WorldValue, key: string): WorldValue | undefined =>
  payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, WorldValue>)[key] : undefined

const itemOf = (payload: WorldValue): string => String(field(payload, 'item') ?? '')

export const gameHandlers: Record<string, ActionHandler> = {
  spawn: {
    validate: ({ world, intent }) => (world.hasItem(itemOf(intent.payload)) ? refuse('conflict', 'item exists') : accept()),
    apply: ({ world, intent, random }) => {
      const kind = random.pick(KINDS)
      world.createItem(itemOf(intent.payload), kind)
      return kind
    },
  },
  pickup: {
    validate: ({ world, intent }) => {
      const item = world.getItem(itemOf(intent.payload))
      if (item === undefined) return refuse('invalid-intent', 'no such item')
      return item.holder.type === 'none' ? accept() : refuse('conflict', 'someone holds it')
    },
    apply: ({ world, intent }) => {
      world.moveItem(itemOf(intent.payload), { type: 'player', id: intent.player }, { type: 'none' })
      return true
    },
  },
  drop: {
    validate: ({ world, intent }) => {
      const item = world.getItem(itemOf(intent.payload))
      return item?.holder.type === 'player' && item.holder.id === intent.player ? accept() : refuse('not-permitted', 'you do not hold it')
    },
    apply: ({ world, intent }) => {
      world.moveItem(itemOf(intent.payload), { type: 'none' })
      return true
    },
  },
  move: {
    apply: ({ world, intent, nowMs }) => {
      if (!world.hasEntity(intent.player)) world.createEntity(intent.player, 'player')
      world.setComponent(intent.player, 'position', { x: Number(field(intent.payload, 'x') ?? 0), at: nowMs })
      return nowMs
    },
  },
  explode: {
    apply: () => {
      throw new Error('handler bug')
    },
  },
}
