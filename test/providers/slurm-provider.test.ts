// SlurmProvider against real Slurm daemons (test/support/slurm.ts: nodes n1-n3 with 2 fake T4
// GPUs each; partitions low (default) and high, which preempts low) driven through a `local`
// login: allocations, steps on their nodes, the detached-job contract, batched status, losing a
// node, teardown, and Slurm's refusals turned into Petrel's failure kinds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { getProvider } from '../../providers/registry.js';
import { maxTimeOf } from '../../providers/slurm/allocation.js';
import { SlurmProvider } from '../../providers/slurm/index.js';
import type { SlurmRunner } from '../../providers/slurm/runner.js';
import { ProviderError, type ProvisionRequest } from '../../providers/types.js';
import { startSlurm, type SlurmCluster } from '../support/slurm.js';
import { waitFor } from '../support/petrel.js';
import { failure } from '../support/provider-errors.js';

let slurm: SlurmCluster;
let home: string;
let userHome: string;
let provider: SlurmProvider;

const CONFIG = `slurm:
  test:
    login: local
    partitions: [low, high]
    provision_timeout_seconds: 4
  open:
    login: local
  badacct:
    login: local
    account: nope
`;

beforeAll(async () => {
  slurm = await startSlurm({ nodes: 3, gpusPerNode: 2 });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-slurmprov-'));
  // The login user's home (shared by every node here, as on a real site), apart from root's.
  userHome = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-slurmuser-'));
  process.env.HOME = userHome;
  process.env.SLURM_CONF = slurm.conf;
  process.env.PETREL_SLURM_CONFIG = path.join(home, 'no-slurm-ssh-config');
  fs.writeFileSync(path.join(home, 'config.yaml'), CONFIG);
  provider = new SlurmProvider({ home });
});

afterAll(async () => {
  await slurm?.stop();
  for (const d of [home, userHome]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

const req = (clusterName: string, numNodes: number, extra: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
  clusterName,
  numNodes,
  region: 'test',
  zone: 'low',
  useSpot: false,
  idempotencyKey: `${clusterName}-1`,
  ...extra,
});

async function squeue(): Promise<string[]> {
  const r = await slurm.sh(`squeue -h -o '%i|%j|%T|%P|%N'`);
  return r.stdout.split('\n').filter(Boolean);
}

async function finished(r: SlurmRunner, key: string, timeoutMs = 30_000) {
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  }, timeoutMs, 200);
}

describe('the time limit asked for', () => {
  const sinfo = 'low*|2-00:00:00\nhigh|infinite\ndebug|30:00\n';
  it('is the partition\'s MaxTime unless infinite or set in sbatch_args', () => {
    expect(maxTimeOf(sinfo, undefined, [])).toBe('2-00:00:00');
    expect(maxTimeOf(sinfo, 'debug', [])).toBe('30:00');
    expect(maxTimeOf(sinfo, 'high', [])).toBeUndefined();
    expect(maxTimeOf(sinfo, 'nope', [])).toBeUndefined();
    for (const own of [['--time=1:00:00'], ['--time', '60'], ['-t', '60'], ['-t60'], ['--tim=5']]) expect(maxTimeOf(sinfo, 'low', own)).toBeUndefined();
    expect(maxTimeOf(sinfo, 'low', ['--time-min=10', '--tmp=10G'])).toBe('2-00:00:00');
  });
});

describe('slurm provider', () => {
  it('is registered as "slurm" and lists clusters as regions, partitions as zones', async () => {
    expect(getProvider('slurm', { home })).toBeInstanceOf(SlurmProvider);
    expect(await provider.regions()).toEqual(['test', 'open', 'badacct']);
    expect(await provider.zones('test')).toEqual(['low', 'high']);
    expect(await provider.zones('open')).toEqual([undefined]);
  });

  it('check lists each cluster with free/total nodes and GPUs per partition', async () => {
    const r = await provider.check();
    expect(r.enabled).toBe(true);
    expect(r.detail).toContain('cluster test: partitions low (default): 3/3 nodes free, GPUs T4 6/6 free; high: 3/3 nodes free, GPUs T4 6/6 free');
    expect(r.detail).toContain('cluster open: partitions low (default): 3/3 nodes free, GPUs T4 6/6 free; high: 3/3 nodes free, GPUs T4 6/6 free');
  });

  describe('a 2-node cluster', () => {
    let handle: ClusterHandle;
    let jobId: string;
    const runner = (rank: number) => provider.runner(handle, handle.nodes[rank]!);

    it('is one sbatch allocation holding both nodes; a retried provision finds it', async () => {
      handle = await provider.provision(req('two', 2));
      expect(handle.nodes).toHaveLength(2);
      jobId = handle.nodes[0]!.data.slurm_job_id!;
      expect(handle.nodes.map((n) => n.id)).toEqual([`${jobId}/n1`, `${jobId}/n2`]);
      expect(handle.region).toBe('test');
      expect(handle.zone).toBe('low');
      expect(await squeue()).toContain(`${jobId}|petrel-two|RUNNING|low|n[1-2]`);
      // the partition's MaxTime, not its (much shorter) DefaultTime
      expect((await slurm.sh(`scontrol show job ${jobId}`)).stdout).toContain('TimeLimit=2-00:00:00');
      const again = await provider.provision(req('two', 2));
      expect(again.nodes.map((n) => n.id)).toEqual(handle.nodes.map((n) => n.id));
      expect((await squeue()).filter((l) => l.includes('petrel-two'))).toHaveLength(1);
    });

    it('runs commands on each node as steps of the allocation, in that node\'s own dir', async () => {
      const r1 = await runner(1).run('echo "$SLURMD_NODENAME $SLURM_JOB_ID $PWD $GREETING"; exit 7', { env: { GREETING: 'hi there' } });
      expect(r1.exitCode).toBe(7);
      expect(r1.stdout.trim()).toBe(`n2 ${jobId} ${userHome}/.petrel/clusters/two/node-1 hi there`);
      const r0 = await runner(0).run('echo $SLURMD_NODENAME');
      expect(r0).toMatchObject({ exitCode: 0, stdout: 'n1\n' });
    });

    it('runs a detached job per node with its env, exit code and log; starting it again attaches', async () => {
      const script = 'echo "rank $PETREL_NODE_RANK on $SLURMD_NODENAME procid=${SLURM_PROCID-unset}"; echo oops >&2; exit 3';
      for (const rank of [0, 1]) {
        const s = await runner(rank).startDetached({ key: '1-run', script, env: { PETREL_NODE_RANK: String(rank) } });
        expect(s.alreadyStarted).toBe(false);
      }
      for (const rank of [0, 1]) {
        expect(await finished(runner(rank), '1-run')).toEqual({ state: 'exited', exitCode: 3 });
        const log = await runner(rank).readLog('1-run', 0);
        expect(log.data.toString()).toBe(`rank ${rank} on n${rank + 1} procid=unset\noops\n`);
      }
      expect(await runner(0).startDetached({ key: '1-run', script: 'echo again', env: {} })).toEqual({ alreadyStarted: true });
      expect((await runner(0).readLog('1-run', 0)).data.toString()).not.toContain('again');
    });

    it('SIGTERM ends a running job with 143; SIGKILL leaves it lost', async () => {
      const r = runner(1);
      await r.startDetached({ key: '2-run', script: 'echo started; sleep 300', env: {} });
      await waitFor('started', async () => (await r.readLog('2-run', 0)).data.toString().includes('started') || undefined, 30_000, 200);
      expect(await r.status('2-run')).toEqual({ state: 'running' });
      await r.signal('2-run', 'SIGTERM');
      expect(await finished(r, '2-run')).toEqual({ state: 'exited', exitCode: 143 });

      await r.startDetached({ key: '3-run', script: "trap '' TERM; echo started; sleep 300", env: {} });
      await waitFor('started', async () => (await r.readLog('3-run', 0)).data.toString().includes('started') || undefined, 30_000, 200);
      await r.signal('3-run', 'SIGKILL');
      expect(await finished(r, '3-run')).toEqual({ state: 'lost' });
      // nothing of either job is left on the node
      await waitFor('the steps to end', async () => {
        const left = await slurm.sh(`squeue -h -s -j ${jobId} -o '%i'`);
        return left.stdout.split('\n').some((l) => /^\d+\.\d+$/.test(l.trim())) ? undefined : true;
      }, 20_000, 200);
    });

    it('batched status: nodes up and job states, then a node going DOWN loses the allocation', async () => {
      await runner(0).startDetached({ key: '4-run', script: 'sleep 300', env: {} });
      const watched = [{ handle, key: '4-run', ranks: [0, 1] }];
      const up = await waitFor('running', async () => {
        const [rep] = await provider.batchStatus(watched);
        return rep!.jobs[0]!.state === 'running' ? rep : undefined;
      });
      expect(up!.nodes).toEqual([{ rank: 0, state: 'up' }, { rank: 1, state: 'up' }]);
      expect(up!.jobs[1]).toEqual({ state: 'unknown' });

      await slurm.nodeDown('n2', 'petrel test');
      try {
        const [rep] = await provider.batchStatus(watched);
        expect(rep!.nodes).toEqual([0, 1].map((rank) => ({ rank, state: 'gone', reason: 'preempted', detail: `Slurm job ${jobId}: a node of the allocation failed` })));
        expect(await provider.query(handle)).toHaveLength(2);
      } finally {
        await slurm.nodeResume('n2');
      }
      await slurm.waitIdle(30_000).catch(() => undefined);
    });

    it('stop gives the nodes back and keeps the files; start asks for the same allocation again', async () => {
      await slurm.waitIdle(30_000);
      // the node-DOWN test above ended the allocation: a fresh one for this test
      handle = await provider.provision(req('two', 2, { idempotencyKey: 'two-2' }));
      jobId = handle.nodes[0]!.data.slurm_job_id!;
      expect((await runner(1).run('echo kept > kept.txt')).exitCode).toBe(0);
      await provider.stop(handle);
      expect((await squeue()).filter((l) => l.includes('petrel-two'))).toEqual([]);
      expect(fs.readFileSync(path.join(userHome, '.petrel/clusters/two/node-1/kept.txt'), 'utf8')).toBe('kept\n');

      const started = await provider.start(handle);
      const newId = started.nodes[0]!.data.slurm_job_id!;
      expect(newId).not.toBe(jobId);
      expect(started).toMatchObject({ region: 'test', zone: 'low', label: `Slurm job ${newId}` });
      expect(started.nodes).toHaveLength(2);
      const job = (await slurm.sh(`scontrol show job ${newId}`)).stdout;
      expect(job).toContain('TimeLimit=2-00:00:00');
      expect(job).toContain('Partition=low');
      expect(job).toContain('Comment=petrel:two-2');
      handle = started;
      jobId = newId;
      expect((await runner(1).run('cat kept.txt')).stdout).toBe('kept\n');
      // a retried start finds the allocation it submitted
      expect((await provider.start({ ...handle, nodes: handle.nodes })).nodes[0]!.data.slurm_job_id).toBe(newId);
    });

    it('terminate cancels the allocation, waits for it and removes the cluster dir', async () => {
      await provider.terminate(handle);
      expect((await squeue()).filter((l) => l.startsWith(`${jobId}|`))).toEqual([]);
      expect(fs.existsSync(path.join(userHome, '.petrel/clusters/two'))).toBe(false);
      await provider.terminate(handle); // again: nothing left to do, no error
    });
  });

  it('asks for GPUs with --gres: the job sees its devices; an unknown type is that partition\'s capacity', async () => {
    await slurm.waitIdle(30_000);
    const handle = await provider.provision(req('gpu', 1, { accelerators: { t4: 1 }, cpus: { value: 2, orMore: false }, memoryGb: { value: 1.5, orMore: true } }));
    try {
      const r = await provider.runner(handle, handle.nodes[0]!).run('echo "$CUDA_VISIBLE_DEVICES"');
      expect(r.stdout.trim()).toMatch(/^\d$/);
      const job = (await slurm.sh(`scontrol show job ${handle.nodes[0]!.data.slurm_job_id}`)).stdout;
      expect(job).toContain('MinCPUsNode=2');
      expect(job).toContain('MinMemoryNode=1.50G');
      expect(job).toMatch(/TresPerNode=(gres[/:])?gpu:T4:1/);
    } finally {
      await provider.terminate(handle);
    }
    const err = await failure(provider.provision(req('a100', 1, { accelerators: { A100: 1 } })));
    expect(err.kind).toBe('capacity');
    expect(err.message).toContain('A100');
    // more CPUs than any node has: Slurm refuses it, and it is that partition's capacity
    const cpuErr = await failure(provider.provision(req('cpus', 1, { cpus: { value: 64, orMore: false } })));
    expect(cpuErr.kind).toBe('capacity');
    expect(cpuErr.scope).toBe('zone');
    expect(cpuErr.message).toMatch(/^slurm\/test\/low: Slurm will never start job \d+: pending with reason PartitionConfig \(the request does not fit this partition's nodes or limits\)$/);
  });

  it('an allocation still pending after provision_timeout_seconds is a capacity error for the partition, and is cancelled', async () => {
    await slurm.waitIdle(30_000);
    const hog = await slurm.sh(`sbatch --parsable -p high -N3 --exclusive --wrap 'sleep 300'`);
    expect(hog.code).toBe(0);
    try {
      await waitFor('the hog to run', async () => (await squeue()).some((l) => l.startsWith(`${hog.stdout.trim()}|`) && l.includes('RUNNING')) || undefined, 30_000, 200);
      const err = await failure(provider.provision(req('waits', 1)));
      expect(err.kind).toBe('capacity');
      expect(err.scope).toBe('zone');
      expect(err.message).toMatch(/^slurm\/test\/low: Slurm job \d+ still PENDING after \d+ s \(reason (Resources|Priority|None)/);
      expect((await squeue()).filter((l) => l.includes('petrel-waits'))).toEqual([]);
      expect(fs.existsSync(path.join(userHome, '.petrel/clusters/waits'))).toBe(false);
    } finally {
      await slurm.sh(`scancel ${hog.stdout.trim()}`);
    }
  });

  it('a bad partition or account is a config error in Slurm\'s words (more nodes than the partition has: its capacity), and nothing is queued', async () => {
    let err = await failure(provider.provision(req('badpart', 1, { region: 'open', zone: 'nope' })));
    expect(err.kind).toBe('config');
    expect(err.message).toContain('slurm/open/nope: sbatch: error: invalid partition specified: nope');
    expect(err.message).toContain('Invalid partition name specified');

    err = await failure(provider.provision(req('badacct', 1, { region: 'badacct', zone: undefined })));
    expect(err.kind).toBe('config');
    expect(err.message).toContain('Invalid account or account/partition combination specified');

    err = await failure(provider.provision(req('toomany', 5)));
    expect(err.kind).toBe('capacity');
    expect(err.message).toMatch(/Slurm will never start job \d+: pending with reason Partition(Config|NodeLimit)/);

    err = await failure(provider.provision(req('notlisted', 1, { zone: 'other' })));
    expect(err.kind).toBe('config');
    expect(err.message).toContain("partition 'other' is not among slurm.test.partitions (low, high)");
    expect((await squeue()).filter((l) => /petrel-(badpart|badacct|toomany|notlisted)/.test(l))).toEqual([]);
    // refused or cancelled: not even the cluster's directory is left
    expect(fs.readdirSync(path.join(userHome, '.petrel/clusters'))).toEqual([]);
  });
});
