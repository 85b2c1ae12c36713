import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { decisionIdOf, decisionSigningBytes, decodeDecisionMessage, encodeDecisionMessage, registerDecisionMetrics, signBytes, type Decision, type DecisionCommand } from '../../../resolvers/index.js'
import { CoreCluster, keysOf, killInputs } from './fixtures.js'

const PEERS = ['p0', 'p1', 'p2', 'p3']
const STRANGERS = ['eve', 'mallory']

const verdicts = (commands: readonly DecisionCommand[]) =>
  commands.flatMap((command) => {
    if (command.type !== 'send') return []
    const message = decodeDecisionMessage(command.payload)
    return message.type === 'verdict' ? [message.attestation.attestation] : []
  })

const decisionBy = (decider: string, wallMs: number, counter: number, seq: number): Decision => {
  const stamp = { wallMs, counter, peer: decider }
  return { id: decisionIdOf(stamp), decider, kind: 'kill', inputs: killInputs(seq), outcome: { target: 'bob', by: 'alice', health: 0, killed: true }, stamp }
}

describe('decision validation properties (fast-check)', () => {
  it('attests exactly when the registered decider signed it and sent it itself: forged, wrong-signer and unknown-peer decisions never pass', () => {
    const anyone = fc.constantFrom(...PEERS, ...STRANGERS)
    fc.assert(
      fc.property(anyone, anyone, anyone, fc.integer({ min: 1, max: 100 }), (decider, signer, sender, seq) => {
        fc.pre(sender !== 'p3')
        const cluster = new CoreCluster(PEERS)
        const decision = decisionBy(decider, cluster.time, seq, seq)
        const payload = encodeDecisionMessage({ type: 'request', decision: { decision, signature: signBytes(keysOf(signer).privateKey, decisionSigningBytes(decision)) } })
        const validator = cluster.core('p3')
        const attested = verdicts(validator.receive(sender, payload)).some((verdict) => verdict.verdict === 'attest')
        const legitimate = decider === signer && signer === sender && PEERS.includes(decider) && decider !== 'p3'
        expect(attested).toBe(legitimate)
        // A registered decider caught with someone else's signature on its own link is quarantined.
        if (sender === decider && PEERS.includes(decider) && signer !== decider) expect(validator.isQuarantined(decider)).toBe(true)
        if (!PEERS.includes(decider) || sender !== decider) expect(validator.quarantine()).toEqual([])
      }),
      { numRuns: 150 },
    )
  })

  it('attests each decision at most once whatever the interleaving of deliveries, replays and clock jumps', () => {
    const step = fc.oneof(
      fc.record({ type: fc.constant('send' as const), which: fc.nat(4) }),
      fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
    )
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
        const cluster = new CoreCluster(PEERS)
        const start = cluster.time
        const requests = [0, 1, 2, 3, 4].map((n) => {
          const decision = decisionBy('p0', start, n, n + 1)
          return encodeDecisionMessage({ type: 'request', decision: { decision, signature: signBytes(keysOf('p0').privateKey, decisionSigningBytes(decision)) } })
        })
        const attestedAt = new Map<number, number>()
        for (const action of steps) {
          if (action.type === 'advance') {
            cluster.time += action.ms
            cluster.core('p1').expire()
            continue
          }
          for (const verdict of verdicts(cluster.core('p1').receive('p0', requests[action.which] as Uint8Array))) {
            expect(verdict.verdict).toBe('attest')
            expect(attestedAt.has(action.which)).toBe(false)
            attestedAt.set(action.which, cluster.time)
          }
        }
        // Attested only while the stamp was inside the 30 s window.
        for (const at of attestedAt.values()) expect(at - start).toBeLessThanOrEqual(30_000)
        expect(cluster.core('p1').isQuarantined('p0')).toBe(false)
      }),
      { numRuns: 100 },
    )
  })

  it('exports confirmed, rejected, dropped and quarantine counts as Prometheus metrics', async () => {
    const cluster = new CoreCluster(PEERS)
    const { intent, preState } = killInputs()
    const result = cluster.core('p0').decide('kill', intent, preState, () => true)
    if (!result.ok) throw new Error(result.message)
    cluster.take('p0', result.commands)
    cluster.deliver()
    cluster.core('p0').receive('p1', Uint8Array.of(7))
    const registry = new Registry()
    registerDecisionMetrics(cluster.core('p0'), 'p0', registry)
    const text = await registry.metrics()
    expect(text).toMatch(/realmsync_decisions_decided_total\{peer="p0"\} 1/)
    expect(text).toMatch(/realmsync_decisions_confirmed_total\{peer="p0"\} 1/)
    expect(text).toMatch(/realmsync_decisions_dropped_total\{peer="p0",reason="malformed"\} 1/)
    expect(text).toMatch(/realmsync_decisions_quarantined_peers\{peer="p0"\} 0/)
    expect(text).toMatch(/realmsync_decisions_pending\{peer="p0"\} 0/)
  })
})
