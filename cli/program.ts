import { Command, CommanderError } from 'commander'
import { RealmsyncError } from '../core/index.js'
import type { CliIo } from './io.js'
import { registerHistoryCommands } from './history-command.js'
import { registerSimCommand } from './sim-command.js'
import { registerDemoCommand } from './demo-command.js'
import { registerServeCommand } from './serve-command.js'
import { registerTokenCommand } from './token-command.js'

/** Builds the `realmsync` command with every subcommand registered. */
export const buildProgram = (io: CliIo): Command => {
  const program = new Command('realmsync')
    .description('keeps an online game world consistent across game-server processes')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
  registerSimCommand(program, io)
  registerDemoCommand(program, io)
  registerHistoryCommands(program, io)
  registerServeCommand(program, io)
  registerTokenCommand(program, io)
  return program
}

/** Runs the CLI on `argv` (without the node and script entries); returns the exit code. */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const program = buildProgram(io)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    io.err(`realmsync: ${error instanceof RealmsyncError || error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}
