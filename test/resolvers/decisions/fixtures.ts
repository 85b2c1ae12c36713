import { createHash } from 'node:crypto'
import type { Intent, WorldValue } from '../../../core/index.js'
import { DecisionCore, DecisionKeyRegistry, decisionKeysFromSeed, killRule, pickupResolutionRule, rareDropRule, tradeRule, type DecisionCommand, type DecisionCoreOptions, type DecisionKeyPair, type DecisionRules } from '../../../resolvers/index.js'

const keyCache = new Map<string, DecisionKeyPair>()

/** Deterministic keys per peer name (cached: property tests build many clusters). */
export const keysOf = (peer: string): DecisionKeyPair => {
  let keys = keyCache.get(peer)
  if (keys === undefined) {
    keys = decisionKeysFromSeed(createHash('sha256').update(`test-key:${peer}`).digest())
    keyCache.set(peer, keys)
  }
  return keys
}

/** The game's rules every honest peer runs. */
export const RULES: DecisionRules = {
  kill: killRule({ reach: 2, maxDamage: 50 }),
  'rare-drop': rareDropRule([
    { item: 'common', weight: 90 },
    { item: 'legendary', weight: 10 },
  ]),
  trade: tradeRule(),
  'pickup-resolution': pickupResolutionRule(),
}

/** A kill intent and a pre-state in which it is legal. */
export const killInputs = (seq = 1, health = 30): { intent: Intent; preState: WorldValue } => ({
  intent: { action: 'attack', seq, player: 'alice', payload: { target: 'bob' } },
  preState: { attacker: { x: 0, y: 0 }, target: { id: 'bob', x: 1, y: 1, health }, damage: 40 },
})

/** A registry of every named peer's public key. */
export const registryOf = (peers: readonly string[]): DecisionKeyRegistry => {
  const registry = new DecisionKeyRegistry()
  for (const peer of peers) registry.register(peer, keysOf(peer).publicKey)
  return registry
}

/** A small sans-IO cluster: cores that deliver each other's `send` commands when `deliver` is called. */
export class CoreCluster {
  time = 1_000
  readonly cores = new Map<string, DecisionCore>()
  readonly outcomes: DecisionCommand[] = []
  private queue: Array<{ from: string; to: string; payload: Uint8Array }> = []

  constructor(
    readonly peers: readonly string[],
    overrides: (peer: string) => Partial<DecisionCoreOptions> = () => ({}),
  ) {
    const keys = registryOf(peers)
    for (const peer of peers) {
      this.cores.set(peer, new DecisionCore({ self: peer, privateKey: keysOf(peer).privateKey, keys, rules: RULES, now: () => this.time, ...overrides(peer) }))
    }
  }

  core(peer: string): DecisionCore {
    return this.cores.get(peer) as DecisionCore
  }

  /** Queues the sends of `commands` from `from`, keeps the rest as outcomes. */
  take(from: string, commands: readonly DecisionCommand[]): void {
    for (const command of commands) {
      if (command.type === 'send') this.queue.push({ from, to: command.to, payload: command.payload })
      else this.outcomes.push(command)
    }
  }

  /** Delivers queued messages until none are left. */
  deliver(): void {
    while (this.queue.length > 0) {
      const { from, to, payload } = this.queue.shift() as { from: string; to: string; payload: Uint8Array }
      this.take(to, this.core(to).receive(from, payload))
    }
  }

  /** Drops queued messages, returning them. */
  intercept(): Array<{ from: string; to: string; payload: Uint8Array }> {
    const taken = this.queue
    this.queue = []
    return taken
  }

  of<T extends DecisionCommand['type']>(type: T): Array<Extract<DecisionCommand, { type: T }>> {
    return this.outcomes.filter((command): command is Extract<DecisionCommand, { type: T }> => command.type === type)
  }
}
