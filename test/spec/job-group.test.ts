// SkyPilot's JobGroup header (`execution: parallel`): what parses into TaskFile.jobGroup, and
// where each mistake is reported (file:line:column and field), following sky/utils/dag_utils.py.
import { describe, expect, test } from 'vitest';
import { formatSpecError, parseTaskYaml, readTaskYaml } from '../../core/spec/index.js';
import { parseDelaySeconds } from '../../core/spec/job-group.js';
import { parseFixture, specErrors } from './helpers.js';

const FILE = 'group.yaml';

/** Every error of a file as `file:line:col: field: message`. */
function errorsOf(text: string): string[] {
  return specErrors(() => parseTaskYaml(text, FILE)).map(formatSpecError);
}

/** A job group of two named tasks under `header` (header lines are 1..n). */
function group(header: string, tasks = 'name: trainer\nrun: a\n---\nname: eval\nrun: b\n'): string {
  return `${header}---\n${tasks}`;
}

describe('a parallel header that is right', () => {
  test('primary_tasks and a delay map become TaskFile.jobGroup; tasks keep their order and names', () => {
    const file = parseFixture('job-group.yaml');
    expect(file.pipelineName).toBe('rl-run');
    expect(file.execution).toBe('parallel');
    expect(file.jobGroup).toEqual({
      primaryTasks: ['trainer'],
      terminationDelaySeconds: { default: 30, perTask: { 'replay-buffer': 60 } },
    });
    expect(file.tasks.map((t) => [t.name, t.run])).toEqual([
      ['trainer', 'python train.py'],
      ['replay-buffer', 'python buffer.py'],
      ['evaluator', 'python eval.py'],
    ]);
    expect(file.tasks[0]!.resources.candidates[0]!.cpus).toEqual({ value: 2, orMore: false });
  });

  test('without primary_tasks every task is primary and the delay is 0 (SkyPilot defaults)', () => {
    const file = parseFixture('job-group-minimal.yaml');
    expect(file).toMatchObject({ pipelineName: 'group', execution: 'parallel' });
    expect(file.jobGroup).toEqual({ terminationDelaySeconds: { default: 0, perTask: {} } });
    expect(file.tasks.map((t) => t.name)).toEqual(['server', 'client']);
  });

  test('an empty primary_tasks means every task, as in SkyPilot', () => {
    const file = parseTaskYaml(group('name: g\nexecution: parallel\nprimary_tasks: []\n'), FILE);
    expect(file.jobGroup).toEqual({ terminationDelaySeconds: { default: 0, perTask: {} } });
  });

  test('a single delay applies to every auxiliary task; a map without default leaves the default at 0', () => {
    const single = parseTaskYaml(group('name: g\nexecution: parallel\ntermination_delay: 2h\n'), FILE);
    expect(single.jobGroup!.terminationDelaySeconds).toEqual({ default: 7200, perTask: {} });
    const map = parseTaskYaml(group('name: g\nexecution: parallel\ntermination_delay: {eval: 45}\n'), FILE);
    expect(map.jobGroup!.terminationDelaySeconds).toEqual({ default: 0, perTask: { eval: 45 } });
  });

  test('a group of one task is a group (SkyPilot needs the header plus at least one task)', () => {
    const file = parseTaskYaml('name: solo\nexecution: parallel\n---\nname: only\nrun: a\n', FILE);
    expect(file.execution).toBe('parallel');
    expect(file.tasks.map((t) => t.name)).toEqual(['only']);
  });

  test('empty documents between tasks are skipped, as for pipelines', () => {
    const file = readTaskYaml('name: g\nexecution: parallel\n---\nname: a\nrun: a\n---\n---\nname: b\nrun: b\n', FILE);
    expect(file.tasks.map((t) => t.name)).toEqual(['a', 'b']);
  });

  test('a serial header says so and has no jobGroup; a plain pipeline has neither', () => {
    const serial = parseFixture('pipeline-header.yaml');
    expect(serial.execution).toBe('serial');
    expect(serial.jobGroup).toBeUndefined();
    const plain = parseTaskYaml('name: p\n---\nrun: a\n---\nrun: b\n', FILE);
    expect(plain).not.toHaveProperty('execution');
    expect(plain).not.toHaveProperty('jobGroup');
  });

  test('the parsed file stays plain JSON (it travels in Temporal payloads)', () => {
    const file = parseFixture('job-group.yaml');
    expect(JSON.parse(JSON.stringify(file))).toEqual(file);
  });
});

describe('durations, as SkyPilot TIME_PATTERN_SECONDS reads them', () => {
  test.each([
    [30, 30],
    ['30', 30],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['2d', 172800],
    ['1w', 604800],
    ['10M', 600],
    [0, 0],
    ['0s', 0],
  ])('%j is %d seconds', (v, seconds) => {
    expect(parseDelaySeconds(v)).toEqual({ ok: true, value: seconds });
  });

  test.each([[-5], ['-5s'], ['1.5m'], ['30 s'], ['30sec'], ['ten'], [''], [true], [null], [[30]], [1.5]])('%j is refused', (v) => {
    const r = parseDelaySeconds(v);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]!.message).toContain("expected whole seconds or a number with s, m, h, d or w (e.g. 30, '30s', '5m', '1h')");
  });
});

describe('each mistake is reported at its node', () => {
  test('duplicate task names: the second name, naming the line of the first', () => {
    expect(errorsOf('name: g\nexecution: parallel\n---\nname: w\nrun: a\n---\nname: w\nrun: b\n')).toEqual([
      "group.yaml:7:7: name: 'w' is already the name of the task at line 4; task names in a job group must be unique",
    ]);
  });

  test('an unknown primary task: at that list item, suggesting the closest name', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\nprimary_tasks:\n  - trainer\n  - evl\n'))).toEqual([
      "group.yaml:5:5: primary_tasks[1]: no task of this file is named 'evl' (did you mean 'eval'?); the tasks are: trainer, eval",
    ]);
  });

  test('a primary task listed twice: the second occurrence', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\nprimary_tasks: [eval, trainer, eval]\n'))).toEqual([
      "group.yaml:3:32: primary_tasks[2]: 'eval' is listed twice; list each primary task once",
    ]);
  });

  test('primary_tasks that is not a list, or holds a non-name', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\nprimary_tasks: trainer\n'))).toEqual([
      "group.yaml:3:16: primary_tasks: expected a list of task names, got 'trainer'",
    ]);
    expect(errorsOf(group('name: g\nexecution: parallel\nprimary_tasks: [trainer, 3]\n'))).toEqual([
      'group.yaml:3:26: primary_tasks[1]: expected a task name, got 3',
    ]);
  });

  test('a bad duration string, with what is allowed', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\ntermination_delay: 30 secs\n'))).toEqual([
      "group.yaml:3:20: termination_delay: '30 secs' is not a valid duration; expected whole seconds or a number with s, m, h, d or w (e.g. 30, '30s', '5m', '1h')",
    ]);
  });

  test('a negative delay, as a number or a string', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\ntermination_delay: -30\n'))).toEqual([
      "group.yaml:3:20: termination_delay: -30 is negative; expected whole seconds or a number with s, m, h, d or w (e.g. 30, '30s', '5m', '1h')",
    ]);
    expect(errorsOf(group('name: g\nexecution: parallel\ntermination_delay:\n  default: -1m\n'))[0]).toMatch(
      /^group\.yaml:4:12: termination_delay\.default: '-1m' is negative; /,
    );
  });

  test('a delay written as a float is refused, as PyYAML reads it as one', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\ntermination_delay: 30.0\n'))[0]).toMatch(
      /^group\.yaml:3:20: termination_delay: '30\.0' is not a valid duration; /,
    );
  });

  test('an unknown key in the delay map: at the key', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\ntermination_delay:\n  default: 30s\n  trainr: 1m\n'))).toEqual([
      "group.yaml:5:3: termination_delay.trainr: keys are 'default' or task names; no task is named 'trainr' (did you mean 'trainer'?); the tasks are: trainer, eval",
    ]);
  });

  test('a bad value in the delay map: at that value', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\ntermination_delay:\n  eval: soon\n'))[0]).toMatch(
      /^group\.yaml:4:9: termination_delay\.eval: 'soon' is not a valid duration; /,
    );
  });

  test('a task without a name: at the start of its document', () => {
    expect(errorsOf('name: g\nexecution: parallel\n---\nname: a\nrun: a\n---\nrun: b\n')).toEqual([
      "group.yaml:7:1: name: every task of a job group (execution: parallel) needs a name; use only letters, digits, '-' and '_'",
    ]);
  });

  test('a task name with characters SkyPilot refuses in a group: at the name', () => {
    expect(errorsOf('name: g\nexecution: parallel\n---\nname: train.v2\nrun: a\n')).toEqual([
      "group.yaml:4:7: name: 'train.v2' is not a valid name for a task of a job group; use only letters, digits, '-' and '_'",
    ]);
  });

  test("the group's own name follows the same rule, and is required", () => {
    expect(errorsOf(group('name: my group\nexecution: parallel\n'))).toEqual([
      "group.yaml:1:7: name: 'my group' is not a valid job group name; use only letters, digits, '-' and '_'",
    ]);
    expect(errorsOf(group('execution: parallel\n'))).toEqual([
      'group.yaml:1:1: name: a job group header (execution: parallel) needs a name, e.g. name: my-group',
    ]);
  });

  test('primary_tasks or termination_delay without execution: parallel', () => {
    expect(errorsOf('name: p\nexecution: serial\nprimary_tasks: [a]\ntermination_delay: 30s\n---\nname: a\nrun: a\n')).toEqual([
      'group.yaml:3:1: primary_tasks: only applies to execution: parallel (a job group); set that in this header or remove this field',
      'group.yaml:4:1: termination_delay: only applies to execution: parallel (a job group); set that in this header or remove this field',
    ]);
  });

  test('job group fields in a task document point at the header', () => {
    expect(errorsOf('name: a\nrun: a\ntermination_delay: 30s\n')).toEqual([
      "group.yaml:3:1: termination_delay: 'termination_delay' is a job group setting; put it in the first (header) document, next to 'name' and 'execution: parallel'",
    ]);
  });

  test('a parallel header with no task after it', () => {
    expect(errorsOf('name: g\nexecution: parallel\n')).toEqual([
      'group.yaml:2:12: execution: a job group needs at least one task document after this header (separate documents with ---)',
    ]);
    expect(errorsOf('name: g\nexecution: parallel\n---\n')).toEqual([
      'group.yaml:2:12: execution: a job group needs at least one task document after this header (separate documents with ---)',
    ]);
  });

  test('an unknown header field lists the allowed ones and suggests the closest', () => {
    expect(errorsOf(group('name: g\nexecution: parallel\nprimary_task: [trainer]\n'))).toEqual([
      "group.yaml:3:1: primary_task: unknown field 'primary_task' in a header; allowed fields: name, execution, primary_tasks, termination_delay; did you mean 'primary_tasks'?",
    ]);
  });

  test('execution in another case is refused with both allowed values', () => {
    expect(errorsOf(group('name: g\nexecution: Parallel\n'))).toEqual([
      "group.yaml:2:12: execution: 'Parallel' is not allowed; write execution: serial (lower case) for a pipeline, or execution: parallel for a job group",
    ]);
  });

  test('all problems of a group are reported together, in file order', () => {
    const text = [
      'name: g',
      'execution: parallel',
      'primary_tasks: [trainer, nope]',
      'termination_delay: {default: x, eval: 1m}', // eval is no task here: both are named trainer
      '---',
      'name: trainer',
      'run: a',
      '---',
      'name: trainer',
      'run: b',
      '',
    ].join('\n');
    const errors = specErrors(() => parseTaskYaml(text, FILE));
    expect(errors.map((e) => [e.line, e.column, e.field])).toEqual([
      [3, 26, 'primary_tasks[1]'],
      [4, 30, 'termination_delay.default'],
      [4, 33, 'termination_delay.eval'],
      [9, 7, 'name'],
    ]);
  });
});

test('a task named __proto__ keeps its own delay (names may be any of [A-Za-z0-9_-])', () => {
  const file = parseTaskYaml('name: g\nexecution: parallel\ntermination_delay: {__proto__: 5m}\n---\nname: __proto__\nrun: a\n', FILE);
  expect(Object.entries(file.jobGroup!.terminationDelaySeconds.perTask)).toEqual([['__proto__', 300]]);
});
