import { Counter, Gauge, type Registry } from 'prom-client'
import type { DecisionCore, DecisionStats } from './decision-core.js'

/** The decision counters exported, with their Prometheus help text. */
const COUNTERS: ReadonlyArray<[Exclude<keyof DecisionStats, 'dropped' | 'quarantinedPeers'>, string]> = [
  ['decided', 'Critical decisions this peer made and sent for re-validation'],
  ['confirmed', 'Own critical decisions confirmed by k attestations'],
  ['rejected', 'Own critical decisions rejected by a re-validator or timed out'],
  ['attested', 'Other peers critical decisions re-run here and attested'],
  ['refused', 'Other peers critical decisions re-run here and rejected'],
  ['quarantinedRefusals', 'Messages refused because their sender is quarantined'],
]

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

/**
 * Exposes a decision core's counters on a prom-client registry, read at scrape time: confirmed,
 * rejected and quarantined decisions, quarantined peers, and dropped messages by reason.
 */
export const registerDecisionMetrics = (core: DecisionCore, peer: string, registry: Registry, prefix = 'realmsync_'): void => {
  for (const [key, help] of COUNTERS) {
    new Counter({
      name: `${prefix}decisions_${snakeCase(key)}_total`,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset()
        this.inc({ peer }, core.stats[key])
      },
    })
  }
  new Counter({
    name: `${prefix}decisions_dropped_total`,
    help: 'Decision messages dropped, by reason (malformed, replayed, stale, unknown-peer, ...)',
    labelNames: ['peer', 'reason'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [reason, count] of Object.entries(core.stats.dropped)) this.inc({ peer, reason }, count)
    },
  })
  new Gauge({
    name: `${prefix}decisions_quarantined_peers`,
    help: 'Peers quarantined here for forged, tampered or equivocating decisions',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.set({ peer }, core.stats.quarantinedPeers)
    },
  })
  new Gauge({
    name: `${prefix}decisions_pending`,
    help: 'Own critical decisions waiting for attestations',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.set({ peer }, core.pendingCount())
    },
  })
}
