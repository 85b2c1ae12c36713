import type { WorldValue } from '../../core/index.js'
import type { Validation } from '../action-handler.js'
import type { DecisionInputs } from './decision.js'

/** A rule's answer: the outcome it decides, or a refusal with a kebab-case reason. */
export type DecisionVerdict = { readonly ok: true; readonly outcome: WorldValue } | { readonly ok: false; readonly reason: string; readonly message: string }

/**
 * The pure validator and resolver of one kind of critical decision: deterministic over its inputs
 * (no clock, no chance, no world access beyond `preState`), so a re-validating peer that runs it on
 * the same inputs reaches the same verdict, and a different verdict proves the decider lied.
 */
export type DecisionRule = (inputs: DecisionInputs) => DecisionVerdict

/** Rules by decision kind. */
export type DecisionRules = Readonly<Record<string, DecisionRule>>

/** The rule of a kind, by own property only (a kind named `constructor` must not reach the prototype). */
export const ruleOf = (rules: DecisionRules, kind: string): DecisionRule | undefined => (Object.hasOwn(rules, kind) ? rules[kind] : undefined)

/** Runs a rule, turning a throw (a bug, or input the rule did not expect) into a refusal, so a peer never crashes on it. */
export const runRule = (rule: DecisionRule, inputs: DecisionInputs): DecisionVerdict => {
  try {
    return rule(inputs)
  } catch (error) {
    return { ok: false, reason: 'rule-failed', message: error instanceof Error ? error.message : String(error) }
  }
}

/** A rule built from a validator over the inputs and a resolver that computes the outcome once it passes. */
export const decisionRule =
  (validate: (inputs: DecisionInputs) => Validation, resolve: (inputs: DecisionInputs) => WorldValue): DecisionRule =>
  (inputs) => {
    const verdict = validate(inputs)
    return verdict.ok ? { ok: true, outcome: resolve(inputs) } : verdict
  }
