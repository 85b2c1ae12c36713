import type { NetworkCoordinate } from '../core/index.js'

/** Tuning of Vivaldi (Dabek et al., SIGCOMM 2004): error and coordinate gains. */
export interface VivaldiSettings {
  readonly errorGain: number
  readonly coordinateGain: number
  /** Smallest height, so two peers never estimate zero latency. */
  readonly minHeight: number
}

/** The paper's constants (ce = cc = 0.25). */
export const DEFAULT_VIVALDI_SETTINGS: VivaldiSettings = { errorGain: 0.25, coordinateGain: 0.25, minHeight: 0.05 }

/** Where every peer starts: the origin, with no confidence. */
export const initialCoordinate = (): NetworkCoordinate => ({ x: 0, y: 0, height: DEFAULT_VIVALDI_SETTINGS.minHeight, error: 1 })

/** Estimated one-way latency between two coordinates: planar distance plus both access heights. */
export const coordinateDistance = (a: NetworkCoordinate, b: NetworkCoordinate): number => Math.hypot(a.x - b.x, a.y - b.y) + a.height + b.height

/**
 * One Vivaldi step: moves `local` along the spring to `remote` so their distance approaches the
 * measured one-way latency, weighted by the two confidences. `nudge` (in [0, 1)) picks a direction
 * when the two coordinates coincide; pass a seeded draw so runs replay.
 */
export const updateCoordinate = (
  local: NetworkCoordinate,
  remote: NetworkCoordinate,
  measuredOneWayMs: number,
  nudge: number,
  settings: VivaldiSettings = DEFAULT_VIVALDI_SETTINGS,
): NetworkCoordinate => {
  if (!(measuredOneWayMs > 0) || !Number.isFinite(measuredOneWayMs)) return local
  const estimate = coordinateDistance(local, remote)
  const weight = local.error / Math.max(1e-9, local.error + remote.error)
  const sampleError = Math.abs(estimate - measuredOneWayMs) / measuredOneWayMs
  const error = Math.min(1.5, sampleError * settings.errorGain * weight + local.error * (1 - settings.errorGain * weight))
  const step = settings.coordinateGain * weight * (measuredOneWayMs - estimate)
  let dx = local.x - remote.x
  let dy = local.y - remote.y
  let planar = Math.hypot(dx, dy)
  if (planar < 1e-9) {
    const angle = nudge * 2 * Math.PI
    dx = Math.cos(angle)
    dy = Math.sin(angle)
    planar = 1
  }
  // The height takes its share of the step in proportion to how much of the distance it makes up.
  const total = planar + local.height + remote.height
  const x = local.x + (step * dx) / total
  const y = local.y + (step * dy) / total
  const height = Math.max(settings.minHeight, local.height + (step * local.height) / total)
  return { x, y, height, error }
}
