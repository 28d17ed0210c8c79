// Replays recorded histories (cluster and managed-job workflows, from this and earlier
// versions of the code) against the current workflow code: a change
// that would break running clusters fails here (guard such changes with patched()).
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const dir = path.join(import.meta.dirname, 'histories');
const bundle = path.resolve(import.meta.dirname, '..', '..', 'dist', 'workflow-bundle.js');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('workflow replay', () => {
  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('replays %s without nondeterminism', async (file) => {
    const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
    await expect(Worker.runReplayHistory({ workflowBundle: { codePath: bundle } }, history, file)).resolves.toBeUndefined();
  });
});
