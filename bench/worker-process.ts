// The parent's handle on one cluster-bench worker process: a JSON-lines child (json-line-child.ts)
// typed to the cluster worker's commands and answers.
import { join } from 'node:path'
import type { WorkerAnswer, WorkerCommand, WorkerConfig } from './cluster-protocol.js'
import { JsonLineChild } from './json-line-child.js'

const WORKER = join(import.meta.dirname, 'cluster-worker.ts')

// Extra Node flags for every worker, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a run
// (Node refuses --cpu-prof in NODE_OPTIONS).
const EXTRA_NODE_ARGS = (process.env.CLUSTER_BENCH_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '')

/** A running cluster worker. */
export class WorkerProcess {
  /** The worker's first line: its id and addresses. */
  readonly ready: Promise<Extract<WorkerAnswer, { event: 'ready' }>>
  private readonly child: JsonLineChild<WorkerCommand, WorkerAnswer>

  constructor(readonly config: WorkerConfig) {
    this.child = new JsonLineChild(`worker ${config.index} (${config.system})`, WORKER, config, EXTRA_NODE_ARGS)
    this.ready = this.child.ready.then((answer) => {
      if (answer.event !== 'ready') throw new Error(`worker ${config.index}: ${JSON.stringify(answer)}`)
      return answer
    })
  }

  /** Sends a command and resolves with its answer; an `error` answer rejects. */
  ask(command: WorkerCommand): Promise<WorkerAnswer> {
    return this.child.ask(command)
  }

  /** Asks the worker to shut down; kills it if it has not exited within `graceMs`. */
  quit(graceMs = 5000): Promise<void> {
    return this.child.quit(graceMs)
  }
}
