// Built-in checkpoints against a real Temporal dev server and worker on the local provider
// (snapshots kept in the worker's home): a "training" run that counts to 60 and is preempted
// twice loses at most an interval each time; a writer that rewrites a large file in place is
// only ever restored to a state it marked complete; `keep` prunes; the worker SIGKILLed during
// a snapshot upload and during a restore; cancel keeps the last state for `jobs checkpoints`.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import { withClient } from '../support/client.js';
import { catchJob, clusterDirs, describeJob, running, THREE_REGIONS, waitForJob, writeConfig } from '../support/jobs.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

beforeEach(() => writeConfig(p, THREE_REGIONS));

afterAll(async () => {
  await p?.destroy();
});

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

function task(dir: string, doc: Record<string, unknown>): string {
  const file = path.join(dir, 'task.yaml');
  fs.writeFileSync(file, stringify(doc));
  return file;
}

async function submit(file: string): Promise<number> {
  return Number((await p.ok(['jobs', 'launch', '-d', '-y', file])).stdout.trim());
}

const storeDir = () => path.join(p.home, 'checkpoints', 'store');

/** Counts to TOTAL, one step per 0.1 s, saving the step every SAVE_EVERY steps (write, rename, then the marker). */
function trainingRun(dir: string, total: number, saveEvery: number): string {
  return [
    'step=0',
    '[ -f "$PETREL_CHECKPOINT_DIR/step" ] && step=$(cat "$PETREL_CHECKPOINT_DIR/step")',
    `echo "start $step \${PETREL_RESTORED_FROM:-fresh}" >> ${dir}/starts`,
    `while [ $step -lt ${total} ]; do`,
    '  step=$((step+1))',
    `  echo $step >> ${dir}/executed`,
    '  sleep 0.1',
    `  if [ $((step % ${saveEvery})) -eq 0 ]; then`,
    '    echo $step > "$PETREL_CHECKPOINT_DIR/step.tmp" && mv "$PETREL_CHECKPOINT_DIR/step.tmp" "$PETREL_CHECKPOINT_DIR/step"',
    '    echo $step > "$PETREL_CHECKPOINT_MARKER"',
    '  fi',
    'done',
    'echo "trained to $step"',
  ].join('\n');
}

const lastStep = (dir: string) => Number(lines(path.join(dir, 'executed')).at(-1) ?? 0);

describe('checkpoints on local nodes, kept by the worker', () => {
  it('a run counting to 60, preempted twice, resumes from its snapshots and executes at most 60 + 2 intervals of steps', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'train-'));
    // 1 s interval = about 10 steps; saves every 5 steps.
    const id = await submit(task(dir, { name: 'counter', checkpoint: { path: '~/ckpt', interval: '1s', keep: 3 }, run: trainingRun(dir, 60, 5) }));
    for (const [n, atLeast] of [
      [1, 18],
      [2, 38],
    ] as const) {
      await waitFor(`step ${atLeast} of attempt ${n}`, () => (lastStep(dir) >= atLeast ? true : undefined), 60_000, 50);
      await p.ok(['debug', 'preempt', '--job', String(id)]);
      await waitForJob(p, id, (v) => running(v) && v.attempts.length === n + 1, `attempt ${n + 1} running`);
    }
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 90_000);
    expect(v.recoveries).toBe(2);
    const executed = lines(path.join(dir, 'executed')).map(Number);
    expect(executed.at(-1)).toBe(60);
    // Each preemption costs at most one interval (10 steps) plus the time the snapshot in flight
    // takes (the last one on the way out usually leaves ~3 steps; under a loaded 2-core machine
    // it may miss, and the interval snapshot before it took up to ~1 s = 10 steps).
    const interval = 10;
    const snapshotTime = 10;
    expect(executed.length).toBeLessThanOrEqual(60 + 2 * (interval + snapshotTime));
    // Each new attempt started from a snapshot of the one before, and was told which.
    const starts = lines(path.join(dir, 'starts'));
    expect(starts).toHaveLength(3);
    expect(starts[0]).toBe('start 0 fresh');
    for (const [i, s] of starts.slice(1).entries()) {
      expect(s).toMatch(new RegExp(`^start (\\d+) snapshot \\d+ of attempt ${i + 1}, taken \\S+, marker \\1$`));
      expect(Number(s.split(' ')[1])).toBeGreaterThan(0);
    }
    expect(v.attempts[1]!.restoredFrom!.attempt).toBe(1);
    expect(v.attempts[2]!.restoredFrom!.attempt).toBe(2);
    // keep: 3 — the view and the store hold the newest three complete snapshots, and no object
    // that none of them refers to.
    const c = v.checkpoint!;
    expect(c.snapshots.length).toBeLessThanOrEqual(3);
    expect(c.snapshots.at(-1)!.marker).toBe('60');
    const jobDir = fs.readdirSync(storeDir()).find((d) => d.endsWith(`_counter_${id}-0`))!;
    const manifests = fs.readdirSync(path.join(storeDir(), jobDir, 'snapshots'));
    expect(manifests.map((m) => Number(m.replace('.json', '')))).toEqual(c.snapshots.map((s) => s.seq));
    const referenced = new Set(
      manifests.flatMap((m) => (JSON.parse(fs.readFileSync(path.join(storeDir(), jobDir, 'snapshots', m), 'utf8')) as { files: Array<{ sha256: string }> }).files.map((f) => f.sha256)),
    );
    expect(new Set(fs.readdirSync(path.join(storeDir(), jobDir, 'objects')))).toEqual(referenced);

    const listed = await p.ok(['jobs', 'checkpoints', String(id)]);
    expect(listed.stdout).toMatch(/SNAPSHOT\s+ATTEMPT\s+TAKEN/);
    expect(listed.stdout).toContain(' 60');
    const out = path.join(dir, 'download');
    const got = await p.ok(['jobs', 'checkpoints', String(id), '--download', out]);
    expect(got.stdout).toMatch(/^Snapshot \d+ \(attempt 3, .*marker 60\): 2 file\(s\)/);
    expect(fs.readFileSync(path.join(out, 'step'), 'utf8').trim()).toBe('60');
    expect(fs.readFileSync(path.join(out, '.petrel-complete'), 'utf8').trim()).toBe('60');
    expect(clusterDirs(p)).toEqual([]);
  });

  it('a writer rewriting a large file in place is only ever restored to a state it marked complete', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'torn-'));
    // Version v: 4,000 lines "v" written one by one into the same file, then the marker says v.
    const run = [
      'f="$PETREL_CHECKPOINT_DIR/big"; v=0',
      'if [ -f "$PETREL_CHECKPOINT_MARKER" ]; then',
      '  v=$(cat "$PETREL_CHECKPOINT_MARKER")',
      `  if [ "$(sort -u "$f")" = "$v" ] && [ "$(wc -l < "$f")" = 4000 ]; then echo "restored $v whole" >> ${dir}/restores; else echo "restored $v TORN" >> ${dir}/restores; fi`,
      'fi',
      'while [ $v -lt 12 ]; do',
      '  v=$((v+1)); : > "$f"',
      '  for i in $(seq 1 4000); do echo $v >> "$f"; done',
      '  echo $v > "$PETREL_CHECKPOINT_MARKER"',
      `  echo $v >> ${dir}/versions`,
      // the training between two saves, while the saved state stands still
      '  sleep 1',
      'done',
    ].join('\n');
    const id = await submit(task(dir, { name: 'torn', checkpoint: { interval: '1s', keep: 2 }, run }));
    for (const version of [3, 7]) {
      await waitFor(`version ${version}`, () => (lines(path.join(dir, 'versions')).length >= version ? true : undefined), 90_000, 50);
      await p.ok(['debug', 'preempt', '--job', String(id)]);
      await waitForJob(p, id, (v) => running(v) && v.attempts.at(-1)!.restoredFrom !== undefined && v.attempts.at(-1)!.attempt > 1 && v.attempts.at(-2)!.outcome === 'preempted', 'restored attempt running');
    }
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 120_000);
    expect(v.recoveries).toBe(2);
    const restores = lines(path.join(dir, 'restores'));
    expect(restores).toHaveLength(2);
    for (const r of restores) expect(r).toMatch(/^restored \d+ whole$/);
    // Snapshots taken while the file was being rewritten were refused, not stored torn.
    const out = path.join(dir, 'download');
    await p.ok(['jobs', 'checkpoints', String(id), '--download', out]);
    expect(fs.readFileSync(path.join(out, 'big'), 'utf8')).toBe('12\n'.repeat(4000));
  });

  it('the worker SIGKILLed during a snapshot upload and during a restore: the job still resumes from a complete snapshot', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'kill-'));
    // 300 MiB of checkpoint (so its copy takes a while), rewritten with a new first line each save.
    const run = [
      'cd "$PETREL_CHECKPOINT_DIR"; n=0',
      '[ -f state ] && n=$(head -c 20 state | head -1)',
      `echo "start $n" >> ${dir}/starts`,
      'while [ $n -lt 1000 ]; do',
      '  n=$((n+1))',
      '  { echo $n; head -c 300M /dev/zero; } > state.tmp && mv state.tmp state && echo $n > "$PETREL_CHECKPOINT_MARKER"',
      `  echo $n >> ${dir}/saved`,
      `  while [ ! -f ${dir}/go-$n ] && [ ! -f ${dir}/go ]; do sleep 0.2; done`,
      'done',
    ].join('\n');
    const id = await submit(task(dir, { name: 'heavy', checkpoint: { interval: '2s', keep: 2 }, run }));
    const pendingActivity = (type: string) =>
      withClient(p, (client) =>
        waitFor(
          `a ${type} activity running`,
          async () => ((await client.workflow.getHandle(`job/${id}`).describe()).raw.pendingActivities ?? []).some((a) => a.activityType?.name === type) || undefined,
          90_000,
          50,
        ),
      );
    const killWorker = async () => {
      const worker = p.pidOf('worker')!;
      process.kill(worker, 'SIGKILL');
      await waitFor('the worker to die', () => !alive(worker) || undefined);
      await p.ok(['server', 'start']);
    };
    // The first state is saved; snapshot 1 is taken; then save 2 and kill the worker while its snapshot uploads.
    await waitFor('state 1 saved', () => (lines(path.join(dir, 'saved')).length >= 1 ? true : undefined), 60_000);
    await waitForJob(p, id, (v) => (v.checkpoint?.snapshots.length ?? 0) >= 1, 'a first snapshot', 90_000);
    fs.writeFileSync(path.join(dir, 'go-1'), '');
    await waitFor('state 2 saved', () => (lines(path.join(dir, 'saved')).length >= 2 ? true : undefined), 60_000);
    await pendingActivity('snapshotCheckpoint');
    await killWorker();
    // Preempted; the next attempt's restore is interrupted by another SIGKILL.
    await waitForJob(p, id, running, 'running again after the worker came back', 90_000);
    await p.ok(['debug', 'preempt', '--job', String(id)]);
    await pendingActivity('restoreCheckpoint');
    await killWorker();
    const v = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'attempt 2 running', 120_000);
    const starts = lines(path.join(dir, 'starts'));
    expect(starts[0]).toBe('start 0');
    expect(['start 1', 'start 2']).toContain(starts.at(-1));
    expect(v.attempts[1]!.restoredFrom!.marker).toBe(starts.at(-1)!.split(' ')[1]);
    await p.ok(['jobs', 'cancel', '-y', String(id)]);
    // Nothing half-written is left as a snapshot: every manifest in the store names objects that exist.
    const jobDir = fs.readdirSync(storeDir()).find((d) => d.endsWith(`_heavy_${id}-0`))!;
    for (const m of fs.readdirSync(path.join(storeDir(), jobDir, 'snapshots'))) {
      const manifest = JSON.parse(fs.readFileSync(path.join(storeDir(), jobDir, 'snapshots', m), 'utf8')) as { files: Array<{ sha256: string; size: number }> };
      for (const f of manifest.files) expect(fs.statSync(path.join(storeDir(), jobDir, 'objects', f.sha256)).size).toBe(f.size);
    }
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`))).toEqual([]);
  }, 300_000);

  it('cancel stops the snapshots after a last one, which jobs checkpoints still serves', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'cancel-'));
    // Saves every 0.2 s (write, rename, marker) and, on SIGTERM, marks what it has as complete.
    const run = [
      'cd "$PETREL_CHECKPOINT_DIR"; n=0',
      `trap 'echo $n > "$PETREL_CHECKPOINT_MARKER"; echo term >> ${dir}/signals; exit 0' TERM`,
      'while true; do n=$((n+1)); echo $n > n.tmp; mv n.tmp n; echo $n > "$PETREL_CHECKPOINT_MARKER"; sleep 0.2 & wait $!; done',
    ].join('\n');
    const id = await submit(task(dir, { name: 'stopped', checkpoint: { interval: '30s' }, run }));
    await catchJob(p, id, running, 'running');
    await new Promise((r) => setTimeout(r, 1500));
    await p.ok(['jobs', 'cancel', '-y', String(id)]);
    const v: ManagedJobView = await describeJob(p, id);
    expect(v.status).toBe('CANCELLED');
    expect(v.checkpoint!.lastSkipped?.why ?? 'none skipped').toBe('none skipped');
    expect(lines(path.join(dir, 'signals'))).toEqual(['term']);
    // The 30 s interval never came: the one snapshot is the last one, taken on the way out.
    expect(v.checkpoint!.snapshots).toHaveLength(1);
    expect(v.checkpoint!.snapshots[0]!.reason).toBe('final');
    expect(Number(v.checkpoint!.snapshots[0]!.marker)).toBeGreaterThan(3);
    const out = path.join(dir, 'download');
    await p.ok(['jobs', 'checkpoints', String(id), '--download', out]);
    expect(fs.readFileSync(path.join(out, 'n'), 'utf8').trim()).toBe(v.checkpoint!.snapshots[0]!.marker);
  });

  it('a store that refuses ends the job FAILED_PRECHECKS with what it said; bad checkpoint fields are refused with file, line and field', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'bad-'));
    const id = await submit(task(dir, { name: 'nostore', checkpoint: { store: 's3://petrel-no-such-bucket/x' }, run: 'echo never' }));
    const v = await waitForJob(p, id, (x) => x.status === 'FAILED_PRECHECKS', 'prechecks failed', 90_000);
    expect(v.message).toMatch(/^checkpoint store: /);
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`))).toEqual([]);
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'run: echo hi\ncheckpoint:\n  path: /abs\n  interval: often\n  keep: 0\n');
    const r = await p.run(['jobs', 'launch', '-y', '-d', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:3:9: checkpoint.path:`);
    expect(r.stderr).toContain(`${file}:4:13: checkpoint.interval:`);
    expect(r.stderr).toContain(`${file}:5:9: checkpoint.keep:`);
    const plain = Number((await p.ok(['jobs', 'launch', '-d', '-y', 'true'])).stdout.trim());
    const none = await p.run(['jobs', 'checkpoints', String(plain)]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('declares no checkpoint');
  });
});
