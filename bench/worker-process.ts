// The parent's handle on one cluster-bench worker process: spawns it under tsx, sends commands on
// its stdin and pairs each with the next JSON line on its stdout (the worker answers in order).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { WorkerAnswer, WorkerCommand, WorkerConfig } from './cluster-protocol.js'

const WORKER = join(import.meta.dirname, 'cluster-worker.ts')

// Extra Node flags for every worker, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a run
// (Node refuses --cpu-prof in NODE_OPTIONS).
const EXTRA_NODE_ARGS = (process.env.CLUSTER_BENCH_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '')

/** A running worker and a FIFO of answers awaited from it. */
export class WorkerProcess {
  /** The worker's first line: its id and addresses. */
  readonly ready: Promise<Extract<WorkerAnswer, { event: 'ready' }>>
  private readonly child: ChildProcessWithoutNullStreams
  private readonly waiting: Array<{ resolve: (answer: WorkerAnswer) => void; reject: (error: Error) => void }> = []
  private stderr = ''

  constructor(readonly config: WorkerConfig) {
    this.child = spawn(process.execPath, [...EXTRA_NODE_ARGS, '--import', 'tsx', WORKER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (chunk: Buffer) => {
      // Keep the tail only: a chatty worker must not grow the parent's memory.
      this.stderr = (this.stderr + chunk.toString()).slice(-8192)
    })
    this.ready = new Promise((resolve, reject) => {
      this.waiting.push({
        resolve: (answer) => (answer.event === 'ready' ? resolve(answer) : reject(new Error(`worker ${config.index}: ${JSON.stringify(answer)}`))),
        reject,
      })
    })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let parsed: WorkerAnswer
      try {
        parsed = JSON.parse(line) as WorkerAnswer
      } catch {
        return // not ours: a library printing to stdout
      }
      this.waiting.shift()?.resolve(parsed)
    })
    this.child.once('exit', (code, signal) => {
      const error = new Error(`worker ${config.index} (${config.system}) exited (${code ?? signal}): ${this.stderr}`)
      for (const waiter of this.waiting.splice(0)) waiter.reject(error)
    })
  }

  /** Sends a command and resolves with its answer; an `error` answer rejects. */
  ask(command: WorkerCommand): Promise<WorkerAnswer> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`worker ${this.config.index} has exited: ${this.stderr}`))
        return
      }
      this.waiting.push({
        resolve: (answer) => (answer.event === 'error' ? reject(new Error(`worker ${this.config.index}: ${answer.message}`)) : resolve(answer)),
        reject,
      })
      this.child.stdin.write(`${JSON.stringify(command)}\n`)
    })
  }

  /** Asks the worker to shut down; kills it if it has not exited within `graceMs`. */
  quit(graceMs = 5000): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve()
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
      this.child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      this.child.stdin.write(`${JSON.stringify({ cmd: 'quit' } satisfies WorkerCommand)}\n`)
    })
  }
}
