import { describe, expect, test } from 'vitest';
import {
  applyOverrides,
  assertReadyToLaunch,
  formatSpecError,
  parseTaskYaml,
  redactTask,
  taskFromCommand,
  TaskSpecError,
} from '../../core/spec/index.js';
import { defaultResourceRequest } from '../../core/task.js';
import { specErrors } from './helpers.js';

const YAML = `
name: train
num_nodes: 1
resources:
  accelerators: A100:8
  infra: aws/us-east-1
  cpus: 8
  memory: 32
  use_spot: false
  disk_tier: high
envs:
  MODEL: llama
  HF_TOKEN: null
secrets:
  WANDB_API_KEY: null
file_mounts:
  /ckpt: s3://bucket/\${HF_TOKEN}/ckpt
run: python train.py
`;

const base = () => parseTaskYaml(YAML, 'train.yaml').tasks[0]!;

describe('applyOverrides', () => {
  test('flags override the YAML', () => {
    const t = applyOverrides(base(), {
      name: 'train-v2',
      numNodes: 4,
      gpus: 'H100:8',
      infra: 'k8s/my-ctx',
      useSpot: true,
      cpus: '4+',
      memory: '64+',
      diskSize: '1TB',
      envs: { MODEL: 'mistral', HF_TOKEN: 'hf_abc' },
      secrets: { WANDB_API_KEY: 'wk' },
      ports: ['8080', '9000-9010'],
      instanceType: 'p5.48xlarge',
      imageId: 'docker:nvcr.io/nvidia/pytorch:24.01-py3',
    });
    expect(t.name).toBe('train-v2');
    expect(t.numNodes).toBe(4);
    expect(t.envs).toEqual({ MODEL: 'mistral', HF_TOKEN: 'hf_abc' });
    expect(t.secrets).toEqual({ WANDB_API_KEY: 'wk' });
    expect(t.resources).toEqual({
      candidates: [
        {
          ...defaultResourceRequest(),
          cloud: 'kubernetes',
          region: 'my-ctx',
          accelerators: { H100: 8 },
          cpus: { value: 4, orMore: true },
          memoryGb: { value: 64, orMore: true },
          useSpot: true,
          diskSizeGb: 1024,
          diskTier: 'high',
          ports: ['8080', '9000-9010'],
          instanceType: 'p5.48xlarge',
          imageId: 'docker:nvcr.io/nvidia/pytorch:24.01-py3',
        },
      ],
      ordered: false,
    });
  });

  test('a null env placeholder filled by --env is substituted into file_mounts', () => {
    const before = base();
    expect(before.fileMounts['/ckpt']).toEqual({ kind: 'path', source: 's3://bucket/${HF_TOKEN}/ckpt' });
    const t = applyOverrides(before, { envs: { HF_TOKEN: 'tok' } });
    expect(t.fileMounts['/ckpt']).toEqual({ kind: 'path', source: 's3://bucket/tok/ckpt' });
  });

  test('is pure: the input task is not changed, and no flags means an equal copy', () => {
    const before = base();
    const snapshot = JSON.parse(JSON.stringify(before));
    applyOverrides(before, { gpus: 'T4', envs: { MODEL: 'x' }, infra: 'gcp' });
    expect(before).toEqual(snapshot);
    expect(applyOverrides(before, {})).toEqual(before);
    // The CLI passes every flag key, unset ones as undefined.
    expect(applyOverrides(before, { name: undefined, gpus: undefined, useSpot: undefined })).toEqual(before);
  });

  test('legacy --cloud/--region/--zone narrow the location; --cloud drops the YAML region', () => {
    const t = applyOverrides(base(), { cloud: 'GCP' });
    expect([t.resources.candidates[0]!.cloud, t.resources.candidates[0]!.region]).toEqual(['gcp', undefined]);
    const u = applyOverrides(base(), { region: 'us-west-2', zone: 'us-west-2b' });
    const c = u.resources.candidates[0]!;
    expect([c.cloud, c.region, c.zone]).toEqual(['aws', 'us-west-2', 'us-west-2b']);
  });

  test("'none' clears gpus and disk tier", () => {
    const c = applyOverrides(base(), { gpus: 'none', diskTier: 'none' }).resources.candidates[0]!;
    expect(c.accelerators).toBeUndefined();
    expect(c.diskTier).toBeUndefined();
  });

  test('--gpus with a list orders the candidates; with a set it does not', () => {
    const listed = applyOverrides(base(), { gpus: '[H100:8, A100:8]' }).resources;
    expect(listed.ordered).toBe(true);
    expect(listed.candidates.map((c) => c.accelerators)).toEqual([{ H100: 8 }, { A100: 8 }]);
    const set = applyOverrides(base(), { gpus: '{H100:8, A100:8}' }).resources;
    expect(set.ordered).toBe(false);
    expect(set.candidates).toHaveLength(2);
  });

  test('--gpus applies to every candidate of an any_of task and drops memory-based demands', () => {
    const task = parseTaskYaml('resources:\n  any_of:\n    - {infra: aws, accelerators: 80GB+}\n    - {infra: gcp}\nrun: x\n', 'f.yaml').tasks[0]!;
    const t = applyOverrides(task, { gpus: 'L4:1' });
    expect(t.resources.candidates.map((c) => [c.cloud, c.accelerators, c.acceleratorMemory])).toEqual([
      ['aws', { L4: 1 }, undefined],
      ['gcp', { L4: 1 }, undefined],
    ]);
  });

  test('bad flag values give errors named after the flag, with line 0', () => {
    const errors = specErrors(() =>
      applyOverrides(base(), {
        gpus: 'A100:x',
        cpus: '-1',
        memory: 'lots',
        numNodes: 0,
        infra: 'mars/olympus',
        diskTier: 'fastest',
        diskSize: '1.5TB',
        ports: ['99999'],
        name: 'bad name',
        envs: { '1X': 'y' },
        secrets: { OK: 3 as unknown as string },
      }),
    );
    expect(errors.map((e) => e.file).sort()).toEqual(
      ['--cpus', '--disk-size', '--disk-tier', '--env', '--gpus', '--infra', '--memory', '--name', '--num-nodes', '--ports', '--secret'].sort(),
    );
    for (const e of errors) expect([e.line, e.column]).toEqual([0, 0]);
    const gpus = errors.find((e) => e.file === '--gpus')!;
    expect(gpus.field).toBe('resources.accelerators');
    expect(formatSpecError(gpus)).toBe(
      "--gpus: 'A100:x' is not a valid accelerator; expected NAME, NAME:COUNT (e.g. A100:8), {NAME: COUNT}, a list or a set of those",
    );
    expect(formatSpecError(errors.find((e) => e.file === '--infra')!)).toContain("unknown cloud 'mars'");
    expect(errors.find((e) => e.file === '--env')!.field).toBe('envs.1X');
  });

  test('--infra cannot be combined with --cloud/--region/--zone', () => {
    const [e] = specErrors(() => applyOverrides(base(), { infra: 'aws', region: 'us-east-1' }));
    expect(formatSpecError(e!)).toBe('--infra: cannot be combined with --region; use --infra CLOUD/REGION/ZONE alone');
  });

  test('--use-spot must be a boolean and --ports a list', () => {
    const errors = specErrors(() => applyOverrides(base(), { useSpot: 'yes' as unknown as boolean, ports: '80' as unknown as string[] }));
    expect(errors.map(formatSpecError)).toEqual([
      "--use-spot: expected true or false, got 'yes' (write true or false)",
      "--ports: expected a list of ports, got '80'",
    ]);
  });
});

describe('taskFromCommand', () => {
  test('a command becomes a one-node task whose run is the command', () => {
    expect(taskFromCommand('echo hi')).toEqual({
      numNodes: 1,
      resources: { candidates: [defaultResourceRequest()], ordered: false },
      envs: {},
      secrets: {},
      fileMounts: {},
      run: 'echo hi',
      config: {},
      volumes: {},
    });
  });

  test('overrides apply to a command task too', () => {
    const t = applyOverrides(taskFromCommand('nvidia-smi'), { gpus: 'T4', infra: 'local' });
    expect(t.resources.candidates).toEqual([{ ...defaultResourceRequest(), cloud: 'local', accelerators: { T4: 1 } }]);
  });

  test('an empty command is a TaskSpecError', () => {
    expect(() => taskFromCommand('  ')).toThrow(TaskSpecError);
  });
});

describe('assertReadyToLaunch', () => {
  test('every null env and secret is an error naming the flag that fills it', () => {
    const errors = specErrors(() => assertReadyToLaunch(base(), 'train.yaml'));
    expect(errors.map(formatSpecError)).toEqual([
      'train.yaml: envs.HF_TOKEN: no value; pass --env HF_TOKEN=VALUE',
      'train.yaml: secrets.WANDB_API_KEY: no value; pass --secret WANDB_API_KEY=VALUE',
    ]);
    expect(errors.every((e) => e.line === 0 && e.column === 0)).toBe(true);
  });

  test('passes once the placeholders are filled', () => {
    const t = applyOverrides(base(), { envs: { HF_TOKEN: 'x' }, secrets: { WANDB_API_KEY: 'y' } });
    expect(() => assertReadyToLaunch(t, 'train.yaml')).not.toThrow();
  });
});

describe('redactTask', () => {
  test('replaces every secret value, including where it was substituted, and leaves the input alone', () => {
    const task = parseTaskYaml(
      'secrets:\n  TOKEN: s3cr3t-value\n  LATER: null\nenvs:\n  PUBLIC: visible\nfile_mounts:\n  /data: s3://b/${TOKEN}/x\nrun: echo $TOKEN\n',
      'f.yaml',
    ).tasks[0]!;
    const redacted = redactTask(task);
    expect(redacted.secrets).toEqual({ TOKEN: '<redacted>', LATER: null });
    expect(redacted.envs).toEqual({ PUBLIC: 'visible' });
    expect(redacted.fileMounts['/data']).toEqual({ kind: 'path', source: 's3://b/<redacted>/x' });
    expect(JSON.stringify(redacted)).not.toContain('s3cr3t-value');
    expect(task.secrets.TOKEN).toBe('s3cr3t-value');
  });
});
