// Validation overhead per intent with every validator on, and the cost of signing and re-validating
// one critical decision. Each call is timed on its own (process.hrtime), so the rows are latency
// percentiles in microseconds, not throughput.
import { createHash } from 'node:crypto'
import os from 'node:os'
import { pathToFileURL } from 'node:url'
import * as Y from 'yjs'
import { createRandom, WorldDoc, type Intent, type WorldValue } from '../core/index.js'
import {
  CheatDetector,
  composeValidators,
  cooldownGuard,
  DecisionCore,
  DecisionKeyRegistry,
  decisionKeysFromSeed,
  killRule,
  ownershipValidator,
  rateLimitGuard,
  reachValidator,
  responseGuard,
  signBytes,
  speedGuard,
  verifyBytes,
  type ActionContext,
  type DecisionCommand,
  type Guard,
} from '../resolvers/index.js'
import type { BenchRow } from './harness.js'

const SECTION = 'validation'
/** The target for validation overhead: p99 under 0.5 ms. */
const VALIDATION_P99_TARGET_US = 500

/** Latency percentiles in microseconds from per-call samples in nanoseconds. */
const percentilesUs = (samplesNs: readonly number[]): { p50: number; p99: number; mean: number; count: number } => {
  const values = samplesNs.map((value) => value / 1000).sort((a, b) => a - b)
  const at = (p: number): number => values[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)] as number
  return { p50: at(50), p99: at(99), mean: values.reduce((sum, value) => sum + value, 0) / values.length, count: values.length }
}

/** Times `fn` per call after a warm-up; returns nanosecond samples. */
const timeCalls = (count: number, fn: (index: number) => void, warmup = Math.min(2000, count)): number[] => {
  for (let i = 0; i < warmup; i++) fn(i)
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint()
    fn(warmup + i)
    samples.push(Number(process.hrtime.bigint() - start))
  }
  return samples
}

/** Every validator of the anti-cheat layer in front of every intent, as a game server would run them. */
const allValidators = (detector: CheatDetector): Guard => {
  const move = speedGuard({ maxSpeed: 10, tolerance: 0.2 })
  const reach = reachValidator({ reach: 3 })
  const ownership = ownershipValidator()
  return composeValidators(
    responseGuard({ levelOf: (player) => detector.levelOf(player) }),
    rateLimitGuard({ burst: 20, perSecond: 20 }),
    cooldownGuard({ attack: 50 }),
    // Guards that only look at their own action kind pass the others through.
    {
      validate: (context) => (context.intent.action === 'move' ? move.validate(context) : { ok: true }),
      accepted: (context) => (context.intent.action === 'move' ? move.accepted?.(context) : undefined),
    },
    (context) => (context.intent.action === 'attack' ? reach(context) : { ok: true }),
    (context) => (context.intent.action === 'trade' ? ownership(context) : { ok: true }),
  )
}

/** Validation overhead per intent: a mix of moves, attacks and trades from 200 players against a real world document. */
const benchValidation = (intents: number): ReturnType<typeof percentilesUs> & { refused: number } => {
  const world = new WorldDoc(new Y.Doc())
  const players = Array.from({ length: 200 }, (_, i) => `player-${i}`)
  for (const [i, player] of players.entries()) {
    world.createEntity(player, 'player', { position: { x: i * 10, y: 0 } })
    world.createEntity(`mob-${i}`, 'mob', { position: { x: i * 10 + 1, y: 0 } })
    for (let n = 0; n < 5; n++) world.createItem(`item-${i}-${n}`, 'loot', { type: 'player', id: player })
  }
  const detector = new CheatDetector()
  const guard = allValidators(detector)
  const random = createRandom(1)
  let refused = 0
  const contextOf = (index: number): ActionContext => {
    const p = index % players.length
    const round = Math.floor(index / players.length)
    const player = players[p] as string
    const kind = index % 3
    const payload: WorldValue = kind === 0 ? { x: p * 10 + (round % 2) * 0.5, y: 0 } : kind === 1 ? { target: `mob-${p}` } : { with: players[(p + 1) % players.length] as string, give: [`item-${p}-${round % 5}`] }
    const intent: Intent = { action: kind === 0 ? 'move' : kind === 1 ? 'attack' : 'trade', seq: index, player, payload }
    // 200 players each acting every 60 ms of virtual time.
    return { world, intent, session: player, nowMs: round * 60 }
  }
  const samples = timeCalls(intents, (index) => {
    const context = contextOf(index)
    const verdict = guard.validate(context)
    if (verdict.ok) guard.accepted?.({ ...context, random })
    else refused++
  })
  world.destroy()
  return { ...percentilesUs(samples), refused }
}

/** Statistical detection per observation (baseline update, EWMA, CUSUM, response step). */
const benchDetector = (observations: number): ReturnType<typeof percentilesUs> => {
  const detector = new CheatDetector()
  let seed = 1
  const noise = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31 - 0.5
  }
  return percentilesUs(
    timeCalls(observations, (index) => {
      detector.observe({ eventId: `e${index}`, player: `player-${index % 200}`, atMs: index, features: { speed: 5 + noise(), actionRate: 3 + noise(), accuracy: 0.4 + noise() / 10, reactionTime: 250 + noise() * 40, resourceGain: 10 + noise() * 3 } })
    }),
  )
}

const keysOf = (peer: string) => decisionKeysFromSeed(createHash('sha256').update(`bench:${peer}`).digest())

/** Signing and re-validating critical decisions: raw Ed25519, the decider's `decide`, a validator's `receive`. */
const benchDecisions = (decisions: number) => {
  const peers = ['d', 'v1', 'v2', 'v3']
  const keys = new DecisionKeyRegistry()
  for (const peer of peers) keys.register(peer, keysOf(peer).publicKey)
  let time = 1_000
  const rules = { kill: killRule({ reach: 3 }) }
  const cores = new Map(peers.map((peer) => [peer, new DecisionCore({ self: peer, privateKey: keysOf(peer).privateKey, keys, rules, now: () => time, validators: 2, replayWindowMs: 1e12 })]))
  const decider = cores.get('d') as DecisionCore
  const inputs = (seq: number) => ({ intent: { action: 'attack', seq, player: 'alice', payload: { target: 'bob' } } as Intent, preState: { attacker: { x: 0, y: 0 }, target: { id: 'bob', x: 1, y: 1, health: 30 }, damage: 40 } })
  const message = new TextEncoder().encode('realmsync/decision/v1\n'.padEnd(300, 'x'))
  const { privateKey } = keysOf('d')
  const raw = signBytes(privateKey, message)
  const sign = percentilesUs(timeCalls(decisions, () => void signBytes(privateKey, message), 200))
  const publicKey = keys.keyOf('d')!
  const verify = percentilesUs(timeCalls(decisions, () => void verifyBytes(publicKey, message, raw), 200))
  const requests: Array<{ to: string; payload: Uint8Array }> = []
  const decide = percentilesUs(
    timeCalls(
      decisions,
      (index) => {
        time++
        const { intent, preState } = inputs(index)
        const result = decider.decide('kill', intent, preState, () => true)
        if (!result.ok) throw new Error(result.message)
        const send = result.commands[0] as Extract<DecisionCommand, { type: 'send' }>
        requests.push({ to: send.to, payload: send.payload })
      },
      200,
    ),
  )
  let next = 0
  const revalidate = percentilesUs(
    timeCalls(
      decisions,
      () => {
        const request = requests[next++] as { to: string; payload: Uint8Array }
        const commands = (cores.get(request.to) as DecisionCore).receive('d', request.payload)
        if (commands[0]?.type !== 'send') throw new Error(`re-validation did not answer: ${JSON.stringify(commands[0])}`)
      },
      200,
    ),
  )
  return { sign, verify, decide, revalidate }
}

const latencyRows = (name: string, result: ReturnType<typeof percentilesUs>, extra: Record<string, number | string> = {}): BenchRow[] => [
  { section: SECTION, name: `${name}: p50`, perSecond: result.p50, unit: 'us p50 (lower is better)', extra: { meanUs: result.mean, samples: result.count } },
  // The load average says how much other work shared the cores: per-call tails on a busy machine are preemption.
  { section: SECTION, name: `${name}: p99`, perSecond: result.p99, unit: 'us p99 (lower is better)', extra: { samples: result.count, loadAverage: os.loadavg()[0] ?? 0, ...extra } },
]

/** The validation benchmark as table rows (for bench/run.ts). */
export const runValidationBench = async (): Promise<BenchRow[]> => {
  const validation = benchValidation(200_000)
  const detector = benchDetector(100_000)
  const decisions = benchDecisions(3_000)
  return [
    ...latencyRows('all validators per intent (move/attack/trade mix)', validation, {
      target: `p99 < ${VALIDATION_P99_TARGET_US} us ${validation.p99 < VALIDATION_P99_TARGET_US ? 'met' : 'MISSED'}`,
      refused: validation.refused,
    }),
    ...latencyRows('CheatDetector.observe per observation', detector),
    ...latencyRows('Ed25519 sign (300-byte decision)', decisions.sign),
    ...latencyRows('Ed25519 verify (300-byte decision)', decisions.verify),
    ...latencyRows('decide: rule + sign + encode, per decision', decisions.decide),
    ...latencyRows('re-validate: decode + verify + rule + sign attestation', decisions.revalidate),
  ]
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await runValidationBench()) process.stdout.write(`${row.name}: ${row.perSecond.toFixed(1)} ${row.unit} ${JSON.stringify(row.extra ?? {})}\n`)
}
