// Clusters and managed jobs on an SSH node pool of three real OpenSSH servers (127.0.0.x),
// driven through the real CLI, Temporal dev server and worker.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeJob, running, submitJob, waitForJob } from '../support/jobs.js';
import { withClient } from '../support/client.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';
import { startSshd, writePoolConfig, type SshdCluster } from '../support/sshd.js';

let sshd: SshdCluster;
let p: PetrelEnv;
/** shared by every test host (they are users of this one machine) */
let shared: string;

beforeAll(async () => {
  sshd = await startSshd(3);
  p = await PetrelEnv.create();
  writePoolConfig(p.home, sshd, 'test', 'jobs:\n  unreachable_grace_seconds: 4');
  shared = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-ssh-shared-'));
  fs.chmodSync(shared, 0o777);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
  await sshd?.stop();
  if (shared) fs.rmSync(shared, { recursive: true, force: true });
});

const hostIps = () => sshd.hosts.map((h) => h.ip);

/** Processes of a host's user whose command line contains `text`. */
function userCommands(index: number, text: string): number[] {
  return sshd.userProcesses(index).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(text);
    } catch {
      return false;
    }
  });
}

async function leases(): Promise<Record<string, { holder: string; cluster: string }>> {
  const { leasesQuery } = await import('../../workflows/host-pool-types.js');
  return withClient(p, (client) => client.workflow.getHandle('pool/ssh/test').query(leasesQuery));
}

describe('clusters on an SSH node pool', () => {
  it('check reports the pool and its answering hosts', async () => {
    const r = await p.ok(['check', 'ssh']);
    expect(r.stdout).toContain('pool test: 3/3 hosts answer');
  });

  it('a 2-node launch syncs the workdir and gives every node its rank, the node IPs and the task id', async () => {
    const r = await p.run(['launch', 'examples/multinode.yaml', '--infra', 'ssh/test', '-c', 'two', '-y', '--down']);
    expect(r.code).toBe(0);
    const [ip0] = hostIps();
    expect(r.stdout).toContain(`(node 0) rank 0 of 2, head at ${ip0}`);
    expect(r.stdout).toContain(`(node 1) rank 1 of 2, head at ${ip0}`);
    expect(r.stdout.match(/workdir synced to every node/g)).toHaveLength(2);
    await waitFor('the leases to be released', async () => (Object.keys(await leases()).length === 0 ? true : undefined));
  });

  it('file_mounts upload a directory and a file to every host', async () => {
    const src = fs.mkdtempSync(path.join(p.home, 'mnt-'));
    fs.mkdirSync(path.join(src, 'data'));
    fs.writeFileSync(path.join(src, 'data', 'a.txt'), 'dir mount\n');
    fs.writeFileSync(path.join(src, 'cfg'), 'file mount\n');
    const yaml = path.join(src, 'task.yaml');
    fs.writeFileSync(yaml, `num_nodes: 2\nfile_mounts:\n  ~/data: ${src}/data\n  ~/etc/cfg: ${src}/cfg\nrun: cat ~/data/a.txt ~/etc/cfg\n`);
    const r = await p.ok(['launch', yaml, '--infra', 'ssh/test', '-c', 'mnt', '-y', '--down']);
    expect(r.stdout.match(/dir mount/g)).toHaveLength(2);
    expect(r.stdout.match(/file mount/g)).toHaveLength(2);
  });

  it('exec, logs --follow, and cancel stops the remote process group', async () => {
    await p.ok(['launch', '--infra', 'ssh/test', '-c', 'one', '-y', 'echo "env: $PETREL_NUM_NODES $SKYPILOT_NODE_IPS $PETREL_NUM_GPUS_PER_NODE"']);
    const exec = await p.run(['exec', 'one', 'echo second on $(whoami)']);
    expect(exec.code).toBe(0);
    expect(exec.stdout).toMatch(/second on pt\w+h\d/);
    const first = await p.ok(['logs', 'one', '1']);
    expect(first.stdout).toBe(`env: 1 ${hostIps()[0]} 0\n`);

    await p.ok(['exec', 'one', '-d', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']);
    const followed = await p.ok(['logs', 'one', '3', '--follow']);
    expect(followed.stdout).toBe('tick 1\ntick 2\ntick 3\n');

    await p.ok(['exec', 'one', '-d', 'sleep 313 & sleep 314; wait']);
    const host = Object.entries(await leases()).find(([, l]) => l.cluster === 'one')![0];
    const index = sshd.hosts.findIndex((h) => `${h.ip}:${h.port}` === host);
    await waitFor('the remote job to start', () => (userCommands(index, 'sleep 313').length > 0 ? true : undefined));
    const cancel = await p.ok(['cancel', 'one', '4']);
    expect(cancel.stdout).toContain('Job 4: CANCELLED');
    await waitFor('the remote process group to be gone', () => (userCommands(index, 'sleep 31').length === 0 ? true : undefined), 30_000);
    await p.ok(['down', 'one', '-y']);
  });

  it('two clusters wanting more hosts than the pool has: no host is ever given to both', async () => {
    const results = await Promise.all([
      p.run(['launch', '--infra', 'ssh/test', '-c', 'ga', '--num-nodes', '2', '-y', '-d', 'sleep 300']),
      p.run(['launch', '--infra', 'ssh/test', '-c', 'gb', '--num-nodes', '2', '-y', '-d', 'sleep 300']),
    ]);
    const l = await leases();
    const byCluster = (c: string) => Object.entries(l).filter(([, v]) => v.cluster === c).map(([h]) => h);
    const winners = ['ga', 'gb'].filter((c) => byCluster(c).length === 2);
    expect(winners).toHaveLength(1);
    expect(Object.keys(l)).toHaveLength(2); // the loser holds nothing
    expect(results.map((r) => r.code)).toEqual([0, 0]); // -d: both were accepted, one cannot get hosts
    const loser = winners[0] === 'ga' ? 'gb' : 'ga';
    const queue = await p.run(['queue', loser]);
    expect(queue.code).toBe(1); // its cluster failed for want of hosts and is gone
    expect(queue.stderr).toContain(`cluster '${loser}' does not exist`);
    // once the winner is down its hosts can be leased again
    await p.ok(['down', winners[0]!, '-y']);
    expect(await leases()).toEqual({});
    const again = await p.run(['launch', '--infra', 'ssh/test', '-c', 'gc', '--num-nodes', '3', '-y', '--down', 'echo all three']);
    expect(again.code).toBe(0);
  });
});

describe('managed jobs on an SSH node pool', () => {
  it('a host that dies (sshd and processes) is recovered on another host of the pool', async () => {
    const gate = path.join(shared, 'go-recover');
    const id = await submitJob(p, ['--infra', 'ssh/test', `echo on $PETREL_NODE_IPS; while [ ! -f ${gate} ]; do sleep 0.2; done; echo finished`]);
    const v = await waitForJob(p, id, running, 'running');
    const first = v.attempts[0]!.handle!.nodes[0]!.ip;
    const index = sshd.hosts.findIndex((h) => h.ip === first);
    await sshd.kill(index);
    const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered on another host', 60_000);
    expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('unreachable') });
    expect(v2.attempts[1]!.handle!.nodes[0]!.ip).not.toBe(first);
    fs.writeFileSync(gate, '');
    const done = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    expect(done.recoveries).toBe(1);
    await sshd.restart(index);
    await waitFor('leases released', async () => (Object.keys(await leases()).length === 0 ? true : undefined));
  });

  it('the worker SIGKILLed mid-run: a new worker re-attaches over SSH and the job runs once', async () => {
    const gate = path.join(shared, 'go-worker');
    const starts = path.join(shared, 'starts-worker');
    const id = await submitJob(p, ['--infra', 'ssh/test', `echo start >> ${starts}; while [ ! -f ${gate} ]; do sleep 0.2; done`]);
    await waitForJob(p, id, running, 'running');
    await waitFor('the job to start', () => (fs.existsSync(starts) ? true : undefined));
    const worker = p.pidOf('worker')!;
    process.kill(worker, 'SIGKILL');
    await waitFor('the worker to die', () => !alive(worker) || undefined);
    await p.ok(['server', 'start']);
    fs.writeFileSync(gate, '');
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    expect(v.attempts).toHaveLength(1);
    expect(fs.readFileSync(starts, 'utf8')).toBe('start\n');
    expect((await describeJob(p, id)).recoveries).toBe(0);
  });
});
