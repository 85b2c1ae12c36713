import { accept, type ActionContext, type ActionHandler, type ApplyContext, type Validation } from '../action-handler.js'

/** A deterministic check of one intent against the world and the validator's inputs; never throws. */
export type Validator = (context: ActionContext) => Validation

/**
 * A validator with memory (last accepted position, last use of an action, a token bucket). `validate`
 * only reads that memory; `accepted` writes it after the handler applied the intent, so a refused
 * intent leaves no trace and a replay of the accepted intents in order rebuilds the same memory.
 */
export interface Guard {
  readonly validate: Validator
  /** Called once per intent the handler applied, with the context it was applied in. */
  readonly accepted?: (context: ApplyContext) => void
}

const asGuard = (check: Validator | Guard): Guard => (typeof check === 'function' ? { validate: check } : check)

/** One guard running every check in order: the first refusal wins; `accepted` reaches every guard. */
export const composeValidators = (...checks: readonly (Validator | Guard)[]): Guard => {
  const guards = checks.map(asGuard)
  return {
    validate: (context) => {
      for (const guard of guards) {
        const verdict = guard.validate(context)
        if (!verdict.ok) return verdict
      }
      return accept()
    },
    accepted: (context) => {
      for (const guard of guards) guard.accepted?.(context)
    },
  }
}

/**
 * Wraps an action handler so the validators run before the handler's own `validate`, and the
 * guards learn of every intent the handler applied. The result plugs into `IntentEngine` unchanged.
 * (The gateway's `withValidators` wraps a whole handler table with stateless validators; guards
 * here may remember accepted intents, which that hook cannot tell them about.)
 */
export const withGuards = (handler: ActionHandler, checks: readonly (Validator | Guard)[]): ActionHandler => {
  const guard = composeValidators(...checks)
  return {
    validate: (context) => {
      const verdict = guard.validate(context)
      if (!verdict.ok) return verdict
      return handler.validate?.(context) ?? accept()
    },
    apply: (context) => {
      const result = handler.apply(context)
      // Only after apply returned: an apply that throws is reported as rejected, so no guard may count it.
      guard.accepted?.(context)
      return result
    },
  }
}
