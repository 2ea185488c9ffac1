import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run against each package's TypeScript sources (see the `source` export condition).
    conditions: ['source'],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'adapters/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
