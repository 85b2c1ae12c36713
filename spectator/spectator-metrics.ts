import { Counter, Gauge, type Registry } from 'prom-client'
import type { SpectatorHub, SpectatorHubStats } from './spectator-hub.js'

/** Hub values exported as gauges (they go up and down), with their help text. */
const GAUGES: ReadonlyArray<[keyof SpectatorHubStats, string, string]> = [
  ['spectators', 'spectators_connected', 'Spectators holding a view'],
  ['views', 'spectator_views', 'Spectator views open (one per document, delay and filter)'],
  ['queueDepth', 'spectator_queue_entries', 'Entries waiting in the spectator delay queues (one per tick of delay, per view)'],
  ['queueBytes', 'spectator_queue_bytes', 'Bytes of source updates waiting in the spectator delay queues'],
]

/** Hub values exported as counters. */
const COUNTERS: ReadonlyArray<[keyof SpectatorHubStats, string, string]> = [
  ['projectionWrites', 'spectator_projection_writes_total', 'Map sets and deletes written into spectator projections'],
  ['rebuilds', 'spectator_projection_rebuilds_total', 'Spectator projections rebuilt fresh (their spectators resync)'],
  ['sourceEpochs', 'spectator_source_epochs_total', 'Source epoch switches applied by spectator views'],
]

/**
 * Exposes a spectator hub's counters on a prom-client registry, read at scrape time (as
 * `registerPeerMetrics` does), labelled with `peer`.
 */
export const registerSpectatorMetrics = (hub: SpectatorHub, registry: Registry, peer: string, prefix = 'realmsync_'): void => {
  for (const [key, name, help] of GAUGES) {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.set({ peer }, hub.stats()[key])
      },
    })
  }
  for (const [key, name, help] of COUNTERS) {
    new Counter({
      name: `${prefix}${name}`,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset()
        this.inc({ peer }, hub.stats()[key])
      },
    })
  }
}
