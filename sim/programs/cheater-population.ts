import type { Random } from '../../core/index.js'
import type { CheatFeature } from '../../resolvers/index.js'

// A deterministic population of game bots for the `cheaters` scenario: honest bots whose behaviour
// features are noisy normals around personal means (people differ a little), and cheaters who each
// break one thing.

/** What a bot does wrong, if anything. */
export type BotKind = 'honest' | CheatKind

/** The cheats the scenario plants. */
export type CheatKind = 'speed-hack' | 'teleport' | 'rate-abuse' | 'aimbot' | 'duplication'

/** Every cheat kind, in report order. */
export const CHEAT_KINDS: readonly CheatKind[] = ['speed-hack', 'teleport', 'rate-abuse', 'aimbot', 'duplication']

/** One bot: its id, what it does, and its personal means per feature. */
export interface Bot {
  readonly id: string
  readonly kind: BotKind
  readonly means: Readonly<Record<CheatFeature, number>>
}

/** Population means, the spread of personal means between bots, and per-sample noise around a bot's own mean. */
export const POPULATION: Readonly<Record<CheatFeature, { mean: number; between: number; noise: number }>> = {
  speed: { mean: 5, between: 0.3, noise: 1 },
  actionRate: { mean: 3, between: 0.2, noise: 0.7 },
  accuracy: { mean: 0.4, between: 0.025, noise: 0.08 },
  reactionTime: { mean: 250, between: 10, noise: 40 },
  resourceGain: { mean: 10, between: 1, noise: 3 },
}

const FEATURES = Object.keys(POPULATION) as CheatFeature[]

/** A standard normal draw (Box-Muller) from the seeded source; 1 - next() is in (0, 1], so the log is finite. */
export const gaussian = (random: Random): number => Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next())

/** `honest` honest bots and `perKind` cheaters of each kind, shuffled so cheaters spread through the arrival order. */
export const makeBots = (random: Random, honest: number, perKind: number, kinds: readonly CheatKind[] = CHEAT_KINDS): Bot[] => {
  const all: BotKind[] = [...Array<BotKind>(honest).fill('honest'), ...kinds.flatMap((kind) => Array<BotKind>(perKind).fill(kind))]
  const bots = all.map((kind, index): Bot => {
    const means = {} as Record<CheatFeature, number>
    for (const feature of FEATURES) means[feature] = POPULATION[feature].mean + gaussian(random) * POPULATION[feature].between
    return { id: `bot-${String(index).padStart(3, '0')}`, kind, means }
  })
  for (let i = bots.length - 1; i > 0; i--) {
    const j = random.int(0, i)
    ;[bots[i], bots[j]] = [bots[j] as Bot, bots[i] as Bot]
  }
  return bots
}

/**
 * One tick's behaviour of a bot: honest noise around its means, then its cheat. A speed hack runs
 * 1.8x; a teleport walks normally and every fifth tick jumps across the map; rate abuse acts 3x as
 * often; an aimbot hits almost always and reacts inhumanly fast. Duplication changes no feature:
 * it shows in the intents (offering items already given away).
 */
export const sampleBehaviour = (bot: Bot, random: Random, tick: number): Record<CheatFeature, number> => {
  const out = {} as Record<CheatFeature, number>
  for (const feature of FEATURES) out[feature] = bot.means[feature] + gaussian(random) * POPULATION[feature].noise
  out.accuracy = Math.min(1, Math.max(0, out.accuracy))
  out.speed = Math.max(0, out.speed)
  out.actionRate = Math.max(0, out.actionRate)
  out.reactionTime = Math.max(80, out.reactionTime)
  if (bot.kind === 'speed-hack') out.speed *= 1.8
  else if (bot.kind === 'aimbot') {
    out.accuracy = Math.min(1, 0.93 + Math.abs(gaussian(random)) * 0.03)
    out.reactionTime = 60 + Math.abs(gaussian(random)) * 15
  } else if (bot.kind === 'rate-abuse') out.actionRate *= 3
  else if (bot.kind === 'teleport' && tick % 5 === 4) out.speed = 150 + random.next() * 100
  return out
}
