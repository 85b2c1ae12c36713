import type { WorldValue } from '../../core/index.js'
import { demoHandlers } from '../../cli/demo-game.js'
import { accept, refuse, type ActionHandler } from '../../resolvers/index.js'

// A small game for engine and replay tests: spawn loot (kind drawn from the seeded random source),
// pick it up and drop it (the demo game's rules), move. Every rule reads only world state, so a replay decides the same.

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
  // Pickup and drop are the demo game's own rules: one copy of them.
  pickup: demoHandlers.pickup!,
  drop: demoHandlers.drop!,
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
