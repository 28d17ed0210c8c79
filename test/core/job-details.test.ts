// What the Temporal UI shows for a job: the start summary and the current-details Markdown.
import { describe, expect, it } from 'vitest';
import { describeManagedJob, managedJobStartMetadata } from '../../workflows/job-details.js';
import type { ManagedJobInput, ManagedJobView } from '../../workflows/managed-job-types.js';

const input: Omit<ManagedJobInput, 'jobId'> = {
  name: 'train-llama',
  run: 'python train.py --token=$SECRET',
  envs: { HF_TOKEN: 'hf_do_not_show' },
  sealedSecrets: { KEY: 'sealed-do-not-show' },
  gpusPerNode: 8,
  user: 'alice',
  candidates: [
    { cloud: 'aws', accelerators: { A100: 8 }, useSpot: true, ports: [], labels: {}, priority: 0 },
    { cloud: 'gcp', accelerators: { A100: 8 }, useSpot: true, ports: [], labels: {}, priority: 0 },
  ],
  numNodes: 2,
  recovery: { strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 1, recoverOnExitCodes: [] },
  retryUntilUp: false,
  unreachableGraceSeconds: 30,
  resourcesSummary: 'aws, 2x node, A100:8, spot (+1 more)',
};

describe('managed job start metadata', () => {
  it('summarises name, resources and infra candidates, and never shows envs values, secrets or the script', () => {
    const m = managedJobStartMetadata(input, 7);
    expect(m.staticSummary).toBe('train-llama · A100:8 spot · any_of aws/gcp');
    expect(m.staticDetails).toContain('- user: alice');
    expect(m.staticDetails).toContain('- nodes: 2');
    expect(m.staticDetails).toContain('EAGER_NEXT_REGION');
    for (const hidden of ['hf_do_not_show', 'sealed-do-not-show', 'train.py']) {
      expect(m.staticSummary + m.staticDetails).not.toContain(hidden);
    }
  });

  it('keeps the summary within what the server accepts after encryption, whatever the name', () => {
    const m = managedJobStartMetadata({ ...input, name: 'ü'.repeat(500) }, 7);
    expect(new TextEncoder().encode(m.staticSummary).length).toBeLessThanOrEqual(200);
    expect(m.staticSummary.endsWith('…')).toBe(true);
  });
});

describe('managed job current details', () => {
  it('tables every attempt with where, how long and why it ended', () => {
    const view: ManagedJobView = {
      jobId: 7,
      user: 'alice',
      status: 'RUNNING',
      taskId: 't',
      submittedAt: '2026-01-01T00:00:00.000Z',
      recoveries: 1,
      restartsOnErrors: 0,
      resourcesSummary: input.resourcesSummary,
      blocked: [],
      placements: [],
      spentUsd: 12.5,
      attempts: [
        { attempt: 1, cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a', clusterName: 'job-7-1', nodeIds: [], startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T01:02:00.000Z', outcome: 'preempted', reason: 'spot | reclaimed\nby aws' },
        { attempt: 2, cloud: 'gcp', region: 'us-central1', clusterName: 'job-7-2', nodeIds: [], startedAt: '2026-01-01T01:03:00.000Z', outcome: 'running' },
      ],
    };
    const md = describeManagedJob(view, Date.parse('2026-01-01T01:08:30.000Z'));
    expect(md.split('\n')).toEqual([
      '**RUNNING**',
      '',
      '- runs on: gcp/us-central1 (cluster job-7-2)',
      '- recoveries: 1, restarts on errors: 0',
      '- cost so far: $12.50',
      '',
      '| attempt | infra | region | zone | started (UTC) | duration | outcome | why it ended |',
      '|---|---|---|---|---|---|---|---|',
      '| 1 | aws | us-east-1 | us-east-1a | 01-01 00:00:00 | 1h 02m | preempted | spot \\| reclaimed by aws |',
      '| 2 | gcp | us-central1 | — | 01-01 01:03:00 | 5m 30s so far | running | — |',
    ]);
  });
});
