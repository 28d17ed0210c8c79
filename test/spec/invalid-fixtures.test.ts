import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { formatSpecError, parseTaskYaml } from '../../core/spec/index.js';
import { fixtureText, specErrors } from './helpers.js';

interface Expected {
  line: number;
  field: string;
  fragment: string;
}

/** fixture → the error it must produce (field path, line, and a key part of the message). */
const EXPECTED: Record<string, Expected> = {
  'bad-accelerator.yaml': {
    line: 3,
    field: 'resources.accelerators',
    fragment: "'A100:x' is not a valid accelerator; expected NAME, NAME:COUNT (e.g. A100:8), {NAME: COUNT}, a list or a set of those",
  },
  'accelerator-count-zero.yaml': { line: 2, field: 'resources.gpus', fragment: 'the count must be positive' },
  'memory-accel-bad-count.yaml': { line: 2, field: 'resources.accelerators', fragment: "'nvidia:80GB+:two' is not a valid accelerator" },
  'unknown-top-field.yaml': { line: 2, field: 'nmu_nodes', fragment: "unknown field 'nmu_nodes'; allowed fields: name, workdir, num_nodes" },
  'unknown-resource-field.yaml': { line: 3, field: 'resources.acclerators', fragment: "did you mean 'accelerators'?" },
  'misplaced-accelerators.yaml': { line: 2, field: 'accelerators', fragment: "is a resources field; move it under 'resources:'" },
  'spot-recovery.yaml': { line: 3, field: 'resources.spot_recovery', fragment: "use 'job_recovery' instead" },
  'infra-and-cloud.yaml': { line: 3, field: 'resources.region', fragment: "cannot be combined with 'infra'" },
  'accelerators-and-gpus.yaml': { line: 3, field: 'resources.gpus', fragment: 'set only one of them' },
  'any-of-and-ordered.yaml': { line: 4, field: 'resources.ordered', fragment: "cannot be combined with 'any_of'" },
  'nested-any-of.yaml': { line: 5, field: 'resources.any_of[1].any_of', fragment: 'cannot be nested' },
  'unknown-infra-cloud.yaml': { line: 2, field: 'resources.infra', fragment: "unknown cloud 'awz' in infra 'awz/us-east-1'" },
  'unknown-legacy-cloud.yaml': { line: 2, field: 'resources.cloud', fragment: "did you mean 'azure'?" },
  'num-nodes-zero.yaml': { line: 2, field: 'num_nodes', fragment: '0 is out of range; expected a positive whole number' },
  'bad-env-name.yaml': { line: 3, field: "envs['1BAD']", fragment: "'1BAD' is not a valid variable name" },
  'port-range-reversed.yaml': { line: 4, field: 'resources.ports[1]', fragment: "'9000-8000' is an empty range" },
  'port-out-of-range.yaml': { line: 2, field: 'resources.ports', fragment: '70000 is not a valid port' },
  'disk-tier.yaml': { line: 2, field: 'resources.disk_tier', fragment: "'fast' is not allowed; expected one of: low, medium, high, ultra, best" },
  'disk-size.yaml': { line: 2, field: 'resources.disk_size', fragment: "'huge' is not a valid disk size" },
  'autostop-bad.yaml': { line: 2, field: 'resources.autostop', fragment: "'10 minutes' is not a valid idle time" },
  'exit-code-range.yaml': { line: 4, field: 'resources.job_recovery.recover_on_exit_codes', fragment: '300 is out of range' },
  'priority-range.yaml': { line: 2, field: 'resources.priority', fragment: 'expected an integer from -1000 to 1000' },
  'yaml-syntax.yaml': { line: 4, field: '', fragment: 'YAML syntax error' },
  'duplicate-key.yaml': { line: 3, field: '', fragment: 'Map keys must be unique' },
  'empty.yaml': { line: 1, field: '', fragment: 'the file holds no task' },
  'job-group-duplicate-name.yaml': { line: 8, field: 'name', fragment: "'worker' is already the name of the task at line 5" },
  'job-group-unknown-primary.yaml': { line: 4, field: 'primary_tasks[0]', fragment: "no task of this file is named 'trainr' (did you mean 'trainer'?)" },
  'job-group-bad-delay.yaml': { line: 4, field: 'termination_delay', fragment: "'30 seconds' is not a valid duration" },
  'job-group-primary-serial.yaml': { line: 4, field: 'primary_tasks', fragment: 'only applies to execution: parallel' },
  'any-of-cpus.yaml': { line: 4, field: 'resources.any_of[1].cpus', fragment: '-2 is not positive' },
  'git-workdir-no-url.yaml': { line: 2, field: 'workdir.url', fragment: "missing required field 'url'" },
  'any-of-accelerator-list.yaml': { line: 2, field: 'resources.accelerators', fragment: "cannot be combined with 'any_of'" },
  'ordered-several-accelerators.yaml': { line: 2, field: 'resources.accelerators', fragment: "cannot be combined with 'ordered'" },
  'any-of-region-conflict.yaml': { line: 4, field: 'resources.any_of[0].zone', fragment: "cannot be combined with 'infra' (set in resources)" },
  'labels-number.yaml': { line: 4, field: 'resources.labels.version', fragment: "got 2 (quote it: '2')" },
  'not-a-mapping.yaml': { line: 1, field: '', fragment: 'expected a mapping of task fields' },
  'many-errors.yaml': { line: 5, field: 'resources.accelerators', fragment: "'A100:x' is not a valid accelerator" },
  // Rejected by SkyPilot 0.14.1 too (each file's first line says why).
  'file-mount-store-var.yaml': { line: 7, field: "file_mounts['/data'].store", fragment: "'nfs' is not allowed; expected one of: S3, GCS" },
  'storage-type-needs-mount-cached.yaml': { line: 5, field: "file_mounts['/ckpt'].type", fragment: 'only applies with mode: MOUNT_CACHED' },
  'volume-without-name.yaml': { line: 3, field: "file_mounts['/mnt/disk']", fragment: "a network volume needs 'name'" },
  'tpu-on-aws.yaml': { line: 4, field: 'resources.accelerators', fragment: "TPUs run only on GCP or Kubernetes (GKE), not on 'aws'" },
  'tpu-vm-instance-type.yaml': { line: 4, field: 'resources.instance_type', fragment: "a TPU VM ('tpu-v4-8') takes no instance_type" },
  'accelerator-args-unknown.yaml': { line: 6, field: 'resources.accelerator_args.zone', fragment: "unknown field 'zone'; allowed fields: runtime_version" },
  'inputs-two-buckets.yaml': { line: 3, field: 'inputs', fragment: 'expected at most 1 entry, got 2' },
  'service-replicas-and-policy.yaml': { line: 6, field: 'service.replica_policy', fragment: "cannot be combined with 'replicas'" },
  'pool-min-without-max.yaml': { line: 3, field: 'pool.min_workers', fragment: 'needs max_workers' },
  'config-bad-value.yaml': { line: 4, field: 'config.kubernetes.provision_timeout', fragment: "expected a whole number, got 'ten'" },
  'docker-login-split.yaml': { line: 6, field: 'secrets.SKYPILOT_DOCKER_PASSWORD', fragment: 'must all be in envs or all in secrets' },
  'secrets-list-not-reference.yaml': { line: 3, field: 'secrets[0]', fragment: "'HF_TOKEN' is not a secret reference" },
  'cloud-k8s-alias.yaml': { line: 3, field: 'resources.cloud', fragment: 'write cloud: kubernetes (or infra: k8s)' },
  'infra-trailing-slash.yaml': { line: 3, field: 'resources.infra', fragment: "'aws/' is not a valid infra" },
  'disk-size-with-space.yaml': { line: 3, field: 'resources.disk_size', fragment: "'100 GB' is not a valid disk size" },
  'envs-empty.yaml': { line: 2, field: 'envs', fragment: "'envs' is empty" },
  'header-execution-case.yaml': { line: 3, field: 'execution', fragment: 'execution: serial (lower case)' },
  'header-without-name.yaml': { line: 2, field: 'execution', fragment: "next to 'name'" },
  'any-of-null-field.yaml': { line: 5, field: 'resources.any_of[0].cpus', fragment: 'null is not allowed inside an any_of/ordered entry' },
  'any-of-entry-accelerator-list.yaml': { line: 4, field: 'resources.any_of[0].accelerators', fragment: 'a list of accelerators is not allowed inside' },
  'autostop-null-field.yaml': { line: 5, field: 'resources.autostop.down', fragment: 'is empty' },
  'num-nodes-float.yaml': { line: 2, field: 'num_nodes', fragment: "got '2.0'" },
  'hooks-in-resources.yaml': { line: 3, field: 'resources.hooks', fragment: 'go under the top-level config.hooks' },
  'memory-per-cpu-at-least.yaml': { line: 3, field: 'resources.memory', fragment: "'4x+' is not a valid memory size" },
};

const DIR = fileURLToPath(new URL('../fixtures/spec/invalid/', import.meta.url));

describe('invalid task YAMLs', () => {
  test('every fixture has an expectation and vice versa', () => {
    expect(readdirSync(DIR).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  test.each(Object.entries(EXPECTED))('%s', (fixture, want) => {
    const file = `examples/${fixture}`;
    const errors = specErrors(() => parseTaskYaml(fixtureText('invalid', fixture), file));
    const hit = errors.find((e) => e.field === want.field && e.line === want.line && e.message.includes(want.fragment));
    expect(hit, `errors were:\n${errors.map(formatSpecError).join('\n')}`).toBeDefined();
    for (const e of errors) {
      expect(e.file).toBe(file);
      expect(e.line).toBeGreaterThan(0);
      expect(e.column).toBeGreaterThan(0);
    }
  });

  test('all errors of a file are reported, in file order', () => {
    const errors = specErrors(() => parseTaskYaml(fixtureText('invalid', 'many-errors.yaml'), 'many-errors.yaml'));
    // (The name 'bad name' is SkyPilot's launch-time check, not a parse error: see bad-name.yaml.)
    expect(errors.map((e) => [e.line, e.field])).toEqual([
      [2, 'num_nodes'],
      [4, 'resources.cpus'],
      [5, 'resources.accelerators'],
      [6, 'resources.infra'],
      [9, "envs['9LIVES']"],
    ]);
  });

  test('the thrown message lists every error as file:line:col: field: message', () => {
    let message = '';
    try {
      parseTaskYaml(fixtureText('invalid', 'bad-accelerator.yaml'), 'train.yaml');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      "train.yaml:3:17: resources.accelerators: 'A100:x' is not a valid accelerator; expected NAME, NAME:COUNT (e.g. A100:8), {NAME: COUNT}, a list or a set of those",
    );
  });

  test('unknown and misplaced fields point at the key, bad values at the value', () => {
    const [unknown] = specErrors(() => parseTaskYaml(fixtureText('invalid', 'unknown-resource-field.yaml'), 'f.yaml'));
    expect([unknown!.line, unknown!.column]).toEqual([3, 3]);
    const [bad] = specErrors(() => parseTaskYaml(fixtureText('invalid', 'disk-tier.yaml'), 'f.yaml'));
    expect([bad!.line, bad!.column]).toEqual([2, 14]);
  });

  test('a missing required field points at its parent key', () => {
    const [e] = specErrors(() => parseTaskYaml(fixtureText('invalid', 'git-workdir-no-url.yaml'), 'f.yaml'));
    expect([e!.line, e!.column]).toEqual([2, 1]);
  });

  test('errors in later documents of a pipeline carry their own line numbers', () => {
    const text = 'name: p\n---\nrun: a\n---\nrun: b\nresources:\n  cpus: lots\n';
    const errors = specErrors(() => parseTaskYaml(text, 'p.yaml'));
    expect(errors).toEqual([
      expect.objectContaining({ file: 'p.yaml', line: 7, column: 9, field: 'resources.cpus' }),
    ]);
  });
});
