// A parent's handle on one benchmark child process that speaks JSON lines: started under tsx with
// its configuration as argv[2], it takes commands on stdin and answers each, in order, with one JSON
// line on stdout (its first line announces it is ready). The relay, cluster and resolution
// benchmarks all start their child processes through it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'

/** Answers carry an `event`; `error` answers reject. */
interface Answer {
  readonly event: string
}

/** A running child and the answers awaited from it, first in first out. */
export class JsonLineChild<Command extends { readonly cmd: string }, Reply extends Answer> {
  /** The child's first line. */
  readonly ready: Promise<Reply>
  private readonly child: ChildProcessWithoutNullStreams
  private readonly waiting: Array<{ resolve: (answer: Reply) => void; reject: (error: Error) => void }> = []
  private stderr = ''

  constructor(
    /** A label for errors. */
    readonly label: string,
    script: string,
    config: unknown,
    nodeArgs: readonly string[] = [],
  ) {
    this.child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (chunk: Buffer) => {
      // The tail only: a chatty child must not grow the parent's memory.
      this.stderr = (this.stderr + chunk.toString()).slice(-8192)
    })
    this.ready = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let parsed: Reply
      try {
        parsed = JSON.parse(line) as Reply
      } catch {
        return // not ours: a library printing to stdout
      }
      const waiter = this.waiting.shift()
      if (!waiter) return
      if (parsed.event === 'error') waiter.reject(new Error(`${label}: ${(parsed as unknown as { message: string }).message}`))
      else waiter.resolve(parsed)
    })
    this.child.once('exit', (code, signal) => {
      const error = new Error(`${label} exited (${code ?? signal}): ${this.stderr}`)
      for (const waiter of this.waiting.splice(0)) waiter.reject(error)
    })
  }

  /** The child's process id. */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** Sends a command and resolves with its answer. */
  ask(command: Command): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`${this.label} has exited: ${this.stderr}`))
        return
      }
      this.waiting.push({ resolve, reject })
      this.child.stdin.write(`${JSON.stringify(command)}\n`)
    })
  }

  /** Sends `quit` and waits for the exit; kills the child if it has not exited within `graceMs`. */
  quit(graceMs = 5000): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve()
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
      this.child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      this.child.stdin.write(`${JSON.stringify({ cmd: 'quit' })}\n`)
    })
  }
}
