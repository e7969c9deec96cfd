import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    pool: 'forks',
    // A private directory of default control sockets per test file (test/support/control-dir.ts).
    setupFiles: ['./test/support/control-dir.ts'],
    // Default store files of the daemons under test go to a directory of the run.
    globalSetup: ['./test/support/state-directory.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
