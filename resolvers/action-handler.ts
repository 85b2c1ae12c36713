import type { Intent, Millis, Random, WorldDoc, WorldValue } from '../core/index.js'

/** A validator's verdict: go ahead, or refuse with a kebab-case reason code and a message for people. */
export type Validation = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly message: string }

/** What a validator sees: the world as it stands, the intent, who sent it and when. */
export interface ActionContext {
  readonly world: WorldDoc
  readonly intent: Intent
  readonly session: string
  /** Injected-clock time at which the engine handles the intent. */
  readonly nowMs: Millis
}

/** What an applier sees: a validator's view plus the engine's seeded random source. */
export interface ApplyContext extends ActionContext {
  /** Seeded, consumed only by accepted intents in the order they are applied, so a replay draws the same values. */
  readonly random: Random
}

/**
 * How one action type is checked and applied. `validate` must be pure and deterministic over world
 * state (no chance, no wall clock), so any peer re-running it on the same inputs decides the same;
 * `apply` writes the outcome into the world (inside a transaction the engine opens) and returns what
 * the ack carries.
 */
export interface ActionHandler {
  validate?(context: ActionContext): Validation
  apply(context: ApplyContext): WorldValue
}

/** A passing verdict. */
export const accept = (): Validation => ({ ok: true })

/** A refusing verdict. */
export const refuse = (reason: string, message: string): Validation => ({ ok: false, reason, message })
