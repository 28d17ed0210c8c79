// Batches of managed jobs from one `petrel jobs launch -d` (--count N, --sweep KEY=V1,V2,...)
// against a real Temporal dev server and worker on the local provider: each job is a job of
// its own in `jobs queue`, its run sees PETREL_JOB_INDEX and its swept envs, and bad input is
// refused with a message naming the flag before anything is submitted.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { THREE_REGIONS, writeConfig } from '../support/jobs.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;
let dir: string;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  dir = fs.mkdtempSync(path.join(p.home, 'batch-'));
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
});

interface Row {
  id: number;
  name: string | null;
  status: string;
}

interface Submitted {
  id: number;
  name: string | null;
  index: number | null;
  envs: Record<string, string>;
}

const queue = () => p.json<Row[]>(['jobs', 'queue']);

/** Waits until every job of `ids` has ended, as `jobs queue` shows it, and returns their rows. */
async function ended(ids: number[], timeoutMs = 180_000): Promise<Row[]> {
  return waitFor(
    `jobs ${ids.join(', ')} to end`,
    async () => {
      const rows = (await queue()).filter((r) => ids.includes(r.id));
      return rows.length === ids.length && rows.every((r) => !['PENDING', 'STARTING', 'RUNNING', 'RECOVERING', 'CANCELLING'].includes(r.status)) ? rows : undefined;
    },
    timeoutMs,
    1000,
  );
}

const logsOf = async (id: number) => (await p.ok(['jobs', 'logs', String(id)])).stdout;

function yaml(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('jobs launch -d --count', () => {
  it('--count 3 submits 3 jobs with distinct ids, names NAME-<index>, and each run sees its PETREL_JOB_INDEX', async () => {
    const r = await p.ok(['jobs', 'launch', '-d', '-y', '--count', '3', '-n', 'trio', 'echo "index=$PETREL_JOB_INDEX"']);
    const ids = r.stdout.trim().split('\n').map(Number);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(r.stderr).toMatch(/^3 managed jobs 'trio-0' … 'trio-2': /m);
    expect(r.stderr).toMatch(new RegExp(`^Submitted 3 managed jobs \\(ids ${Math.min(...ids)}-${Math.max(...ids)}\\) in [\\d.]+ s \\(\\d+ jobs/s\\)`, 'm'));

    const rows = await ended(ids);
    expect(rows.map((row) => row.name).sort()).toEqual(['trio-0', 'trio-1', 'trio-2']);
    expect(rows.every((row) => row.status === 'SUCCEEDED')).toBe(true);
    for (const row of rows) expect(await logsOf(row.id)).toContain(`index=${row.name!.slice('trio-'.length)}`);
  });

  it('--sweep × --sweep × --count: every combination, each as often as --count says, over the YAML envs of the same name', async () => {
    const file = yaml('sweep.yaml', 'name: sw\nenvs:\n  LR: "1.0"\n  BS: null\n  KEEP: kept\nrun: echo "lr=$LR bs=$BS keep=$KEEP index=$PETREL_JOB_INDEX"\n');
    const r = await p.ok(['jobs', 'launch', '-d', '-y', '--json', '--sweep', 'LR=0.1,0.01', '--sweep', 'BS=8,16,32', '--count', '2', file]);
    const jobs = JSON.parse(r.stdout) as Submitted[];
    expect(jobs).toHaveLength(12);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(12);
    expect(jobs.map((j) => j.index)).toEqual([...Array(12).keys()]);
    expect(jobs.map((j) => j.name)).toEqual([...Array(12).keys()].map((i) => `sw-${i}`));
    // Cartesian product, first --sweep slowest, the two repetitions of a combination side by side.
    const combos = jobs.map((j) => `${j.envs.LR}/${j.envs.BS}`);
    expect(combos).toEqual(['0.1/8', '0.1/8', '0.1/16', '0.1/16', '0.1/32', '0.1/32', '0.01/8', '0.01/8', '0.01/16', '0.01/16', '0.01/32', '0.01/32']);
    expect(r.stderr).toContain('12 managed jobs \'sw-0\' … \'sw-11\' (6 combinations of LR × BS, 2 of each)');

    const rows = await ended(jobs.map((j) => j.id));
    expect(rows.every((row) => row.status === 'SUCCEEDED')).toBe(true);
    expect(rows.map((row) => row.name).sort()).toEqual(jobs.map((j) => j.name).sort());
    for (const j of jobs) expect(await logsOf(j.id)).toContain(`lr=${j.envs.LR} bs=${j.envs.BS} keep=kept index=${j.index}`);
  });

  it('a single job with -d --json is printed in the same shape, without an index', async () => {
    const r = await p.ok(['jobs', 'launch', '-d', '-y', '--json', '-n', 'solo', 'echo "index=[$PETREL_JOB_INDEX]"']);
    const [job, ...more] = JSON.parse(r.stdout) as Submitted[];
    expect(more).toEqual([]);
    expect(job).toMatchObject({ name: 'solo', index: null, envs: {} });
    await ended([job!.id]);
    expect(await logsOf(job!.id)).toContain('index=[]');
  });

  it('a swept value used in file_mounts gives each job its own file', async () => {
    for (const split of ['train', 'eval']) fs.writeFileSync(path.join(dir, `${split}.txt`), `rows of ${split}\n`);
    const file = yaml('mounts.yaml', `envs:\n  SPLIT: null\nfile_mounts:\n  ~/split.txt: ${dir}/\${SPLIT}.txt\nrun: echo "split=$SPLIT"; cat ~/split.txt\n`);
    const r = await p.ok(['jobs', 'launch', '-d', '-y', '--json', '--sweep', 'SPLIT=train,eval', file]);
    const jobs = JSON.parse(r.stdout) as Submitted[];
    expect(jobs.map((j) => [j.envs.SPLIT, j.index, j.name])).toEqual([
      ['train', 0, null],
      ['eval', 1, null],
    ]);
    await ended(jobs.map((j) => j.id));
    for (const j of jobs) expect(await logsOf(j.id)).toContain(`split=${j.envs.SPLIT}\nrows of ${j.envs.SPLIT}`);
  });
});

describe('bad batch input is refused before anything is submitted', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['--count 0', ['-d', '--count', '0'], /^petrel: --count: '0' is not a positive whole number$/m],
    ['--count that is not a number', ['-d', '--count', 'lots'], /^petrel: --count: 'lots' is not a positive whole number$/m],
    ['--count too large', ['-d', '--count', '1000000'], /^petrel: --count: 1000000 is more jobs than one batch submits \(at most 100,000\)$/m],
    ['--sweep without =', ['-d', '--sweep', 'LR'], /^petrel: --sweep 'LR': expected KEY=V1,V2,\.\.\. /m],
    ['--sweep with a bad env name', ['-d', '--sweep', '1LR=1,2'], /^petrel: --sweep 1LR=1,2: '1LR' is not a valid variable name/m],
    ['--sweep with an empty value', ['-d', '--sweep', 'LR=1,,2'], /^petrel: --sweep LR=1,,2: an empty value; /m],
    ['--sweep with no value', ['-d', '--sweep', 'LR='], /^petrel: --sweep LR=: no value; /m],
    ['--sweep of one key twice', ['-d', '--sweep', 'LR=1', '--sweep', 'LR=2'], /^petrel: --sweep LR: given twice; /m],
    ['--sweep of PETREL_JOB_INDEX', ['-d', '--sweep', 'PETREL_JOB_INDEX=1,2'], /^petrel: --sweep PETREL_JOB_INDEX: Petrel sets PETREL_JOB_INDEX itself/m],
    ['--sweep and --env of one key', ['-d', '--sweep', 'LR=1,2', '--env', 'LR=3'], /^petrel: --sweep LR: also given with --env LR; /m],
    ['a product over the limit', ['-d', '--count', '1000', '--sweep', 'A=1,2,3,4,5,6,7,8,9,10', '--sweep', 'B=1,2,3,4,5,6,7,8,9,10,11'], /^petrel: --count and --sweep: 110 combinations × 1000 = 110,000 jobs, more than one batch submits/m],
    ['--count without -d', ['--count', '3'], /^petrel: --count: a batch of jobs is always detached; add -d/m],
    ['an unknown flag', ['-d', '--count', '3', '--bogus'], /^petrel: unknown option '--bogus'$/m],
    ['--json without -d', ['--json'], /^petrel: --json prints the ids of submitted jobs; it needs -d /m],
  ];

  // Nothing in this block submits anything: every case must leave the queue as it was before the first.
  let before: number;
  beforeAll(async () => {
    before = (await queue()).length;
  });

  it.each(cases)('%s', async (_what, args, message) => {
    const r = await p.run(['jobs', 'launch', '-y', ...args, 'echo never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    expect(await queue()).toHaveLength(before);
  });

  it('one combination that cannot launch (a mount of a file that is missing) stops the whole batch, naming the combination', async () => {
    fs.writeFileSync(path.join(dir, 'present.txt'), 'here\n');
    const file = yaml('missing.yaml', `envs:\n  PART: null\nfile_mounts:\n  ~/part.txt: ${dir}/\${PART}.txt\nrun: cat ~/part.txt\n`);
    const r = await p.run(['jobs', 'launch', '-d', '-y', '--sweep', 'PART=present,absent', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`petrel: with --sweep PART=absent: ${file}: file_mounts.~/part.txt: local path '${dir}/absent.txt' does not exist`);
    expect(r.stdout).toBe('');
    expect(await queue()).toHaveLength(before);
  });

  it('a YAML placeholder the sweep fills is enough; one it leaves empty is refused', async () => {
    const file = yaml('placeholders.yaml', 'envs:\n  LR: null\n  SEED: null\nrun: echo $LR $SEED\n');
    const r = await p.run(['jobs', 'launch', '-d', '-y', '--sweep', 'LR=0.1,0.2', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('envs.SEED: no value; pass --env SEED=VALUE');
    expect(r.stderr).not.toContain('envs.LR');
    expect(await queue()).toHaveLength(before);
  });
});
