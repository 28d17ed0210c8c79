// Bad input: a clear message naming file, line and field, exit 1, and nothing started or
// submitted (no Temporal server, no worker, no cluster directory).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PetrelEnv } from '../support/petrel.js';

let p: PetrelEnv;
let dir: string;

beforeAll(async () => {
  p = await PetrelEnv.create();
  dir = fs.mkdtempSync(path.join(p.home, 'yaml-'));
});

afterAll(async () => {
  await p?.destroy();
});

function yaml(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function nothingStarted(): void {
  expect(fs.existsSync(path.join(p.home, 'run'))).toBe(false);
  expect(fs.existsSync(path.join(p.home, 'local'))).toBe(false);
}

describe('bad input is rejected before anything starts', () => {
  it('launch of an invalid YAML names file, line and field, with no stack trace', async () => {
    const file = yaml('bad.yaml', 'name: t\nresources:\n  accelerators: "A100:x"\nrun: echo hi\n');
    const r = await p.run(['launch', file, '-y']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:3:17: resources.accelerators:`);
    expect(r.stderr).toContain("'A100:x'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    nothingStarted();
  });

  it('a YAML with a null env needs --env; the message says how', async () => {
    const file = yaml('nullenv.yaml', 'envs:\n  HF_TOKEN: null\nrun: echo $HF_TOKEN\n');
    const r = await p.run(['launch', file, '-y']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('envs.HF_TOKEN');
    expect(r.stderr).toContain('--env HF_TOKEN=');
    nothingStarted();
  });

  it('an invalid flag value names the flag', async () => {
    const r = await p.run(['launch', '--gpus', 'A100:-1', '-y', 'echo hi']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^petrel: --gpus: /m);
    nothingStarted();
  });

  it('infra Petrel cannot serve yet is refused with the list of what it can', async () => {
    const r = await p.run(['launch', '--infra', 'azure/eastus', '-y', 'echo hi']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("infra 'azure' is not available in Petrel yet; available: local");
    nothingStarted();
  });

  it('a missing file and a bad cluster name are clear errors', async () => {
    const missing = await p.run(['launch', 'nope.yaml', '-y']);
    expect(missing.stderr).toContain('nope.yaml: no such file');
    const badName = await p.run(['launch', '-c', 'Bad_Name', '-y', 'echo hi']);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain("invalid cluster name 'Bad_Name'");
    nothingStarted();
  });

  it('--dryrun prints the plan (secrets redacted) and starts nothing', async () => {
    const r = await p.run(['launch', 'examples/hello.yaml', '--dryrun', '--json', '--secret', 'TOKEN=abc123', '-c', 'dry']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as { cluster: string; task: { name: string; secrets: Record<string, string> } };
    expect(plan.cluster).toBe('dry');
    expect(plan.task.name).toBe('hello');
    expect(plan.task.secrets.TOKEN).toBe('<redacted>');
    expect(r.stdout).not.toContain('abc123');
    nothingStarted();
  });
});

describe('petrel validate', () => {
  it('prints one line per valid file and every error of invalid ones; exit 1 if any is invalid', async () => {
    const bad = yaml('v-bad.yaml', 'num_nodes: 0\nresources:\n  use_spot: maybe\n  cpus: 4++\n');
    const ok = await p.run(['validate', 'examples/hello.yaml', 'examples/train-spot.yaml']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('examples/hello.yaml: ok (task hello)\nexamples/train-spot.yaml: ok (task train-spot)\n');
    const mixed = await p.run(['validate', 'examples/hello.yaml', bad]);
    expect(mixed.code).toBe(1);
    expect(mixed.stdout).toContain('examples/hello.yaml: ok');
    expect(mixed.stderr).toContain(`${bad}:1:12: num_nodes:`);
    expect(mixed.stderr).toContain(`${bad}:3:13: resources.use_spot:`);
    expect(mixed.stderr).toContain(`${bad}:4:9: resources.cpus:`);
    nothingStarted();
  });

  it('names a pipeline and its tasks', async () => {
    const file = yaml('pipe.yaml', 'name: pipe\n---\nname: prep\nrun: echo a\n---\nname: train\nrun: echo b\n');
    const r = await p.run(['validate', file]);
    expect(r.stdout).toBe(`${file}: ok (pipeline 'pipe' of 2 tasks: prep, train)\n`);
  });
});
