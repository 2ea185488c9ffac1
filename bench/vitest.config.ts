import { defineConfig } from 'vitest/config';
import base from '../vitest.config.js';

// Benchmarks that need TypeScript test infrastructure (the Salesforce emulator) run as vitest
// tasks, with the test configuration's module resolution: `npm run bench -- salesforce`.
export default defineConfig({
  ...base,
  test: { ...base.test, include: ['bench/**/*.task.ts'], testTimeout: 300_000 },
});
