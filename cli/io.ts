/** Where a command writes: real stdout/stderr in the bin, buffers in tests. */
export interface CliIo {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

/** The process's own streams. */
export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}
