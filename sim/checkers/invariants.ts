import type * as Y from 'yjs'

/** A user invariant: given one replica's documents, the list of violations (empty when it holds). */
export type Invariant = (peer: string, docs: ReadonlyMap<string, Y.Doc>) => string[]

/** A violation found on one replica. */
export interface InvariantViolation {
  readonly peer: string
  readonly invariant: string
  readonly message: string
}

/** Evaluates every named invariant on every replica. */
export const checkInvariants = (
  invariants: Readonly<Record<string, Invariant>>,
  replicas: ReadonlyArray<{ readonly peer: string; readonly docs: ReadonlyMap<string, Y.Doc> }>,
): InvariantViolation[] => {
  const violations: InvariantViolation[] = []
  for (const replica of replicas) {
    for (const [name, invariant] of Object.entries(invariants)) {
      for (const message of invariant(replica.peer, replica.docs)) violations.push({ peer: replica.peer, invariant: name, message })
    }
  }
  return violations
}
