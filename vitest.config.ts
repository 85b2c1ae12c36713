import { defineConfig } from 'vitest/config'

/** Library folders whose line coverage is held to the 90% threshold. */
const libraryFolders = ['core', 'transports', 'replication', 'resolvers', 'spectator', 'gateway', 'client', 'sim', 'storage']

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: libraryFolders.map((folder) => `${folder}/**/*.ts`),
      exclude: ['**/*.test.ts', '**/*.d.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: { lines: 90 },
    },
  },
})
