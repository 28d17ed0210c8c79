// SkyPilot parity through the real CLI: `petrel validate` accepts YAMLs SkyPilot 0.14.1 accepts
// (warning about what Petrel ignores or will refuse), and launch refuses those it cannot run with
// a message naming file, line and field — before anything is started or submitted.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PetrelEnv } from '../support/petrel.js';

const VALID = 'test/fixtures/spec/valid';
const INVALID = 'test/fixtures/spec/invalid';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
});

afterAll(async () => {
  await p?.destroy();
});

function nothingStarted(): void {
  expect(fs.existsSync(path.join(p.home, 'run'))).toBe(false);
  expect(fs.existsSync(path.join(p.home, 'local'))).toBe(false);
}

describe('petrel validate', () => {
  it('accepts what SkyPilot accepts, with one warning line per thing Petrel ignores or will refuse', async () => {
    const files = [`${VALID}/inputs-outputs.yaml`, `${VALID}/service.yaml`, `${VALID}/envs-unset-in-file-mounts.yaml`, `${VALID}/tpu-vm.yaml`];
    const r = await p.run(['validate', ...files]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(files.map((f) => `${f}: ok (task ${f.endsWith('tpu-vm.yaml') ? 'tpuvm-mnist' : '(unnamed)'})\n`).join(''));
    expect(r.stderr).toContain(`${VALID}/inputs-outputs.yaml:2:1: inputs: warning: ignored: Petrel does not estimate egress costs`);
    expect(r.stderr).toContain(`${VALID}/inputs-outputs.yaml:4:1: outputs: warning: ignored: Petrel does not estimate egress costs`);
    expect(r.stderr).toContain(`${VALID}/service.yaml:3:1: service: warning: launch refuses this: SkyServe services are not supported by Petrel yet`);
    expect(r.stderr).toContain(
      `${VALID}/envs-unset-in-file-mounts.yaml:10:19: file_mounts['/data/$DATASET']: warning: launch refuses this: $DATASET is not set`,
    );
    expect(r.stderr).toContain(`${VALID}/tpu-vm.yaml:4:17: resources.accelerators: warning: launch refuses this: 'tpu-v2-8' is a TPU`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    nothingStarted();
  });

  it('still rejects what SkyPilot rejects, naming file, line and field', async () => {
    const r = await p.run(['validate', `${INVALID}/tpu-on-aws.yaml`, `${INVALID}/file-mount-store-var.yaml`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${INVALID}/tpu-on-aws.yaml:4:17: resources.accelerators: 'tpu-v4-8' is a TPU; TPUs run only on GCP or Kubernetes (GKE), not on 'aws'`);
    expect(r.stderr).toContain(`${INVALID}/file-mount-store-var.yaml:7:12: file_mounts['/data'].store: 'nfs' is not allowed`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('launch of a YAML SkyPilot accepts but Petrel cannot run as written', () => {
  it('names every unset variable, then checks the values --env gives', async () => {
    const file = `${VALID}/envs-unset-in-file-mounts.yaml`;
    const unset = await p.run(['launch', file, '-y']);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain(`${file}: envs.BUCKET: no value; pass --env BUCKET=VALUE`);
    expect(unset.stderr).toContain(`${file}: envs.STORE_TYPE: no value; pass --env STORE_TYPE=VALUE`);
    expect(unset.stderr).toContain(`${file}:10:19: file_mounts['/data/$DATASET']: $DATASET is not set; declare it under envs or pass --env DATASET=VALUE`);
    const bad = await p.run(['launch', file, '-y', '--env', 'BUCKET=my-bucket', '--env', 'STORE_TYPE=nfs', '--env', 'DATASET=imagenet']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${file}: file_mounts['/outputs'].store: 'nfs' is not allowed; expected one of: S3, GCS`);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    nothingStarted();
  });

  it('asks for a bucket name left empty', async () => {
    const file = `${VALID}/storage-name-left-empty.yaml`;
    const r = await p.run(['launch', file, '-y']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:4:5: file_mounts['/outputs'].name: the bucket name is empty; fill in name: (e.g. name: my-bucket)`);
    nothingStarted();
  });

  it('says no Petrel infra serves TPUs, also for a managed job', async () => {
    for (const cmd of [['launch'], ['jobs', 'launch']]) {
      const r = await p.run([...cmd, `${VALID}/accelerator-args.yaml`, '-y']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${VALID}/accelerator-args.yaml:3:17: resources.accelerators: 'tpu-v4-8' is a TPU; Petrel launches no TPUs yet (neither GCP TPU VMs nor GKE TPU node pools)`);
    }
    nothingStarted();
  });

  it('refuses a service at its line', async () => {
    const r = await p.run(['launch', `${VALID}/service.yaml`, '-y']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${VALID}/service.yaml:3:1: service: SkyServe services are not supported by Petrel yet`);
    nothingStarted();
  });

  it('goes ahead past inputs/outputs, saying once each that they are ignored', async () => {
    const r = await p.run(['launch', `${VALID}/inputs-outputs.yaml`, '--dryrun', '--json', '-c', 'io']);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/warning: ignored: Petrel does not estimate egress costs/g)).toHaveLength(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ cluster: 'io', task: { run: 'python train.py' } });
    nothingStarted();
  });
});
