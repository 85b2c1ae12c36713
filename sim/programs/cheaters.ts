import * as Y from 'yjs'
import { createRandom, WorldDoc, type Intent, type Millis, type WorldValue } from '../../core/index.js'
import {
  CheatDetector,
  cooldownGuard,
  ownershipValidator,
  rateLimitGuard,
  reachValidator,
  readPosition,
  responseGuard,
  speedGuard,
  withGuards,
  type ActionHandler,
  type EvidenceRecord,
  type Guard,
  type Position,
} from '../../resolvers/index.js'
import { CHEAT_KINDS, makeBots, sampleBehaviour, type Bot, type CheatKind } from './cheater-population.js'
import { formatRows, type ProgramReport, type ProgramRunOptions, type ProgramScenario } from './program-scenario.js'

/** Settings of a `cheaters` run beyond the seed; every field has a default. */
export interface CheatersOptions extends ProgramRunOptions {
  /** Honest bots. Default 200. */
  readonly honest?: number
  /** Cheaters of each kind. Default 10. */
  readonly perKind?: number
  /** Virtual time the run lasts. Default 10 000 ms. */
  readonly durationMs?: Millis
  /** Virtual time between a bot's moves. Default 200 ms. */
  readonly tickMs?: Millis
  /** A cheater counts as detected only within this long of its first cheat. Default 5 000 ms. */
  readonly withinMs?: Millis
}

/** Percentiles of a set of durations in milliseconds (null when the set is empty). */
export interface TimePercentiles {
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
  readonly max: number | null
}

/** What caught a bot first: a hard validator refusal (`cheat-suspected`), repeated ownership strikes, or the statistical detector. */
export type DetectionSource = 'validator' | 'strikes' | 'detector'

/** Detection figures of one cheat kind. */
export interface CheatKindReport {
  readonly bots: number
  readonly detected: number
  readonly detectionRate: number
  readonly timeToDetectMs: TimePercentiles
  readonly caughtBy: Readonly<Record<DetectionSource, number>>
  /** Intents of these bots refused, by reason. */
  readonly refusals: Readonly<Record<string, number>>
}

/** The `cheaters` report. */
export interface CheatersReport extends ProgramReport {
  readonly honestBots: number
  readonly cheaters: number
  readonly durationMs: Millis
  readonly withinMs: Millis
  /** Share of cheaters detected within `withinMs`. */
  readonly detectionRate: number
  /** Share of honest bots ever flagged, refused as cheats or struck out. */
  readonly falsePositiveRate: number
  readonly falsePositives: readonly string[]
  readonly timeToDetectMs: TimePercentiles
  readonly perType: Readonly<Record<CheatKind, CheatKindReport>>
  readonly intents: { readonly submitted: number; readonly accepted: number; readonly refused: Readonly<Record<string, number>> }
  /** Graduated-response steps the detector took (each with an evidence record). */
  readonly responseSteps: number
  readonly targets: { readonly detectionRate: number; readonly falsePositiveRate: number; readonly withinMs: Millis }
}

/** How and when a bot was detected. */
export interface Detection {
  readonly atMs: Millis
  readonly by: DetectionSource
}

/** A run with its working parts, for tests that look past the report. */
export interface CheatersRun {
  readonly report: CheatersReport
  readonly bots: readonly Bot[]
  readonly detector: CheatDetector
  readonly steps: readonly EvidenceRecord[]
  readonly detections: ReadonlyMap<string, Detection>
}

const TARGETS = { detectionRate: 0.95, falsePositiveRate: 0.01 }
/** Ownership refusals within `STRIKE_WINDOW_MS` that count as a duplication attempt rather than a race. */
const STRIKES_TO_DETECT = 3
const STRIKE_WINDOW_MS = 10_000
const MOB = (bot: Bot): string => `mob-${bot.id}`

/** Nearest-rank percentiles. */
export const timePercentiles = (values: readonly number[]): TimePercentiles => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number): number | null => (sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number))
  return { p50: at(50), p90: at(90), p99: at(99), max: at(100) }
}

/**
 * The game's action handlers with every validator on: speed and teleport, rate limit, cooldown,
 * reach, ownership, and the detector's response. Positions are ephemeral state (DESIGN.md decision
 * 3), so they live in a map beside the world document, which holds the items.
 */
const makeHandlers = (detector: CheatDetector, positions: Map<string, Position>): Record<string, ActionHandler> => {
  const response = (): Guard => responseGuard({ levelOf: (player) => detector.levelOf(player) })
  return {
    move: withGuards({ apply: ({ intent }) => (positions.set(intent.player, readPosition(intent.payload) as Position), null) }, [
      response(),
      speedGuard({ maxSpeed: 10, tolerance: 0.2, maxElapsedMs: 1000 }),
    ]),
    attack: withGuards({ apply: () => null }, [
      response(),
      rateLimitGuard({ burst: 8, perSecond: 6 }),
      cooldownGuard({ attack: 100 }),
      reachValidator({ reach: 3, positionOf: (_world, entity) => positions.get(entity) }),
    ]),
    trade: withGuards(
      {
        apply: ({ world, intent }) => {
          const payload = intent.payload as { with: string; give: string[] }
          // Counted in the item's version, like every move in a running world (ownershipValidator checked the giver).
          for (const item of payload.give) world.moveItem(item, { type: 'player', id: payload.with })
          return null
        },
      },
      [response(), ownershipValidator()],
    ),
  }
}

/** Runs the population through the real validators and detector in virtual time; deterministic per seed. */
export const runCheaters = (options: CheatersOptions): CheatersRun => {
  const honestCount = options.honest ?? 200
  const perKind = options.perKind ?? 10
  const durationMs = options.durationMs ?? 10_000
  const tickMs = options.tickMs ?? 200
  const withinMs = options.withinMs ?? 5_000
  const random = createRandom(options.seed)
  const bots = makeBots(random.fork(), honestCount, perKind)
  const noise = random.fork()
  const choices = random.fork()
  const steps: EvidenceRecord[] = []
  const detections = new Map<string, Detection>()
  const detect = (player: string, atMs: Millis, by: DetectionSource): void => {
    if (!detections.has(player)) detections.set(player, { atMs, by })
  }
  const detector = new CheatDetector({
    onAction: (record) => {
      steps.push(record)
      if (record.to === 'flag') detect(record.player, record.atMs, 'detector')
    },
  })
  const positions = new Map<string, Position>()
  const handlers = makeHandlers(detector, positions)
  const world = new WorldDoc(new Y.Doc())
  const refusedBy = new Map<string, Record<string, number>>()
  const refusedTotal: Record<string, number> = {}
  const strikes = new Map<string, Millis[]>()
  const everHeld = new Map<string, string[]>()
  const state = new Map<string, { x: number; y: number; heading: number; carry: number; seq: number }>()
  let submitted = 0
  let accepted = 0

  bots.forEach((bot, index) => {
    const x = (index % 20) * 50
    const y = Math.floor(index / 20) * 50
    positions.set(bot.id, { x, y })
    positions.set(MOB(bot), { x: x + 1, y })
    const items = [0, 1, 2].map((n) => `item-${bot.id}-${n}`)
    for (const item of items) world.createItem(item, 'loot', { type: 'player', id: bot.id })
    everHeld.set(bot.id, [...items])
    state.set(bot.id, { x, y, heading: choices.next() * 2 * Math.PI, carry: 0, seq: 0 })
  })

  const submit = (bot: Bot, action: string, payload: WorldValue, nowMs: Millis): boolean => {
    const own = state.get(bot.id) as { seq: number }
    const intent: Intent = { action, seq: own.seq++, player: bot.id, payload }
    const handler = handlers[action] as ActionHandler
    const context = { world, intent, session: bot.id, nowMs }
    submitted++
    const verdict = handler.validate?.(context) ?? { ok: true as const }
    if (verdict.ok) {
      world.transact(null, () => handler.apply({ ...context, random: choices }))
      accepted++
      return true
    }
    refusedTotal[verdict.reason] = (refusedTotal[verdict.reason] ?? 0) + 1
    const mine = refusedBy.get(bot.id) ?? {}
    mine[verdict.reason] = (mine[verdict.reason] ?? 0) + 1
    refusedBy.set(bot.id, mine)
    // A cheat refusal while the detector had not yet quarantined the player is the validator catching it.
    const level = detector.levelOf(bot.id)
    if (verdict.reason === 'cheat-suspected' && level !== 'quarantine' && level !== 'kick') detect(bot.id, nowMs, 'validator')
    if (verdict.reason === 'not-permitted') {
      const recent = (strikes.get(bot.id) ?? []).filter((at) => at > nowMs - STRIKE_WINDOW_MS)
      recent.push(nowMs)
      strikes.set(bot.id, recent)
      if (recent.length >= STRIKES_TO_DETECT) detect(bot.id, nowMs, 'strikes')
    }
    return false
  }

  const give = (bot: Bot, item: string, nowMs: Millis): boolean => {
    const partner = choices.pick(bots).id
    if (partner === bot.id) return false
    const ok = submit(bot, 'trade', { with: partner, give: [item] }, nowMs)
    if (ok) everHeld.get(partner)?.push(item)
    return ok
  }

  let tick = 0
  for (let now = 0; now < durationMs; now += tickMs, tick++) {
    bots.forEach((bot, index) => {
      const atMs = now + (index % tickMs)
      const own = state.get(bot.id) as { x: number; y: number; heading: number; carry: number }
      const features = sampleBehaviour(bot, noise, tick)
      // Move: a claimed position from the server-accepted one; a refused move rubber-bands back.
      own.heading += (choices.next() - 0.5) * 0.6
      const distance = (features.speed * tickMs) / 1000
      const to = { x: own.x + Math.cos(own.heading) * distance, y: own.y + Math.sin(own.heading) * distance }
      if (submit(bot, 'move', to, atMs)) {
        own.x = to.x
        own.y = to.y
      }
      // The mob the bot fights follows it (server-side state, not an intent).
      positions.set(MOB(bot), { x: own.x + 1, y: own.y })
      own.carry += (features.actionRate * tickMs) / 1000
      const attacks = Math.floor(own.carry)
      own.carry -= attacks
      for (let i = 0; i < attacks; i++) submit(bot, 'attack', { target: MOB(bot) }, atMs + Math.floor((i * tickMs) / attacks))
      const held = world.inventoryOf(bot.id)
      if (bot.kind === 'duplication' && choices.chance(0.5)) {
        // Gives an item away and offers it again at once; with nothing left, offers one it held before.
        const item = held.length > 0 ? choices.pick(held) : choices.pick(everHeld.get(bot.id) as string[])
        if (held.length > 0) give(bot, item, atMs)
        give(bot, item, atMs + 1)
      } else if (bot.kind !== 'duplication' && held.length > 0 && choices.chance(0.05)) {
        // An honest trade, which now and then races a trade that already moved the item (one strike, forgiven in time).
        const item = choices.chance(0.02) ? choices.pick(everHeld.get(bot.id) as string[]) : choices.pick(held)
        give(bot, item, atMs)
      }
      detector.observe({ eventId: `${bot.id}:${tick}`, player: bot.id, atMs, features })
    })
  }
  world.destroy()

  const cheaters = bots.filter((bot) => bot.kind !== 'honest')
  const honest = bots.filter((bot) => bot.kind === 'honest')
  const caught = (bot: Bot): boolean => (detections.get(bot.id)?.atMs ?? Infinity) <= withinMs
  const timesOf = (group: readonly Bot[]): number[] => group.filter(caught).map((bot) => (detections.get(bot.id) as Detection).atMs)
  const perType = {} as Record<CheatKind, CheatKindReport>
  for (const kind of CHEAT_KINDS) {
    const group = cheaters.filter((bot) => bot.kind === kind)
    const caughtBy: Record<DetectionSource, number> = { validator: 0, strikes: 0, detector: 0 }
    const refusals: Record<string, number> = {}
    for (const bot of group) {
      if (caught(bot)) caughtBy[(detections.get(bot.id) as Detection).by]++
      for (const [reason, count] of Object.entries(refusedBy.get(bot.id) ?? {})) refusals[reason] = (refusals[reason] ?? 0) + count
    }
    const detected = group.filter(caught).length
    perType[kind] = { bots: group.length, detected, detectionRate: group.length === 0 ? 1 : detected / group.length, timeToDetectMs: timePercentiles(timesOf(group)), caughtBy, refusals }
  }
  const falsePositives = honest.filter((bot) => detections.has(bot.id)).map((bot) => bot.id)
  const detectionRate = cheaters.length === 0 ? 1 : cheaters.filter(caught).length / cheaters.length
  const falsePositiveRate = honest.length === 0 ? 0 : falsePositives.length / honest.length
  const report: CheatersReport = {
    scenario: 'cheaters',
    seed: options.seed,
    ok: detectionRate >= TARGETS.detectionRate && falsePositiveRate <= TARGETS.falsePositiveRate,
    honestBots: honest.length,
    cheaters: cheaters.length,
    durationMs,
    withinMs,
    detectionRate,
    falsePositiveRate,
    falsePositives,
    timeToDetectMs: timePercentiles(timesOf(cheaters)),
    perType,
    intents: { submitted, accepted, refused: refusedTotal },
    responseSteps: steps.length,
    targets: { ...TARGETS, withinMs },
  }
  return { report, bots, detector, steps, detections }
}

const ms = (value: number | null): string => (value === null ? '-' : `${value} ms`)
const pct = (value: number): string => `${(value * 100).toFixed(1)}%`

/**
 * `cheaters`: 200 honest bots and 10 each of speed hacks, teleports, rate abuse, aimbots and item
 * duplication, every intent through the real validators and every tick into the CheatDetector, in
 * virtual time. Targets: >= 95% detected within 5 s, <= 1% of honest bots flagged.
 */
export const cheatersScenario: ProgramScenario<CheatersReport> = {
  name: 'cheaters',
  description: 'honest bots and cheaters (speed hack, teleport, rate abuse, aimbot, duplication) through the real validators and detector',
  run: (options) => runCheaters(options).report,
  format: (report) =>
    formatRows([
      ['scenario', `${report.scenario} (seed ${report.seed})`],
      ['bots', `${report.honestBots} honest, ${report.cheaters} cheaters, ${report.durationMs} ms virtual`],
      ['detection', `${pct(report.detectionRate)} within ${report.withinMs} ms (target >= ${pct(report.targets.detectionRate)})`],
      ['false positives', `${pct(report.falsePositiveRate)} (target <= ${pct(report.targets.falsePositiveRate)})${report.falsePositives.length > 0 ? `: ${report.falsePositives.join(', ')}` : ''}`],
      ['time to detect', `p50 ${ms(report.timeToDetectMs.p50)}, p90 ${ms(report.timeToDetectMs.p90)}, p99 ${ms(report.timeToDetectMs.p99)}, max ${ms(report.timeToDetectMs.max)}`],
      ...CHEAT_KINDS.map((kind): [string, string] => {
        const type = report.perType[kind]
        const by = Object.entries(type.caughtBy)
          .filter(([, n]) => n > 0)
          .map(([source, n]) => `${source} ${n}`)
          .join(', ')
        return [`  ${kind}`, `${type.detected}/${type.bots}, p50 ${ms(type.timeToDetectMs.p50)}, max ${ms(type.timeToDetectMs.max)} (${by || 'none'})`]
      }),
      ['intents', `${report.intents.submitted} submitted, ${report.intents.accepted} accepted, refused ${JSON.stringify(report.intents.refused)}`],
      ['response steps', String(report.responseSteps)],
      ['ok', String(report.ok)],
    ]),
}
