import type { WorldValue } from '../core/index.js'
import { accept, refuse, type ActionHandler } from '../resolvers/index.js'

// The demo's rules: players walk, pick up free loot and drop it. Every rule reads only world state,
// so the engine can record and replay a session.

const field = (payload: WorldValue, key: string): WorldValue | undefined =>
  payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, WorldValue>)[key] : undefined

const itemOf = (payload: WorldValue): string => String(field(payload, 'item') ?? '')

/** Furthest a demo player may move in one step. */
export const DEMO_MAX_STEP = 5

/** Handlers of the demo game: `move`, `pickup`, `drop`. */
export const demoHandlers: Record<string, ActionHandler> = {
  move: {
    validate: ({ intent }) => {
      const dx = Number(field(intent.payload, 'dx'))
      const dy = Number(field(intent.payload, 'dy'))
      if (!Number.isFinite(dx) || !Number.isFinite(dy)) return refuse('invalid-intent', 'dx and dy must be numbers')
      return Math.hypot(dx, dy) <= DEMO_MAX_STEP ? accept() : refuse('cheat-suspected', `a step may be at most ${DEMO_MAX_STEP}`)
    },
    apply: ({ world, intent }) => {
      if (!world.hasEntity(intent.player)) world.createEntity(intent.player, 'player', { position: { x: 0, y: 0 } })
      const at = world.getComponent(intent.player, 'position') ?? { x: 0, y: 0 }
      const x = Number(at.x) + Number(field(intent.payload, 'dx'))
      const y = Number(at.y) + Number(field(intent.payload, 'dy'))
      world.setComponent(intent.player, 'position', { x, y })
      return { x, y }
    },
  },
  pickup: {
    validate: ({ world, intent }) => {
      const item = world.getItem(itemOf(intent.payload))
      if (item === undefined) return refuse('invalid-intent', 'no such item')
      return item.holder.type === 'none' ? accept() : refuse('conflict', 'someone already holds it')
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
}
