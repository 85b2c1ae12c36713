import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, posix, relative, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

// A short import scan guarding DESIGN.md "Layout and layering": dependencies point one way, other
// folders are entered only through their index.ts, and client/ stays browser-safe.

/** Which top-level folders each library folder may import. */
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

/** Packages that only run under Node; client/ must not import them any more than `node:fs`. */
const NODE_ONLY_PACKAGES = new Set(['ws', 'better-sqlite3', 'classic-level', 'prom-client'])
const NODE_BUILTINS = new Set(builtinModules.map((name) => name.replace(/^node:/, '')))

interface SourceFile {
  /** Path relative to the repository root, with `/` separators. */
  readonly path: string
  readonly text: string
}

// Static imports and re-exports (`import x from`, `import type {..} from`, `export * from`,
// side-effect `import '..'`, multi-line braces) and dynamic `import('..')`.
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

const specifiersOf = (text: string): string[] => [...text.matchAll(IMPORT)].map((match) => (match[1] ?? match[2]) as string)

const packageName = (specifier: string): string => specifier.replace(/^node:/, '').split('/')[0] as string

/** Every rule break in a set of files: wrong direction, deep imports, test code, Node-only modules in client/. */
const findViolations = (files: readonly SourceFile[]): string[] => {
  const violations: string[] = []
  for (const file of files) {
    const folder = file.path.split('/')[0] as string
    const allowed = ALLOWED[folder]
    if (!allowed) continue
    for (const specifier of specifiersOf(file.text)) {
      if (!specifier.startsWith('.')) {
        if (folder === 'client' && (specifier.startsWith('node:') || NODE_BUILTINS.has(packageName(specifier)) || NODE_ONLY_PACKAGES.has(packageName(specifier)))) {
          violations.push(`${file.path}: client/ must stay browser-safe, imports ${specifier}`)
        }
        continue
      }
      const target = posix.normalize(posix.join(posix.dirname(file.path), specifier))
      const targetFolder = target.split('/')[0] as string
      if (targetFolder === folder) continue
      if (targetFolder === 'test') violations.push(`${file.path}: library code may not import test code (${specifier})`)
      else if (!(targetFolder in ALLOWED)) continue
      else if (!allowed.includes(targetFolder)) violations.push(`${file.path}: ${folder}/ may not import ${targetFolder}/ (${specifier})`)
      else if (target !== `${targetFolder}/index.js` && target !== `${targetFolder}/index.ts`) {
        violations.push(`${file.path}: imports ${specifier}; other folders are imported only through their index.ts`)
      }
    }
  }
  return violations
}

const root = join(import.meta.dirname, '..', '..')

const collect = (dir: string): SourceFile[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return collect(path)
    return name.endsWith('.ts') ? [{ path: relative(root, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }] : []
  })

describe('dependency direction', () => {
  it('every library folder imports only what DESIGN.md allows, through index.ts', () => {
    // Folders that do not exist yet are skipped.
    const present = Object.keys(ALLOWED).filter((folder) => existsSync(join(root, folder)))
    const files = present.flatMap((folder) => collect(join(root, folder)))
    expect(present).toContain('core')
    expect(files.some((file) => file.path === 'core/index.ts')).toBe(true)
    expect(findViolations(files)).toEqual([])
  })

  it('detects each kind of violation (the guard is not vacuous)', () => {
    const files: SourceFile[] = [
      { path: 'core/bad.ts', text: "import { Peer } from '../replication/index.js'" },
      { path: 'core/sub/deeper.ts', text: "import type {\n  Transport,\n  Frame,\n} from '../../transports/index.js'" },
      { path: 'transports/deep.ts', text: "import { x } from '../core/hlc.js'" },
      { path: 'client/node.ts', text: "import { readFileSync } from 'node:fs'\nimport net from 'net'\nimport { readFile } from 'fs/promises'" },
      { path: 'client/socket.ts', text: "import WebSocket from 'ws'" },
      { path: 'client/upward.ts', text: "export { Peer } from '../replication/index.js'" },
      { path: 'storage/up.ts', text: "export * from '../sim/index.js'" },
      { path: 'sim/lazy.ts', text: "const m = await import('../cli/index.js')" },
      { path: 'cli/bench.ts', text: "import '../bench/run.js'" },
      { path: 'replication/helper.ts', text: "import { ManualClock } from '../test/helpers/manual-clock.js'" },
    ]
    const violations = findViolations(files)
    const expected = [
      /^core\/bad.ts: core\/ may not import replication\//,
      /^core\/sub\/deeper.ts: core\/ may not import transports\//,
      /^transports\/deep.ts: imports \.\.\/core\/hlc\.js; other folders are imported only through their index.ts/,
      /^client\/node.ts: client\/ must stay browser-safe, imports node:fs/,
      /^client\/node.ts: client\/ must stay browser-safe, imports net/,
      /^client\/node.ts: client\/ must stay browser-safe, imports fs\/promises/,
      /^client\/socket.ts: client\/ must stay browser-safe, imports ws/,
      /^client\/upward.ts: client\/ may not import replication\//,
      /^storage\/up.ts: storage\/ may not import sim\//,
      /^sim\/lazy.ts: sim\/ may not import cli\//,
      /^cli\/bench.ts: cli\/ may not import bench\//,
      /^replication\/helper.ts: library code may not import test code/,
    ]
    expect(violations).toHaveLength(expected.length)
    expected.forEach((pattern, i) => expect(violations[i]).toMatch(pattern))
  })

  it('accepts what the layering allows', () => {
    const files: SourceFile[] = [
      { path: 'replication/ok.ts', text: "import type { Clock } from '../core/index.js'\nimport { a } from './local.js'\nimport * as Y from 'yjs'" },
      { path: 'replication/sync/inner.ts', text: "import { b } from '../peer.js'\nimport { Transport } from '../../transports/index.js'" },
      { path: 'gateway/edge.ts', text: "import { r } from '../resolvers/index.js'\nimport { s } from '../spectator/index.js'\nimport { createServer } from 'node:http'" },
      { path: 'client/browser.ts', text: "import * as Y from 'yjs'\nimport * as sync from 'y-protocols/sync'\nimport { WorldDoc } from '../core/index.js'" },
      { path: 'sim/all.ts', text: "import { g } from '../gateway/index.js'\nimport { c } from '../client/index.js'\nimport { st } from '../storage/index.js'" },
      { path: 'bench/run.ts', text: "import { main } from '../cli/index.js'\nimport { s } from '../sim/index.js'" },
      { path: 'core/doc.ts', text: "/** Use it as `new WorldDoc(doc)`. */\nexport const label = 'from the world'\nexport * from './world-doc.js'" },
      { path: 'docs/notes.ts', text: "import { x } from '../cli/main.js'" },
    ]
    expect(findViolations(files)).toEqual([])
  })
})
