import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

/** Which top-level folders each folder may import (DESIGN.md, "Layout and layering"). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  transports: ['core'],
  replication: ['core', 'transports'],
  resolvers: ['core', 'transports', 'replication'],
  spectator: ['core', 'transports', 'replication'],
  gateway: ['core', 'transports', 'replication', 'resolvers', 'spectator'],
  client: ['core'],
  storage: ['core'],
  sim: ['core', 'transports', 'replication', 'resolvers', 'spectator', 'gateway', 'client', 'storage'],
  cli: ['core', 'transports', 'replication', 'resolvers', 'spectator', 'gateway', 'client', 'storage', 'sim'],
  bench: ['core', 'transports', 'replication', 'resolvers', 'spectator', 'gateway', 'client', 'storage', 'sim', 'cli'],
}

const NODE_BUILTINS = new Set(['fs', 'path', 'os', 'net', 'http', 'https', 'crypto', 'child_process', 'worker_threads', 'stream', 'url', 'util', 'zlib', 'tls', 'dgram', 'dns', 'events', 'buffer', 'process'])

/** A source file: its path relative to the root and its text. */
export interface SourceFile {
  readonly path: string
  readonly text: string
}

const IMPORT = /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

/** Every rule break in a set of files: wrong direction, deep imports, Node built-ins in client/. */
export const findViolations = (files: readonly SourceFile[]): string[] => {
  const violations: string[] = []
  for (const file of files) {
    const parts = file.path.split('/')
    const folder = parts[0] as string
    const allowed = ALLOWED[folder]
    if (!allowed) continue
    for (const match of file.text.matchAll(IMPORT)) {
      const specifier = (match[1] ?? match[2]) as string
      if (folder === 'client' && (specifier.startsWith('node:') || NODE_BUILTINS.has(specifier.split('/')[0] as string))) {
        violations.push(`${file.path}: client/ must stay browser-safe, imports ${specifier}`)
      }
      if (!specifier.startsWith('.')) continue
      const target = join(parts.slice(0, -1).join('/'), specifier).split(sep).join('/')
      const targetFolder = target.split('/')[0] as string
      if (targetFolder === folder || targetFolder === '..' || !(targetFolder in ALLOWED)) continue
      if (!allowed.includes(targetFolder)) violations.push(`${file.path}: ${folder}/ may not import ${targetFolder}/ (${specifier})`)
      else if (target !== `${targetFolder}/index.js` && target !== `${targetFolder}/index.ts`) {
        violations.push(`${file.path}: imports ${specifier}; other folders are imported only through their index.ts`)
      }
    }
  }
  return violations
}

const root = join(import.meta.dirname, '..', '..')

const collect = (dir: string): SourceFile[] => {
  const out: SourceFile[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...collect(path))
    else if (name.endsWith('.ts')) out.push({ path: relative(root, path).split(sep).join('/'), text: readFileSync(path, 'utf8') })
  }
  return out
}

describe('dependency direction', () => {
  it('every library folder imports only what DESIGN.md allows, through index.ts', () => {
    const files = Object.keys(ALLOWED).flatMap((folder) => {
      try {
        return collect(join(root, folder))
      } catch {
        return []
      }
    })
    expect(files.length).toBeGreaterThan(20)
    expect(findViolations(files)).toEqual([])
  })

  it('detects each kind of violation (the guard is not vacuous)', () => {
    const files: SourceFile[] = [
      { path: 'core/bad.ts', text: "import { Peer } from '../replication/index.js'" },
      { path: 'transports/deep.ts', text: "import { x } from '../core/hlc.js'" },
      { path: 'client/node.ts', text: "import { readFileSync } from 'node:fs'\nimport net from 'net'" },
      { path: 'storage/up.ts', text: "export { y } from '../sim/index.js'" },
      { path: 'replication/ok.ts', text: "import type { Clock } from '../core/index.js'\nimport { a } from './local.js'" },
      { path: 'sim/lazy.ts', text: "const m = await import('../cli/index.js')" },
    ]
    const violations = findViolations(files)
    expect(violations).toHaveLength(6)
    expect(violations.join('\n')).toMatch(/core\/bad.ts: core\/ may not import replication/)
    expect(violations.join('\n')).toMatch(/transports\/deep.ts: imports \.\.\/core\/hlc\.js/)
    expect(violations.join('\n')).toMatch(/client\/node.ts: client\/ must stay browser-safe, imports node:fs/)
    expect(violations.join('\n')).toMatch(/storage\/up.ts: storage\/ may not import sim/)
    expect(violations.join('\n')).toMatch(/sim\/lazy.ts: sim\/ may not import cli/)
  })
})
