// Runs once before all tests: makes sure a Temporal CLI exists (installing the pinned one
// the same way users get it) and hands its path to every test through PETREL_TEMPORAL_BIN.
//
// It also marks everything the run starts (see test/support/leftovers.ts): a run id in
// PETREL_TEST_RUN and a per-run temp root that TMPDIR points to, so every PETREL_HOME, sshd
// scratch dir and test home lies under it (test/support/file-scope.ts adds one directory per
// test file). The teardown fails the run if any process of the run outlives it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTemporalBinary } from '../../cli/embedded/temporal-binary.js';
import { assertNoLeftovers, RUN_ID_ENV, RUN_ROOT_ENV, type RunMarks } from './leftovers.js';

export default function setup({ provide }: { provide: (key: string, value: string) => void }): () => Promise<void> {
  const shared = path.resolve('.petrel-test', 'shared');
  const binary = process.env.PETREL_TEMPORAL_BIN ?? ensureTemporalBinary(shared, (l) => console.log(l));
  process.env.PETREL_TEMPORAL_BIN = binary;
  provide('temporalBin', binary);

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-run-'));
  // The sshd test users must be able to walk down to their homes under it.
  fs.chmodSync(root, 0o755);
  const run: RunMarks = { id: path.basename(root).slice('petrel-run-'.length), root };
  // Test workers are forked after this with a copy of process.env, and pass it on to all they start.
  process.env[RUN_ID_ENV] = run.id;
  process.env[RUN_ROOT_ENV] = root;
  process.env.TMPDIR = root;

  return async () => {
    try {
      await assertNoLeftovers(run);
    } catch (err) {
      // vitest only logs a teardown error: make sure the run still exits non-zero.
      process.exitCode = 1;
      throw err;
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalBin: string;
  }
}
