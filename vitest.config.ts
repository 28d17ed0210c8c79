import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The global setup marks every process the run starts and its teardown fails the run if
    // any outlives it; file-scope gives each test file its own TMPDIR under the run's root.
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/file-scope.ts'],
    // Room for that teardown's grace period and kills before vitest gives up and exits.
    teardownTimeout: 60_000,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Each e2e file runs its own Temporal server and worker: two at a time suit 2 cores.
    maxWorkers: 2,
  },
});
