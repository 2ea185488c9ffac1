import { defineConfig } from 'vitest/config';

// Tests run against each package's TypeScript sources: the `source` export condition points
// at src/ (built code is only for the published packages and the binary).
const conditions = ['source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'adapters/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // Time limits catch hangs, not slowness: a loaded 2-core machine runs the process suites
    // several times slower than an idle one, and nothing may fail for that.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    expect: {
      // A test that asserts nothing fails.
      requireAssertions: true,
      // Polled conditions are met when the work is done, however long a loaded machine takes.
      poll: { timeout: 20_000 },
    },
  },
});
