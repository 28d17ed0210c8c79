// SkyPilot parity: a YAML SkyPilot 0.14.1's parser accepts is accepted (valid/), one it rejects is
// rejected (invalid/); each fixture written for this says so in its first line, as checked by
// running SkyPilot itself (load_chain_dag_from_yaml, with null envs given values) outside the
// test suite. What SkyPilot accepts but Petrel cannot run yet is refused at launch, by name.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  applyOverrides,
  assertReadyToLaunch,
  formatSpecError,
  readTaskYaml,
  type SpecNotice,
} from '../../core/spec/index.js';
import { substituteVars } from '../../core/spec/env.js';
import type { TaskSpec } from '../../core/task.js';
import { fixtureText, specErrors } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/spec/', import.meta.url));

function load(name: string): { task: TaskSpec; notices: SpecNotice[] } {
  const file = readTaskYaml(fixtureText('valid', name), name);
  expect(file.tasks).toHaveLength(1);
  return { task: file.tasks[0]!, notices: file.notices };
}

function launchErrors(name: string, task: TaskSpec, notices: SpecNotice[], jobs = false): string[] {
  try {
    assertReadyToLaunch(task, name, notices, jobs);
    return [];
  } catch {
    return specErrors(() => assertReadyToLaunch(task, name, notices, jobs)).map(formatSpecError);
  }
}

/** Fills every null env/secret, so only what the YAML itself lacks is left to refuse. */
function filled(task: TaskSpec): TaskSpec {
  const nulls = (m: Record<string, string | null>) => Object.fromEntries(Object.keys(m).filter((k) => m[k] === null).map((k) => [k, 'filled']));
  return applyOverrides(task, { envs: nulls(task.envs), secrets: nulls(task.secrets) });
}

describe('SkyPilot 0.14.1 verdicts recorded in the fixtures', () => {
  test.each(['valid', 'invalid'] as const)('%s/: the first line of each fixture checked against SkyPilot agrees with its directory', (kind) => {
    const checked = readdirSync(`${FIXTURES}${kind}`)
      .map((f) => [f, fixtureText(kind, f).split('\n')[0]!] as const)
      .filter(([, first]) => first.startsWith('# SkyPilot 0.14.1'));
    expect(checked.length).toBeGreaterThanOrEqual(kind === 'valid' ? 30 : 24);
    for (const [f, first] of checked) expect([f, first]).toEqual([f, expect.stringMatching(kind === 'valid' ? /\baccepts\b/ : /\brejects\b/)]);
  });
});

describe('accepted by validate, refused at launch', () => {
  test('an unset $VAR in file_mounts is left for launch, which names it; once set, the value is checked', () => {
    const { task, notices } = load('envs-unset-in-file-mounts.yaml');
    expect(launchErrors('envs-unset-in-file-mounts.yaml', task, notices)).toEqual([
      'envs-unset-in-file-mounts.yaml: envs.BUCKET: no value; pass --env BUCKET=VALUE',
      'envs-unset-in-file-mounts.yaml: envs.STORE_TYPE: no value; pass --env STORE_TYPE=VALUE',
      "envs-unset-in-file-mounts.yaml:10:19: file_mounts['/data/$DATASET']: $DATASET is not set; declare it under envs or pass --env DATASET=VALUE",
    ]);
    const bad = applyOverrides(task, { envs: { BUCKET: 'my-bucket', STORE_TYPE: 'nfs', DATASET: 'imagenet' } });
    expect(launchErrors('envs-unset-in-file-mounts.yaml', bad, notices)).toEqual([
      "envs-unset-in-file-mounts.yaml: file_mounts['/outputs'].store: 'nfs' is not allowed; expected one of: S3, GCS, AZURE, R2, IBM, OCI, NEBIUS, COREWEAVE, VASTDATA, HF, VOLUME",
    ]);
    const good = applyOverrides(task, { envs: { BUCKET: 'my-bucket', STORE_TYPE: 's3', DATASET: 'imagenet' } });
    expect(launchErrors('envs-unset-in-file-mounts.yaml', good, notices)).toEqual([]);
    expect(good.fileMounts).toEqual({
      '/outputs': { kind: 'storage', name: 'my-bucket', store: 'S3', persistent: true, mode: 'MOUNT' },
      '/data/imagenet': { kind: 'path', source: './data' },
    });
  });

  test('a bucket name left empty is refused at launch, at its line', () => {
    const { task, notices } = load('storage-name-left-empty.yaml');
    expect(launchErrors('storage-name-left-empty.yaml', task, notices)).toEqual([
      "storage-name-left-empty.yaml:4:5: file_mounts['/outputs'].name: the bucket name is empty; fill in name: (e.g. name: my-bucket), or give source: an existing bucket URI",
      "storage-name-left-empty.yaml:8:11: file_mounts['/checkpoints'].name: the bucket name is empty; fill in name: (e.g. name: my-bucket), or give source: an existing bucket URI",
    ]);
  });

  test('TPU accelerators and accelerator_args: launch says no Petrel infra serves TPUs', () => {
    for (const name of ['accelerator-args.yaml', 'tpu-vm.yaml', 'tpu-node.yaml']) {
      const { task, notices } = load(name);
      const errors = launchErrors(name, task, notices);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/: resources\.accelerators: 'tpu-v[24]-8' is a TPU; Petrel launches no TPUs yet \(neither GCP TPU VMs nor GKE TPU node pools\)$/);
    }
    const gpu = load('accelerator-args-gpu.yaml');
    expect(launchErrors('accelerator-args-gpu.yaml', gpu.task, gpu.notices)).toEqual([]);
  });

  test('inputs/outputs are ignored with a warning; launch goes ahead', () => {
    const { task, notices } = load('inputs-outputs.yaml');
    expect(notices.map((n) => [n.field, n.effect])).toEqual([['inputs', 'warn'], ['outputs', 'warn']]);
    expect(launchErrors('inputs-outputs.yaml', task, notices)).toEqual([]);
  });

  test('service, pool and event_callback are refused at their lines', () => {
    expect(launchErrors('service.yaml', load('service.yaml').task, load('service.yaml').notices)).toEqual([
      "service.yaml:3:1: service: SkyServe services are not supported by Petrel yet (remove 'service:' to run the task itself)",
    ]);
    expect(launchErrors('pool.yaml', load('pool.yaml').task, load('pool.yaml').notices)).toEqual(['pool.yaml:2:1: pool: job pools are not supported by Petrel yet']);
    expect(launchErrors('event-callback.yaml', load('event-callback.yaml').task, load('event-callback.yaml').notices)).toEqual([
      'event-callback.yaml:3:1: event_callback: job status callbacks (event_callback) are not supported by Petrel yet',
    ]);
  });

  test('different job_recovery per candidate is refused by managed jobs only', () => {
    const { task, notices } = load('job-recovery-mismatch.yaml');
    expect(launchErrors('job-recovery-mismatch.yaml', task, notices)).toEqual([]);
    expect(launchErrors('job-recovery-mismatch.yaml', task, notices, true)).toEqual([
      'job-recovery-mismatch.yaml:7:21: resources.any_of[1].job_recovery: every candidate must use the same job_recovery (managed jobs refuse this); set it once in the base resources',
    ]);
  });

  test('a name SkyPilot refuses at launch is refused too, unless --name replaces it', () => {
    const { task, notices } = load('bad-name.yaml');
    expect(launchErrors('bad-name.yaml', task, notices)).toEqual([
      "bad-name.yaml:2:7: name: 'my training job' is not a valid name; use letters and digits, separated by at most two of '.', '_' or '-' (e.g. train-llama_v2)",
    ]);
    expect(launchErrors('bad-name.yaml', applyOverrides(task, { name: 'my-training-job' }), notices)).toEqual([]);
  });

  test.each(readdirSync(`${FIXTURES}valid`).sort())('%s: every refusal validate reports is a launch error; warnings never are', (name) => {
    const file = readTaskYaml(fixtureText('valid', name), name);
    file.tasks.forEach((task, i) => {
      const notices = file.notices.filter((n) => n.task === undefined || n.task === i);
      const errors = launchErrors(name, filled(task), notices, true);
      for (const n of notices) {
        // Cloud storage mounts are refused by the CLI as it resolves mounts (cli/task-input.ts).
        if (n.message.startsWith('cloud storage mounts')) continue;
        const shown = errors.some((e) => e.includes(`${n.field}: ${n.message}`) || (n.field === '' && e.includes(n.message)));
        expect([n.field, n.effect, shown]).toEqual([n.field, n.effect, n.effect === 'refuse']);
      }
      if (!notices.some((n) => n.effect === 'refuse' && !n.message.startsWith('cloud storage mounts'))) expect(errors).toEqual([]);
    });
  });
});

describe("SkyPilot's substitution pattern", () => {
  test('$VAR and ${VAR}, its loose braces, and unknown names left as written', () => {
    const vars = { A: 'x', B: null };
    expect(substituteVars('/d/$A/${A}/$A-b/${A', vars)).toBe('/d/x/x/x-b/x');
    expect(substituteVars('$A}', vars)).toBe('x');
    expect(substituteVars('$B/$C/${C}', vars)).toBe('$B/$C/${C}');
  });
});
