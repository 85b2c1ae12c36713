import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'

// The client must run in browsers: esbuild, bundling for platform `browser`, fails on any Node
// built-in it cannot resolve, and the metafile shows every module that went in.

const root = join(import.meta.dirname, '..', '..')
const NODE_BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))

describe('client/ in a browser bundle', () => {
  it('bundles for the browser with no Node built-ins and no Node-only packages', async () => {
    const result = await build({
      entryPoints: [join(root, 'client/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    expect(result.errors).toEqual([])
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.some((path) => path.endsWith('client/realmsync-client.ts'))).toBe(true)
    expect(inputs.some((path) => path.includes('node_modules/yjs/'))).toBe(true)
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((entry) => entry.path))
    expect(imports.filter((path) => NODE_BUILTINS.has(path))).toEqual([])
    expect(inputs.filter((path) => /node_modules\/(ws|pino|jose|better-sqlite3|libp2p)\//.test(path))).toEqual([])
    const code = result.outputFiles[0]?.text ?? ''
    expect(code).not.toMatch(/require\(["'](node:)?(fs|net|http|crypto|stream)["']\)/)
  })

  it('fails the same build when a Node built-in sneaks in (the check is not vacuous)', async () => {
    await expect(
      build({ stdin: { contents: "import { readFileSync } from 'node:fs'; console.log(readFileSync)", resolveDir: root }, bundle: true, platform: 'browser', write: false, logLevel: 'silent' }),
    ).rejects.toThrow(/node:fs/)
  })
})
