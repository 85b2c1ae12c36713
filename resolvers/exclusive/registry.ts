import { RealmsyncError } from '../../core/index.js'
import { refuse, type ActionHandler } from '../action-handler.js'
import type { ActionResolver, ResolverKind } from './resolver.js'

/** A resolver was registered twice for one action, or an exclusive one names no resources. */
export class InvalidResolverError extends RealmsyncError {
  constructor(
    readonly action: string,
    detail: string,
  ) {
    super('invalid-resolver', `resolver for action '${action}' refused: ${detail}`)
  }
}

/**
 * The resolvers of a game, one per action type. `handlers()` turns them into the `ActionHandler`s an
 * `IntentEngine` runs, so validation, exactly-once answers and the journal are the engine's; the
 * `ResolverGate` decides which intents go straight to the engine (commutative) and which go to
 * their owner first (exclusive).
 */
export class ResolverRegistry {
  private readonly resolvers = new Map<string, ActionResolver>()

  /** Registers a resolver; throws `InvalidResolverError` on a second one for the same action or an exclusive one without `resources`. */
  register(resolver: ActionResolver): this {
    if (this.resolvers.has(resolver.action)) throw new InvalidResolverError(resolver.action, 'already registered')
    if (resolver.kind === 'exclusive' && resolver.resources === undefined) throw new InvalidResolverError(resolver.action, 'an exclusive resolver must name the resources it needs the owner of')
    if (resolver.kind !== 'exclusive' && resolver.kind !== 'commutative') throw new InvalidResolverError(resolver.action, `unknown kind ${String(resolver.kind)}`)
    this.resolvers.set(resolver.action, resolver)
    return this
  }

  /** The resolver of an action, or undefined. */
  get(action: string): ActionResolver | undefined {
    return this.resolvers.get(action)
  }

  /** The kind of an action, or undefined if no resolver is registered for it. */
  kindOf(action: string): ResolverKind | undefined {
    return this.resolvers.get(action)?.kind
  }

  /** Registered action names, sorted. */
  actions(): string[] {
    return [...this.resolvers.keys()].sort()
  }

  /**
   * Every resolver as an engine handler. A resolver with `versionOf` refuses an intent whose
   * `predictedVersion` is not the current version with `stale-version`, before its own validation.
   */
  handlers(): Record<string, ActionHandler> {
    const handlers: Record<string, ActionHandler> = {}
    for (const [action, resolver] of this.resolvers) {
      handlers[action] = {
        validate: (context) => {
          const predicted = context.intent.predictedVersion
          if (predicted !== undefined && resolver.versionOf !== undefined) {
            const current = resolver.versionOf(context)
            if (current !== undefined && current !== predicted) return refuse('stale-version', `predicted version ${predicted}, but it is at version ${current} now`)
          }
          return resolver.validate?.(context) ?? { ok: true }
        },
        apply: (context) => resolver.apply(context),
      }
    }
    return handlers
  }
}
