import { createRandom, createSystemClock, openWorldDoc, type WorldDoc, type WorldValue } from '../../core/index.js'
import { MemoryNetwork } from '../../transports/index.js'
import { Peer } from '../../replication/index.js'
import { IntentEngine, speedGuard, type ActionHandler } from '../../resolvers/index.js'
import { defaultAuthenticate, signDevToken, startGateway, withValidators, worldPosition, type Gateway, type GatewayOptions } from '../../gateway/index.js'
import { ManualClock } from '../helpers/manual-clock.js'

// A small world for intent-channel tests: `step` adds 1 to the player's counter (not idempotent,
// so a duplicate application shows in the world), `move` sets a position under a max-speed check.

export const secret = 'intent-channel-test-secret-of-at-least-32-bytes'

const field = (payload: WorldValue, key: string): WorldValue | undefined =>
  payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, WorldValue>)[key] : undefined

const ensurePlayer = (world: WorldDoc, player: string): void => {
  if (!world.hasEntity(player)) world.createEntity(player, 'player')
}

/** The step count the world holds for `player`. */
export const stepsOf = (world: WorldDoc, player: string): number => Number(world.getComponent(player, 'counter')?.steps ?? 0)

/** Called by `step` after each application: lets a test act at an exact point of the stream. */
export const stepHook: { current: ((player: string, steps: number) => void) | undefined } = { current: undefined }

const baseHandlers: Record<string, ActionHandler> = {
  step: {
    apply: ({ world, intent }) => {
      ensurePlayer(world, intent.player)
      const steps = stepsOf(world, intent.player) + 1
      world.setComponent(intent.player, 'counter', { steps })
      stepHook.current?.(intent.player, steps)
      return steps
    },
  },
  move: {
    apply: ({ world, intent, nowMs }) => {
      ensurePlayer(world, intent.player)
      world.setComponent(intent.player, 'position', { x: Number(field(intent.payload, 'x')), y: Number(field(intent.payload, 'y') ?? 0), at: nowMs })
      return nowMs
    },
  },
}

/** The test handlers, `move` limited to 10 units per second by the anti-cheat speed guard, reading the last position from the world. */
export const handlers = withValidators(baseHandlers, { move: [speedGuard({ maxSpeed: 10, lastPosition: worldPosition() })] })

/** A token for `player` reading `world/*`. */
export const token = (player: string, read: string[] = ['world/*'], write: string[] = []): Promise<string> =>
  signDevToken({ player, read, write, ttlSeconds: 60, secret })

/** A peer with a world document, an engine over it, and a gateway serving both. */
export const startIntentWorld = async (options: Partial<GatewayOptions> = {}) => {
  const network = new MemoryNetwork()
  const peer = new Peer({ id: 'a', transport: network.endpoint('a'), clock: createSystemClock(), random: createRandom(1) })
  peer.start()
  const world = openWorldDoc(peer.openDoc('world/1'))
  const clock = new ManualClock()
  const engine = await IntentEngine.start({ world, worldName: 'world/1', clock, seed: 3, handlers })
  const gateway: Gateway = await startGateway({
    peer,
    port: 0,
    host: '127.0.0.1',
    authenticate: defaultAuthenticate({ kind: 'secret', secret }),
    closeGraceMs: 1000,
    intents: { engine },
    ...options,
  })
  return {
    peer,
    world,
    clock,
    engine,
    gateway,
    close: async () => {
      await gateway.close()
      peer.close()
    },
  }
}
