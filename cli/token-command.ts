import { InvalidArgumentError, type Command } from 'commander'
import { RealmsyncError } from '../core/index.js'
import { AUTH_SECRET_ENV, signDevToken } from '../gateway/index.js'
import type { CliIo } from './io.js'

/** Read patterns a token gets when no `--read` is given. */
export const DEFAULT_TOKEN_READ = ['world/*'] as const

/** Token lifetime when no `--ttl` is given, in seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600

/** The flags of `realmsync token`, as commander hands them over. */
export interface TokenFlags {
  readonly player: string
  readonly read?: string[]
  readonly write?: string[]
  readonly ttl: number
  readonly authSecret?: string
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

const positiveSeconds = (value: string): number => {
  const parsed = Number(value)
  if (!/^\d+$/u.test(value) || !Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive whole number of seconds')
  return parsed
}

/** Registers `realmsync token`: prints a signed HS256 token for local development and tests. */
export const registerTokenCommand = (program: Command, io: CliIo, env: NodeJS.ProcessEnv = process.env): void => {
  program
    .command('token')
    .description('print a signed token for local development and tests')
    .requiredOption('--player <id>', 'player id (the token subject)')
    .option('--read <pattern>', `document pattern the player may read; repeatable (default ${DEFAULT_TOKEN_READ.join(', ')})`, collect)
    .option('--write <pattern>', 'document pattern the player may write, under player/<id>/; repeatable', collect)
    .option('--ttl <seconds>', 'lifetime in seconds', positiveSeconds, DEFAULT_TOKEN_TTL_SECONDS)
    .option('--auth-secret <secret>', `shared HS256 secret, at least 32 bytes (default: $${AUTH_SECRET_ENV})`)
    .action(async (flags: TokenFlags) => {
      const secret = flags.authSecret ?? env[AUTH_SECRET_ENV]
      if (secret === undefined || secret.length === 0) {
        // A commander error here would exit silently; a RealmsyncError is printed by runCli.
        throw new RealmsyncError('missing-secret', `token needs a secret: --auth-secret or ${AUTH_SECRET_ENV}`)
      }
      const token = await signDevToken({
        player: flags.player,
        read: flags.read ?? [...DEFAULT_TOKEN_READ],
        write: flags.write ?? [],
        ttlSeconds: flags.ttl,
        secret,
      })
      io.out(`${token}\n`)
    })
}
