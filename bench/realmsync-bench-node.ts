// A cluster-bench node running realmsync as `realmsync serve` does: `startServer` with the libp2p
// transport, a SQLite store in its data directory and a Peer with the chosen router.
import pino from 'pino'
import { startServer } from '../cli/index.js'
import { LaneOrigin, type RouterOptions } from '../replication/index.js'
import type { SqliteStoreOptions } from '../storage/index.js'
import { BENCH_DOC, type BenchNode, type BenchStoreMode, type WorkerConfig } from './cluster-protocol.js'

// `lean` keeps the store's queueing and commit path but drops what this benchmark does not measure:
// snapshots (at the default of one per 1000 updates they re-read and merge the log, about 13% of a
// peer's CPU at 2,000 updates/s) and the store's own decode of each update, which the peer has
// already validated before applying it. `memory`: store defaults, no file. `file-normal`: a real WAL
// file fsynced only at checkpoints (survives a killed process, not power loss).
const STORE_SETTINGS: Record<BenchStoreMode, SqliteStoreOptions> = {
  lean: { durability: 'memory', snapshotEvery: 0, validateAppends: false },
  memory: { durability: 'memory' },
  'file-normal': { durability: 'group', synchronous: 'normal' },
}

/** How a realmsync worker routes and tags its writes. */
export interface RealmsyncNodeSettings {
  readonly router: RouterOptions
  /** Priority lane of local writes; default none, which the peer treats as critical (sent at once). */
  readonly lane?: 'normal' | 'bulk'
  /** Critical writes of one event-loop turn leave merged at its end (lane setting `coalesceCritical`). */
  readonly coalesceCritical?: boolean
  /** Peer transport; default libp2p (TCP, noise, yamux). `ws`: the WebSocket peer transport on the same ports. */
  readonly transport?: 'ws'
}

/** Starts a realmsync peer with the given router and opens the shared document. */
export const startRealmsyncNode = async (config: WorkerConfig, settings: RealmsyncNodeSettings): Promise<BenchNode> => {
  const server = await startServer({
    ...(settings.transport ? { transport: settings.transport } : {}),
    listen: [config.listen],
    bootstrap: config.bootstrap,
    dataDir: config.dataDir,
    admission: { clusterSecret: config.secret },
    logger: pino({ level: 'warn' }, pino.destination(2)),
    backoff: { initialMs: 100, maxMs: 1000 },
    store: STORE_SETTINGS[config.store],
    peer: { router: settings.router, ...(settings.coalesceCritical !== undefined ? { lanes: { coalesceCritical: settings.coalesceCritical } } : {}) },
  })
  const doc = server.peer.openDoc(BENCH_DOC)
  return {
    id: server.peer.id,
    addresses: server.addresses,
    doc,
    ...(settings.lane ? { writeOrigin: new LaneOrigin(settings.lane) } : {}),
    // Peers dial their bootstrap list themselves.
    dial: async () => {},
    readyPeers: () => server.peer.connectedPeers().length,
    counters: () => {
      const stats = server.peer.stats()
      const router = server.peer.routerStats()
      return {
        framesSent: stats.framesSent,
        framesReceived: stats.framesReceived,
        bytesSent: stats.bytesSent,
        updatesApplied: stats.updatesApplied,
        duplicateUpdates: stats.duplicateUpdates,
        pendingUpdates: stats.pendingUpdates,
        droppedSends: stats.droppedSends,
        storeAppends: stats.storeAppends,
        ...(router
          ? {
              eagerSent: router.eagerSent,
              digestsSent: router.digestsSent,
              grafts: router.grafts,
              gapPulls: router.gapPulls,
              pingsLost: router.pingsLost,
              eagerSetChanges: router.eagerSetChanges,
            }
          : {}),
      }
    },
    gauges: () => ({
      eagerPeers: server.peer.router?.eagerPeers(BENCH_DOC).length ?? server.peer.connectedPeers().length,
      trees: server.peer.routerStats()?.trees ?? 1,
    }),
    close: () => server.close(),
  }
}
