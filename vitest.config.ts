import { defineConfig } from 'vitest/config';

// Two projects. `unit`: the tests that need no namespace and no timing of their own (in-process
// tests; test/daemons, mip4 daemons as child processes on loopback; test/packaging, which
// mostly waits on npm), which `npm test` runs two files at a time (scripts/test.sh; vitest's
// default on a two-core machine is one worker). `system`: the
// tests that build namespaces, start daemons with real traffic or drive a browser, run one file
// at a time so that their timing does not compete with other tests. A plain `vitest run` runs
// both with vitest's defaults.
const shared = {
  testTimeout: 20_000,
  pool: 'forks' as const,
  // A private directory of default control sockets per test file (test/support/control-dir.ts).
  setupFiles: ['./test/support/control-dir.ts'],
};
const system = ['test/linux/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'];

export default defineConfig({
  test: {
    // Default store files of the daemons under test go to a directory of the run.
    globalSetup: ['./test/support/state-directory.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/**/*.test.ts'], exclude: system } },
      { test: { ...shared, name: 'system', include: system } },
    ],
  },
});
