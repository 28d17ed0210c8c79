// Property-style checks: whatever the input, the spec reader throws TaskSpecError or nothing.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import {
  applyOverrides,
  assertReadyToLaunch,
  parseTaskYaml,
  redactTask,
  taskFromCommand,
  TaskSpecError,
  type TaskOverrides,
} from '../../core/spec/index.js';
import type { TaskSpec } from '../../core/task.js';
import { fixtureText } from './helpers.js';

/** Small deterministic PRNG so failures reproduce. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const KEYS = [
  'name', 'workdir', 'num_nodes', 'resources', 'envs', 'secrets', 'file_mounts', 'setup', 'run', 'config', 'volumes',
  'service', 'infra', 'cloud', 'region', 'zone', 'accelerators', 'gpus', 'cpus', 'memory', 'instance_type', 'use_spot',
  'disk_size', 'disk_tier', 'network_tier', 'ports', 'image_id', 'labels', 'job_recovery', 'autostop', 'priority',
  'any_of', 'ordered', 'strategy', 'max_restarts_on_errors', 'recover_on_exit_codes', 'idle_minutes', 'down', 'wait_for',
  'url', 'ref', 'source', 'store', 'mode', 'persistent', 'execution', '/data', '~/sky_workdir', 'HF_TOKEN', '1BAD', '',
  'kubernetes', 'docker', '__proto__', 'constructor', 'toString',
];
const STRINGS = [
  '', ' ', 'A100:8', 'A100:x', '{A100:1, V100:1}', '[H100:8]', '80GB+', 'nvidia:80GB+:8', 'k8s/a/b/c', '*/*/z', 'aws//x',
  '4+', '+', '-1', '1e309', 'NaN', '100GB', '1.5TB', '10m', '2w', '8080-80', '0-0', 'FAILOVER', 'none', 'true', 'yes',
  '${X}', '$', '${', 'ü∂ƒ', '\u0000', 'x'.repeat(300), 's3://b/', '~', '/', '.', 'local', 'slurm/a/b/c',
];

function randomValue(r: ReturnType<typeof rng>, depth: number): unknown {
  const roll = r.int(depth > 3 ? 5 : 8);
  switch (roll) {
    case 0: return r.pick(STRINGS);
    case 1: return r.pick([0, 1, -1, 0.5, 8, 65536, 1e21, -1000, 1001, 255, 256, Number.MAX_SAFE_INTEGER]);
    case 2: return r.next() < 0.5;
    case 3: return null;
    case 4: return r.pick(STRINGS) + String(r.int(100));
    case 5:
    case 6: {
      const o: Record<string, unknown> = {};
      const n = r.int(5);
      for (let i = 0; i < n; i++) o[r.pick(KEYS)] = randomValue(r, depth + 1);
      return o;
    }
    default:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
  }
}

function expectOnlySpecErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TaskSpecError);
    const errors = (e as TaskSpecError).errors;
    expect(errors.length).toBeGreaterThan(0);
    // The catch-all in parseTaskYaml would hide a bug; it must never be what answered.
    for (const err of errors) expect(err.message).not.toMatch(/^cannot (read|apply|check|redact)/);
  }
}

describe('robustness', () => {
  test('random task-shaped documents', () => {
    const r = rng(1);
    for (let i = 0; i < 1500; i++) {
      const doc: Record<string, unknown> = { run: 'echo' };
      const n = 1 + r.int(4);
      for (let k = 0; k < n; k++) doc[r.pick(KEYS)] = randomValue(r, 0);
      if (r.next() < 0.5) doc.resources = randomValue(r, 1);
      const docs = r.next() < 0.2 ? [doc, randomValue(r, 0)] : [doc];
      const text = docs.map((d) => stringify(d)).join('---\n');
      expectOnlySpecErrors(() => parseTaskYaml(text, 'fuzz.yaml'));
    }
  });

  test('random edits of the valid fixtures', () => {
    const r = rng(2);
    const dir = fileURLToPath(new URL('../fixtures/spec/valid/', import.meta.url));
    const texts = readdirSync(dir).map((f) => fixtureText('valid', f));
    const noise = [':', '-', ' ', '\n', '{', '}', '[', ']', '&a ', '*a', '!!binary ', '"', "'", '#', '---\n', '\t', '|', '>', '? '];
    for (let i = 0; i < 1500; i++) {
      let text = r.pick(texts);
      const edits = 1 + r.int(4);
      for (let k = 0; k < edits; k++) {
        const at = r.int(text.length + 1);
        text = r.next() < 0.5 ? text.slice(0, at) + r.pick(noise) + text.slice(at) : text.slice(0, at) + text.slice(at + 1 + r.int(5));
      }
      expectOnlySpecErrors(() => parseTaskYaml(text, 'edited.yaml'));
    }
  });

  test.each([
    ['recursive alias', 'run: x\nconfig: &a {docker: {run_options: *a}}\n'],
    ['self-referencing list', 'run: x\nvolumes: &a {/a: [*a]}\n'],
    ['alias bomb', `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [${'*a,'.repeat(10)}]\nc: &c [${'*b,'.repeat(10)}]\nd: [${'*c,'.repeat(10)}]\nrun: x\n`],
    ['undefined alias', 'run: *nope\n'],
    ['binary value', 'run: x\nenvs: {A: !!binary aGk=}\n'],
    ['unknown tag', 'run: !custom x\n'],
    ['complex key', '? [a, b]\n: 1\nrun: x\n'],
    ['deep nesting', `run: x\nconfig: ${'['.repeat(3000)}${']'.repeat(3000)}\n`],
    ['infinity', 'resources: {cpus: .inf, memory: .nan, disk_size: -.inf}\nrun: x\n'],
    ['huge number', `num_nodes: 1${'0'.repeat(400)}\nrun: x\n`],
    ['byte order mark and CRLF', '\uFEFFname: a\r\nrun: x\r\n'],
    ['tabs', 'resources:\n\tcpus: 4\nrun: x\n'],
    ['only a comment after ---', '---\n# nothing\n'],
    ['a scalar document', 'echo hi\n'],
    ['a number document', '42\n'],
    ['merge keys', 'base: &b {cpus: 4}\nrun: x\n'],
    ['resources merge key', 'resources:\n  <<: {cpus: 4, foo: 1}\nrun: x\n'],
    ['prototype keys', 'run: x\nenvs: {__proto__: 1, constructor: 2}\nlabels: {__proto__: x}\n'],
  ])('%s', (_, text) => {
    expectOnlySpecErrors(() => parseTaskYaml(text, 'odd.yaml'));
  });

  test('non-string arguments', () => {
    for (const v of [undefined, null, 42, {}, [], Symbol('x')]) {
      expectOnlySpecErrors(() => parseTaskYaml(v as unknown as string, 'x.yaml'));
      expectOnlySpecErrors(() => taskFromCommand(v as unknown as string));
    }
  });

  test('random overrides', () => {
    const r = rng(3);
    const task = parseTaskYaml(fixtureText('valid', 'ordered-merged.yaml'), 'f.yaml').tasks[0]!;
    const fields: Array<keyof TaskOverrides> = [
      'name', 'workdir', 'numNodes', 'envs', 'secrets', 'infra', 'cloud', 'region', 'zone', 'gpus', 'cpus', 'memory',
      'instanceType', 'useSpot', 'diskSize', 'diskTier', 'ports', 'imageId',
    ];
    for (let i = 0; i < 1500; i++) {
      const o: Record<string, unknown> = {};
      for (let k = 0; k < 1 + r.int(4); k++) o[r.pick(fields)] = randomValue(r, 2);
      expectOnlySpecErrors(() => applyOverrides(task, o as TaskOverrides));
    }
    expectOnlySpecErrors(() => applyOverrides(task, null as unknown as TaskOverrides));
  });

  test('odd tasks given to the launch checks', () => {
    for (const t of [null, undefined, {}, { envs: null }, { envs: { A: 1 } }, { secrets: 'x' }]) {
      expectOnlySpecErrors(() => assertReadyToLaunch(t as unknown as TaskSpec, 'x.yaml'));
      expectOnlySpecErrors(() => redactTask(t as unknown as TaskSpec));
      expectOnlySpecErrors(() => applyOverrides(t as unknown as TaskSpec, { gpus: 'A100' }));
    }
  });
});
