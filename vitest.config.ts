import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    pool: 'forks',
    // Default store files of the daemons under test go to a directory of the run.
    globalSetup: ['./test/support/state-directory.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
