import { describe, expect, test } from 'vitest';
import { parseAcceleratorMemory, parseAccelerators } from '../../core/spec/accelerators.js';
import { formatSpecError, TaskSpecError } from '../../core/spec/index.js';
import { parseInfra } from '../../core/spec/infra.js';
import { parsePorts } from '../../core/spec/ports.js';
import { fieldPath } from '../../core/spec/problems.js';
import { parseCpus, parseDiskSize, parseIdleMinutes, parseMemory } from '../../core/spec/quantities.js';
import { closest } from '../../core/spec/suggest.js';

const value = <T>(r: { ok: true; value: T } | { ok: false }) => (r.ok ? r.value : 'ERROR');

describe('formatSpecError', () => {
  test('file, flag and position-less forms', () => {
    expect(formatSpecError({ file: 'train.yaml', line: 12, column: 5, field: 'resources.cpus', message: 'bad' })).toBe(
      'train.yaml:12:5: resources.cpus: bad',
    );
    expect(formatSpecError({ file: '--gpus', line: 0, column: 0, field: 'resources.accelerators', message: 'bad' })).toBe('--gpus: bad');
    expect(formatSpecError({ file: 'train.yaml', line: 0, column: 0, field: 'envs.X', message: 'bad' })).toBe('train.yaml: envs.X: bad');
    expect(formatSpecError({ file: 'train.yaml', line: 3, column: 1, field: '', message: 'YAML syntax error: x' })).toBe(
      'train.yaml:3:1: YAML syntax error: x',
    );
  });

  test('TaskSpecError joins all errors, one per line', () => {
    const e = new TaskSpecError([
      { file: 'a.yaml', line: 1, column: 1, field: 'name', message: 'one' },
      { file: 'a.yaml', line: 2, column: 3, field: 'run', message: 'two' },
    ]);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('TaskSpecError');
    expect(e.message).toBe('a.yaml:1:1: name: one\na.yaml:2:3: run: two');
  });
});

describe('accelerators', () => {
  test.each([
    ['A100', 'single', [{ accelerators: { A100: 1 } }]],
    ['A100:8', 'single', [{ accelerators: { A100: 8 } }]],
    [' T4 : 0.5 ', 'single', [{ accelerators: { T4: 0.5 } }]],
    ['tpu-v5e-8', 'single', [{ accelerators: { 'tpu-v5e-8': 1 } }]],
    ['80gb+', 'single', [{ acceleratorMemory: '80GB+' }]],
    ['48GB:2', 'single', [{ acceleratorMemory: '48GB:2' }]],
    ['NVIDIA:80GB+', 'single', [{ acceleratorMemory: 'nvidia:80GB+' }]],
    ['nvidia:80GB+:8', 'single', [{ acceleratorMemory: 'nvidia:80GB+:8' }]],
    ['{A100:1, V100:1}', 'set', [{ accelerators: { A100: 1 } }, { accelerators: { V100: 1 } }]],
    ['[A100:1, V100:1]', 'list', [{ accelerators: { A100: 1 } }, { accelerators: { V100: 1 } }]],
    ['{A100:1, A100:1}', 'single', [{ accelerators: { A100: 1 } }]],
  ])('%s', (text, kind, options) => {
    expect(value(parseAccelerators(text))).toEqual({ kind, options });
  });

  test.each(['A100:x', 'A100:0', 'A100:-1', ':8', 'A100:8:9', 'nvidia:foo:8', '80GB:1.5', '{}', '[ , ]', 'A 100'])('rejects %s', (text) => {
    expect(parseAccelerators(text).ok).toBe(false);
  });

  test('mapping and list values', () => {
    expect(value(parseAccelerators({ A100: 8 }))).toEqual({ kind: 'single', options: [{ accelerators: { A100: 8 } }] });
    expect(value(parseAccelerators({ '80GB+': 4 }))).toEqual({ kind: 'single', options: [{ acceleratorMemory: '80GB+:4' }] });
    expect(value(parseAccelerators(['H100:8', 'A100:8']))).toMatchObject({ kind: 'list' });
    expect(parseAccelerators({ A100: 'eight' }).ok).toBe(false);
    expect(parseAccelerators([{ A100: 1 }]).ok).toBe(false);
    expect(parseAccelerators(8).ok).toBe(false);
  });

  test('parseAcceleratorMemory reads the canonical form back', () => {
    expect(parseAcceleratorMemory('nvidia:80GB+:8')).toEqual({ manufacturer: 'nvidia', memoryGb: 80, orMore: true, count: 8 });
    expect(parseAcceleratorMemory('48GB:2')).toEqual({ memoryGb: 48, orMore: false, count: 2 });
    expect(parseAcceleratorMemory('1TB+')).toEqual({ memoryGb: 1024, orMore: true, count: 1 });
    expect(parseAcceleratorMemory('A100:8')).toBeUndefined();
  });
});

describe('infra', () => {
  test.each([
    ['aws', { cloud: 'aws' }],
    ['AWS/us-east-1', { cloud: 'aws', region: 'us-east-1' }],
    ['aws/us-east-1/us-east-1a', { cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a' }],
    ['aws/*/us-east-1a', { cloud: 'aws', zone: 'us-east-1a' }],
    ['*', {}],
    ['*/us-east-1', { region: 'us-east-1' }],
    ['*/*/us-east-1a', { zone: 'us-east-1a' }],
    ['k8s', { cloud: 'kubernetes' }],
    ['kubernetes/my-ctx', { cloud: 'kubernetes', region: 'my-ctx' }],
    ['k8s/gke_proj/us-central1/cluster', { cloud: 'kubernetes', region: 'gke_proj/us-central1/cluster' }],
    ['ssh/lab', { cloud: 'ssh', region: 'lab' }],
    ['slurm/hpc/gpu', { cloud: 'slurm', region: 'hpc', zone: 'gpu' }],
    ['local', { cloud: 'local' }],
    ['local/dev', { cloud: 'local', region: 'dev' }],
    ['/gcp/', { cloud: 'gcp' }],
  ])('%s', (text, loc) => {
    expect(value(parseInfra(text))).toEqual(loc);
  });

  test.each(['', 'aws//x', 'aws/a/b/c', 'mars', 'awz', 5])('rejects %s', (text) => {
    expect(parseInfra(text).ok).toBe(false);
  });
});

describe('quantities and ports', () => {
  test('cpus', () => {
    expect(value(parseCpus(4))).toEqual({ value: 4, orMore: false });
    expect(value(parseCpus('0.5'))).toEqual({ value: 0.5, orMore: false });
    expect(value(parseCpus('4+'))).toEqual({ value: 4, orMore: true });
    for (const bad of [0, -1, '0+', 'four', '4++', '', Infinity]) expect(parseCpus(bad).ok).toBe(false);
  });

  test('memory', () => {
    expect(value(parseMemory('16+'))).toEqual({ value: 16, orMore: true });
    expect(value(parseMemory('512MB'))).toEqual({ value: 0.5, orMore: false });
    expect(value(parseMemory('1TB+'))).toEqual({ value: 1024, orMore: true });
    for (const bad of [0, '4x', 'x', '-2', '16 GBs']) expect(parseMemory(bad).ok).toBe(false);
  });

  test('disk size', () => {
    expect(value(parseDiskSize(256))).toBe(256);
    expect(value(parseDiskSize('100GB'))).toBe(100);
    expect(value(parseDiskSize('1TB'))).toBe(1024);
    expect(value(parseDiskSize('2Ti'))).toBe(2048);
    for (const bad of [0, 1.5, '1.5TB', '512MB', 'big', -10]) expect(parseDiskSize(bad).ok).toBe(false);
  });

  test('idle minutes', () => {
    expect([10, '10', '10m', '2h', '1d', '1W'].map((v) => value(parseIdleMinutes(v)))).toEqual([10, 10, 10, 120, 1440, 10080]);
    for (const bad of [-1, 1.5, '10s', 'soon']) expect(parseIdleMinutes(bad).ok).toBe(false);
  });

  test('ports', () => {
    expect(value(parsePorts(null))).toEqual([]);
    expect(value(parsePorts(22))).toEqual(['22']);
    expect(value(parsePorts(['8080', 8080, '10022 - 10040', '1-1']))).toEqual(['8080', '10022-10040', '1-1']);
    for (const bad of [0, 65536, '1-0', 'http', [1, 'x'], 1.5]) expect(parsePorts(bad).ok).toBe(false);
  });
});

describe('helpers', () => {
  test('field paths', () => {
    expect(fieldPath(['resources', 'any_of', 1, 'cpus'])).toBe('resources.any_of[1].cpus');
    expect(fieldPath(['file_mounts', '/data'])).toBe("file_mounts['/data']");
  });

  test('did-you-mean', () => {
    expect(closest('acclerators', ['accelerators', 'cpus'])).toBe('accelerators');
    expect(closest('Run', ['run', 'setup'])).toBe('run');
    expect(closest('banana', ['run', 'setup'])).toBeUndefined();
  });
});
