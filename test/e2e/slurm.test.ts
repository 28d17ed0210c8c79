// Clusters and managed jobs on real Slurm daemons (test/support/slurm.ts: nodes n1-n3 with 2
// fake T4 GPUs each; partitions low (default) and high, which preempts low), driven through the
// real CLI, Temporal dev server and worker, with the Slurm commands run on this machine
// (`login: local`). The login user's home is a scratch dir shared by every node, as on a site.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeJob, gatedJob, running, submitJob, waitForJob } from '../support/jobs.js';
import { alive, PetrelEnv, processesWith, waitFor } from '../support/petrel.js';
import { FORCED_REQUEUE_ACCOUNT, startSlurm, type SlurmCluster } from '../support/slurm.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';

let slurm: SlurmCluster;
let p: PetrelEnv;
let userHome: string;

const CONFIG = `jobs:
  unreachable_grace_seconds: 5
slurm:
  test:
    login: local
    partitions: [low, high]
    provision_timeout_seconds: 4
  open:
    login: local
  badacct:
    login: local
    account: nope
  forced:
    login: local
    account: ${FORCED_REQUEUE_ACCOUNT}
`;

beforeAll(async () => {
  slurm = await startSlurm({ nodes: 3, gpusPerNode: 2, accounts: ['default', FORCED_REQUEUE_ACCOUNT] });
  userHome = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-slurm-home-'));
  // The worker (started by the CLI) inherits these: Slurm's config and the login user's home.
  process.env.HOME = userHome;
  process.env.SLURM_CONF = slurm.conf;
  process.env.PETREL_SLURM_CONFIG = path.join(userHome, 'no-slurm-ssh-config');
  p = await PetrelEnv.create();
  fs.writeFileSync(path.join(p.home, 'config.yaml'), CONFIG);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
  await slurm?.stop();
  if (userHome) fs.rmSync(userHome, { recursive: true, force: true });
});

/** The queue's allocations: `id|name|state|partition|nodes`. */
async function squeue(): Promise<string[]> {
  const r = await slurm.sh(`squeue -h -o '%i|%j|%T|%P|%N'`);
  return r.stdout.split('\n').filter(Boolean);
}
const petrelAllocations = async () => (await squeue()).filter((l) => l.split('|')[1]!.startsWith('petrel-'));

/** Teardown (also --down's) ends after the command: no allocation of Petrel's and no cluster dir left. */
async function nothingLeft(): Promise<void> {
  await waitFor('no allocation of Petrel\'s queued', async () => ((await petrelAllocations()).length === 0 ? true : undefined), 60_000, 200);
  const clusters = path.join(userHome, '.petrel/clusters');
  await waitFor('no cluster dir left', () => (!fs.existsSync(clusters) || fs.readdirSync(clusters).length === 0 ? true : undefined), 30_000, 200);
}

/** A dir in the shared home for a gated job's files. */
function gateDir(): string {
  return fs.mkdtempSync(path.join(userHome, 'gate-'));
}

/** A gated job that also records each copy's pid in `dir/pids`, to tell which copy still runs. */
function pidGatedJob(dir: string): string {
  return `echo start >> ${dir}/starts; echo $$ >> ${dir}/pids; while [ ! -f ${dir}/go ]; do sleep 0.2; done; echo finished`;
}

/** Submits a managed job on `infra` and waits until its run has written `dir/<startedFile>`: its id, view, and its first node's data. */
async function startJob(infra: string, dir: string, script = gatedJob(dir), startedFile = 'starts') {
  const id = await submitJob(p, ['--infra', infra, script]);
  const v = await waitForJob(p, id, running, 'running');
  await waitFor('the job to start', () => (fs.existsSync(path.join(dir, startedFile)) ? true : undefined));
  return { id, v, first: v.attempts[0]!.handle!.nodes[0]!.data };
}

/** Submits a batch job filling `nodes` of `partition` exclusively; resolves once it runs. */
async function hog(partition: string, nodes: string): Promise<string> {
  const r = await slurm.sh(`sbatch --parsable -p ${partition} -w ${nodes} -N ${nodes.split(',').length} --exclusive --wrap 'sleep 600'`);
  expect(r.code, r.stderr).toBe(0);
  const id = r.stdout.trim();
  await waitFor(`hog ${id} to run`, async () => (await squeue()).some((l) => l.startsWith(`${id}|`) && l.includes('|RUNNING|')) || undefined, 30_000, 200);
  return id;
}

describe('clusters on Slurm', () => {
  it('check lists the clusters, their partitions and free nodes and GPUs', async () => {
    const r = await p.ok(['check', 'slurm']);
    expect(r.stdout).toContain('cluster test: partitions low (default): 3/3 nodes free, GPUs T4 6/6 free; high: 3/3 nodes free, GPUs T4 6/6 free');
  });

  it('show-gpus lists the GPUs of each partition', async () => {
    const r = await p.ok(['show-gpus', 'T4', '--infra', 'slurm/test']);
    expect(r.stdout).toMatch(/slurm\/test\/low\s+T4\s+6\s+6\s+3\s+2/);
    expect(r.stdout).toMatch(/slurm\/test\/high\s+T4\s+6\s+6\s+3\s+2/);
    expect(r.stdout).not.toContain('slurm/open');
  });

  it('a 2-node launch: one allocation, the workdir on every node, ranks and node names; --down cancels it', async () => {
    const r = await p.run(['launch', 'examples/multinode.yaml', '--infra', 'slurm/test', '-c', 'two', '-y', '--down']);
    expect(r.stderr).not.toContain('Error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(node 0) rank 0 of 2, head at n1');
    expect(r.stdout).toContain('(node 1) rank 1 of 2, head at n1');
    expect(r.stdout.match(/workdir synced to every node/g)).toHaveLength(2);
    await nothingLeft();
  });

  it('a failing run gives FAILED and its exit code', async () => {
    const r = await p.run(['launch', '--infra', 'slurm/test', '-c', 'fails', '-y', '--down', 'echo about to fail on $SLURMD_NODENAME; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/about to fail on n\d/);
    expect(r.stderr).toContain('Job 1 FAILED');
    await nothingLeft();
  });

  it('status shows the partition and Slurm job; exec, logs --follow, cancel stops the step; down cancels the allocation', async () => {
    await p.ok(['launch', '--infra', 'slurm/test/high', '-c', 'one', '-y', '--gpus', 'T4:1', 'echo "env: $PETREL_NUM_NODES $SKYPILOT_NODE_IPS $PETREL_NUM_GPUS_PER_NODE gpus=$CUDA_VISIBLE_DEVICES"']);
    const [alloc] = await petrelAllocations();
    expect(alloc).toMatch(/^\d+\|petrel-one\|RUNNING\|high\|n\d$/);
    const [jobId, , , , node] = alloc!.split('|');
    const status = await p.ok(['status']);
    expect(status.stdout).toMatch(new RegExp(`one\\s+slurm/test/high \\(Slurm job ${jobId}\\)`));

    expect((await p.ok(['logs', 'one', '1'])).stdout).toBe(`env: 1 ${node} 1 gpus=0\n`);
    const exec = await p.ok(['exec', 'one', 'echo second on $SLURMD_NODENAME in Slurm job $SLURM_JOB_ID']);
    expect(exec.stdout).toContain(`second on ${node} in Slurm job ${jobId}`);

    await p.ok(['exec', 'one', '-d', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']);
    expect((await p.ok(['logs', 'one', '3', '--follow'])).stdout).toBe('tick 1\ntick 2\ntick 3\n');

    await p.ok(['exec', 'one', '-d', 'sleep 313 & sleep 314; wait']);
    await waitFor('the job to start', () => (processesWith('sleep 314').length > 0 ? true : undefined));
    expect((await p.ok(['cancel', 'one', '4'])).stdout).toContain('Job 4: CANCELLED');
    await waitFor('the step to be gone', () => (processesWith('sleep 31').length === 0 ? true : undefined), 30_000);
    // through Slurm: the cancelled job's step has ended, the allocation holds no step of it
    await waitFor('no step left', async () => {
      const steps = await slurm.sh(`squeue -h -s -j ${jobId} -o '%i'`);
      return steps.stdout.split('\n').some((l) => /^\d+\.\d+$/.test(l.trim())) ? undefined : true;
    }, 30_000, 200);
    const [queue] = await p.json<Array<{ jobs: Array<{ id: number; status: string }> }>>(['queue', 'one']);
    expect(queue!.jobs.find((j) => j.id === 4)).toMatchObject({ status: 'CANCELLED' });

    await p.ok(['down', 'one', '-y']);
    await nothingLeft();
  });

  it('a bad partition or account fails before anything runs, in Slurm\'s own words', async () => {
    let r = await p.run(['launch', '--infra', 'slurm/open/nope', '-c', 'badpart', '-y', 'echo never']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('invalid partition specified: nope');
    expect(r.stdout).not.toContain('never');
    r = await p.run(['launch', '--infra', 'slurm/badacct', '-c', 'badacct', '-y', 'echo never']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Invalid account or account/partition combination specified');
    await nothingLeft();
  });
});

describe('managed jobs on Slurm', () => {
  it('a 2-node job: ranks, SUCCEEDED, the Slurm job in describe, nothing left queued', async () => {
    const r = await p.run(['jobs', 'launch', '-y', '--infra', 'slurm/test', '--num-nodes', '2', 'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES on $SLURMD_NODENAME"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rank 0 of 2 on n\d/);
    expect(r.stdout).toMatch(/rank 1 of 2 on n\d/);
    const id = Number(/Managed job (\d+)/.exec(r.stdout + r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v.status).toBe('SUCCEEDED');
    expect(v.attempts[0]!.nodeIds).toEqual([expect.stringMatching(/^\d+\/n\d$/), expect.stringMatching(/^\d+\/n\d$/)]);
    const text = await p.ok(['jobs', 'describe', String(id)]);
    expect(text.stdout).toContain(`slurm/test/low (Slurm job ${v.attempts[0]!.nodeIds[0]!.split('/')[0]})`);
    expect(text.stdout).toContain(v.attempts[0]!.nodeIds.join(','));
    await nothingLeft();
  });

  it('a node going DOWN mid-run is a preemption: the job recovers on other nodes and finishes', async () => {
    const dir = gateDir();
    const { id, first } = await startJob('slurm/test', dir);
    const node = first.node!;
    await slurm.nodeDown(node, 'petrel e2e');
    try {
      const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
      expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('a node of the allocation failed') });
      expect(v2.attempts[1]!.handle!.nodes[0]!.data.node).not.toBe(node);
      await waitFor('the second start', () => (fs.readFileSync(path.join(dir, 'starts'), 'utf8') === 'start\nstart\n' ? true : undefined));
      fs.writeFileSync(path.join(dir, 'go'), '');
      const done = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
      expect(done.recoveries).toBe(1);
    } finally {
      await slurm.nodeResume(node);
    }
    await nothingLeft();
    await slurm.waitIdle(30_000);
  });

  it('preempted by a high-priority job: recovered elsewhere, and never two copies running', async () => {
    const dir = gateDir();
    const { id, first: firstNode } = await startJob('slurm/test/low', dir, pidGatedJob(dir));
    const node = firstNode.node!;
    const hogId = await hog('high', node);
    try {
      const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
      expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('preempted') });
      expect(v2.attempts[1]!.handle!.nodes[0]!.data.node).not.toBe(node);
      // the first allocation is gone for good: Slurm did not requeue it
      const first = firstNode.slurm_job_id!;
      const queued = await petrelAllocations();
      expect(queued.filter((l) => l.startsWith(`${first}|`))).toEqual([]);
      expect(queued).toHaveLength(1);
      await waitFor('the second start', () => (fs.readFileSync(path.join(dir, 'starts'), 'utf8') === 'start\nstart\n' ? true : undefined));
      // the first copy is dead (its allocation was not requeued and nothing of it runs on), the second lives
      const pids = fs.readFileSync(path.join(dir, 'pids'), 'utf8').trim().split('\n').map(Number);
      expect(pids.map(alive)).toEqual([false, true]);
      fs.writeFileSync(path.join(dir, 'go'), '');
      await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    } finally {
      await slurm.sh(`scancel ${hogId}`);
    }
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toBe('start\nstart\n');
    await nothingLeft();
  });

  it('an admin\'s scancel of the allocation is a loss too: the job recovers', async () => {
    const dir = gateDir();
    const { id, first } = await startJob('slurm/test/low', dir);
    await slurm.sh(`scancel ${first.slurm_job_id}`);
    const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
    expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('cancelled (scancel)') });
    fs.writeFileSync(path.join(dir, 'go'), '');
    expect((await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000)).recoveries).toBe(1);
    await nothingLeft();
  });

  it('a site that forces requeue: the requeued allocation is cancelled, never run a second time', async () => {
    const dir = gateDir();
    const { id, first } = await startJob('slurm/forced', dir, pidGatedJob(dir), 'pids');
    expect((await slurm.sh(`scontrol show job ${first.slurm_job_id}`)).stdout).toContain('Requeue=1');
    await slurm.nodeDown(first.node!, 'petrel e2e requeue');
    try {
      const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
      expect(v2.attempts[0]!.outcome).toBe('preempted');
      // Slurm requeued the first allocation; the lost attempt's teardown cancelled it
      await waitFor('the requeued allocation cancelled', async () => {
        const r = await slurm.sh(`squeue -h -t all -j ${first.slurm_job_id} -o '%T'`);
        return r.stdout.trim() === 'CANCELLED' ? true : undefined;
      }, 60_000, 200);
      await waitFor('the second start', () => (fs.readFileSync(path.join(dir, 'starts'), 'utf8') === 'start\nstart\n' ? true : undefined));
      const pids = fs.readFileSync(path.join(dir, 'pids'), 'utf8').trim().split('\n').map(Number);
      expect(pids.map(alive)).toEqual([false, true]);
      fs.writeFileSync(path.join(dir, 'go'), '');
      await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    } finally {
      await slurm.nodeResume(first.node!);
    }
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toBe('start\nstart\n');
    await nothingLeft();
    await slurm.waitIdle(30_000);
  });

  it('a full partition is a capacity error after provision_timeout_seconds: the job fails over to the next partition', async () => {
    const hogId = await hog('low', slurm.nodes.join(','));
    try {
      const r = await p.run(['jobs', 'launch', '-y', '--infra', 'slurm/test', 'echo ran on $SLURM_JOB_PARTITION'], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('ran on high');
      const id = Number(/Managed job (\d+)/.exec(r.stdout + r.stderr)![1]);
      const v = await describeJob(p, id);
      expect(v.attempts.map((a) => [a.zone, a.outcome])).toEqual([
        ['low', 'no_capacity'],
        ['high', 'succeeded'],
      ]);
      expect(v.attempts[0]!.reason).toMatch(/still PENDING after \d+ s/);
    } finally {
      await slurm.sh(`scancel ${hogId}`);
    }
    await nothingLeft();
  });

  it('a full Slurm partition fails over to another infra (ordered resources: Slurm first, then local)', async () => {
    const yaml = path.join(userHome, 'ordered.yaml');
    fs.writeFileSync(yaml, ['resources:', '  ordered:', '    - infra: slurm/test/low', '    - infra: local', 'run: echo ran on ${SLURM_JOB_ID:-no-slurm}', ''].join('\n'));
    const hogId = await hog('low', slurm.nodes.join(','));
    try {
      const r = await p.run(['jobs', 'launch', '-y', yaml], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('ran on no-slurm');
      const id = Number(/Managed job (\d+)/.exec(r.stdout + r.stderr)![1]);
      const v = await describeJob(p, id);
      expect(v.attempts.map((a) => [a.cloud, a.zone ?? null, a.outcome])).toEqual([
        ['slurm', 'low', 'no_capacity'],
        ['local', null, 'succeeded'],
      ]);
    } finally {
      await slurm.sh(`scancel ${hogId}`);
    }
    await nothingLeft();
  });

  it('a bad partition is FAILED_PRECHECKS with Slurm\'s message, and nothing is queued', async () => {
    const r = await p.run(['jobs', 'launch', '-y', '--infra', 'slurm/open/nope', 'echo never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED_PRECHECKS');
    expect(r.stderr).toContain('invalid partition specified: nope');
    expect(r.stdout).not.toContain('never');
    await nothingLeft();
  });

  it('the worker SIGKILLed mid-run: a new worker re-attaches to the step and the job runs once', async () => {
    const dir = gateDir();
    const { id } = await startJob('slurm/test', dir);
    const worker = p.pidOf('worker')!;
    process.kill(worker, 'SIGKILL');
    await waitFor('the worker to die', () => !alive(worker) || undefined);
    await p.ok(['server', 'start']);
    fs.writeFileSync(path.join(dir, 'go'), '');
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    expect(v.attempts).toHaveLength(1);
    expect(v.recoveries).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toBe('start\n');
    await nothingLeft();
  });
});

describe('a Slurm cluster whose login node is reached over SSH, as another unix user', () => {
  let sshd: SshdCluster;
  let login: SshdCluster['hosts'][number];

  beforeAll(async () => {
    // A login node as on a site: its sessions find slurm.conf (SetEnv stands in for /etc/slurm),
    // and its user is not the worker's, with a home of its own that the compute nodes share.
    sshd = await startSshd(1, { setEnv: { SLURM_CONF: slurm.conf } });
    login = sshd.hosts[0]!;
    const wrongKey = path.join(sshd.dir, 'wrong_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    // SkyPilot's ~/.slurm/config, unchanged: every Host is a cluster.
    fs.writeFileSync(
      process.env.PETREL_SLURM_CONFIG!,
      [
        'Host viassh',
        `    HostName ${login.ip}`,
        `    Port ${login.port}`,
        `    User ${login.user}`,
        `    IdentityFile ${sshd.clientKey}`,
        // the same login node through a gateway command, as sites with a bastion write it
        'Host viaproxy',
        `    HostName ${login.ip}`,
        `    Port ${login.port}`,
        `    User ${login.user}`,
        `    IdentityFile ${sshd.clientKey}`,
        `    ProxyCommand ssh -q -i ${sshd.clientKey} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p %p -W %h:%p %r@%h`,
        'Host brokenproxy',
        `    HostName ${login.ip}`,
        `    IdentityFile ${sshd.clientKey}`,
        `    ProxyCommand sh -c 'echo gateway says no >&2; exit 7'`,
        'Host wrongkey',
        `    HostName ${login.ip}`,
        `    Port ${login.port}`,
        `    User ${login.user}`,
        `    IdentityFile ${wrongKey}`,
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    fs.writeFileSync(process.env.PETREL_SLURM_CONFIG!, '');
    await sshd?.stop();
  });

  it('check reaches sinfo through the login node', async () => {
    const r = await p.ok(['check', 'slurm']);
    expect(r.stdout).toContain('cluster viassh: partitions low (default): 3/3 nodes free');
    expect(r.stdout).toMatch(/cluster wrongkey: permission denied/);
    expect(r.stdout).toContain('cluster viaproxy: partitions low (default): 3/3 nodes free');
    expect(r.stdout).toContain("cluster brokenproxy: ProxyCommand 'sh -c 'echo gateway says no >&2; exit 7'' exited with 7: gateway says no");
  });

  it('a login node reached through a ProxyCommand runs the same clusters', async () => {
    const r = await p.run(['launch', '--infra', 'slurm/viaproxy', '-c', 'px', '-y', '--down', 'echo "via proxy: $(id -un) on $SLURMD_NODENAME"']);
    expect(r.stderr).not.toContain('Error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`via proxy: ${login.user} on n1`);
    await waitFor('the allocation gone', async () => ((await squeue()).length === 0 ? true : undefined), 60_000, 200);
  });

  it('a 2-node launch runs as the login user in its home, with the workdir synced over SSH', async () => {
    const r = await p.run(['launch', 'examples/multinode.yaml', '--infra', 'slurm/viassh', '-c', 'remote', '-y', '--down']);
    expect(r.stderr).not.toContain('Error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(node 0) rank 0 of 2, head at n1');
    expect(r.stdout).toContain('(node 1) rank 1 of 2, head at n1');
    expect(r.stdout.match(/workdir synced to every node/g)).toHaveLength(2);

    const who = await p.run(['launch', '--infra', 'slurm/viassh', '-c', 'who', '-y', '--down', 'echo "$(id -un) on $SLURMD_NODENAME in $PWD"']);
    expect(who.code).toBe(0);
    expect(who.stdout).toContain(`${login.user} on n1 in ${login.home}/.petrel/clusters/who/node-0`);
    await waitFor('the login user\'s allocations gone', async () => ((await squeue()).length === 0 ? true : undefined), 60_000, 200);
    await waitFor('the cluster dirs gone', () => (fs.readdirSync(path.join(login.home, '.petrel/clusters')).length === 0 ? true : undefined), 30_000, 200);
  });

  it('a managed job through the login node recovers from a node going DOWN', async () => {
    const dir = path.join(login.home, 'gate');
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, login.uid, login.uid);
    const { id, first } = await startJob('slurm/viassh', dir);
    const node = first.node!;
    await slurm.nodeDown(node, 'petrel e2e ssh');
    try {
      const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
      expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('a node of the allocation failed') });
      fs.writeFileSync(path.join(dir, 'go'), '');
      expect((await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000)).recoveries).toBe(1);
    } finally {
      await slurm.nodeResume(node);
    }
    await waitFor('no allocation left', async () => ((await squeue()).length === 0 ? true : undefined), 60_000, 200);
    await slurm.waitIdle(30_000);
  });

  it('a key the login node refuses is FAILED_PRECHECKS, and nothing is queued', async () => {
    const r = await p.run(['jobs', 'launch', '-y', '--infra', 'slurm/wrongkey', 'echo never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED_PRECHECKS');
    expect(r.stderr).toContain(`permission denied for ${login.user}@${login.ip}:${login.port}`);
    expect(r.stderr).toContain(`or fix user/identity_file in Host wrongkey of ${process.env.PETREL_SLURM_CONFIG}`);
    expect(await squeue()).toEqual([]);
  });
});
