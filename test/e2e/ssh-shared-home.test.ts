// Hosts that share one home directory, as every NFS cluster does: three real OpenSSH servers
// on 127.0.0.x serving the SAME unix user and home. Every per-node file must be per node, so
// ranks, exit codes, cancels and teardowns of one node or cluster never touch another's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { running, submitJob, waitForJob } from '../support/jobs.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';
import { startSshd, writePoolConfig, type SshdCluster } from '../support/sshd.js';

let sshd: SshdCluster;
let p: PetrelEnv;
let shared: string;

beforeAll(async () => {
  sshd = await startSshd(3, { sharedUser: true });
  p = await PetrelEnv.create();
  writePoolConfig(p.home, sshd, 'nfs', 'jobs:\n  unreachable_grace_seconds: 4');
  shared = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-nfs-shared-'));
  fs.chmodSync(shared, 0o777);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
  await sshd?.stop();
  if (shared) fs.rmSync(shared, { recursive: true, force: true });
});

/** The one home every host serves. */
const home = () => sshd.hosts[0]!.home;
const clustersDir = () => path.join(home(), '.petrel', 'clusters');
const ipOf = (ip: string) => sshd.hosts.findIndex((h) => h.ip === ip);

/** Processes a host runs (its sessions and the jobs started from them) whose command line has `text`. */
function hostCommands(index: number, text: string): number[] {
  return sshd.userProcesses(index).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(text);
    } catch {
      return false;
    }
  });
}

interface QueueJob {
  id: number;
  status: string;
  exitCodes?: (number | null)[];
}

describe('SSH hosts sharing one home (NFS)', () => {
  it('the test hosts really share one user and home', () => {
    expect(new Set(sshd.hosts.map((h) => h.user)).size).toBe(1);
    expect(new Set(sshd.hosts.map((h) => h.home)).size).toBe(1);
    expect(new Set(sshd.hosts.map((h) => h.ip)).size).toBe(3);
  });

  it('a 2-node launch gives ranks 0 and 1, both node IPs, each node its own exit code, and a workdir per node sent once', async () => {
    const work = fs.mkdtempSync(path.join(p.home, 'wd-'));
    fs.writeFileSync(path.join(work, 'message.txt'), 'hello from the workdir\n');
    const task = path.join(work, 'task.yaml');
    fs.writeFileSync(
      task,
      [
        'num_nodes: 2',
        `workdir: ${work}`,
        'run: |',
        '  echo "rank=$PETREL_NODE_RANK ips=$(echo $PETREL_NODE_IPS) whoami=$(whoami) pwd=$(pwd)"',
        '  cat message.txt',
        '  echo "$PETREL_NODE_RANK" > my-rank',
        // node 0 succeeds at once; node 1 fails a little later with its own code
        '  if [ "$PETREL_NODE_RANK" = 1 ]; then sleep 0.5; exit 11; fi',
        '',
      ].join('\n'),
    );
    const r = await p.run(['launch', task, '--infra', 'ssh/nfs', '-c', 'pair', '-y']);
    expect(r.code).toBe(11);
    const lines = r.stdout.split('\n');
    const rank0 = lines.find((l) => l.startsWith('(node 0) rank='))!;
    const rank1 = lines.find((l) => l.startsWith('(node 1) rank='))!;
    expect(rank0).toMatch(/^\(node 0\) rank=0 ips=127\.0\.0\.\d 127\.0\.0\.\d whoami=pt\w+ pwd=.*\/\.petrel\/clusters\/pair\/node-0\/sky_workdir$/);
    expect(rank1).toMatch(/^\(node 1\) rank=1 /);
    const ips = / ips=(\S+ \S+) /.exec(rank0)![1]!;
    expect(rank1).toContain(`ips=${ips} `);
    expect(new Set(ips.split(' ')).size).toBe(2);
    expect(r.stdout.match(/hello from the workdir/g)).toHaveLength(2);

    const [queue] = await p.json<Array<{ jobs: QueueJob[] }>>(['queue', 'pair']);
    expect(queue!.jobs[0]).toMatchObject({ status: 'FAILED', exitCodes: [0, 11] });
    // each node wrote into its own copy of the workdir on the one filesystem
    const nodes = path.join(clustersDir(), 'pair');
    expect(fs.readFileSync(path.join(nodes, 'node-0', 'sky_workdir', 'my-rank'), 'utf8')).toBe('0\n');
    expect(fs.readFileSync(path.join(nodes, 'node-1', 'sky_workdir', 'my-rank'), 'utf8')).toBe('1\n');
    // ...and the workdir crossed the network once, into the staging mirror both copies come from
    expect(fs.readFileSync(path.join(nodes, '.sync', 'sky_workdir', 'message.txt'), 'utf8')).toBe('hello from the workdir\n');
    expect(fs.existsSync(path.join(nodes, '.sync', 'sky_workdir', 'my-rank'))).toBe(false);
  });

  it('exec on the 2-node cluster runs on both nodes with their own ranks again', async () => {
    const r = await p.ok(['exec', 'pair', '--num-nodes', '2', 'echo "again rank=$PETREL_NODE_RANK"; cat sky_workdir/my-rank']);
    expect(r.stdout).toContain('(node 0) again rank=0');
    expect(r.stdout).toContain('(node 1) again rank=1');
    expect(r.stdout).toContain('(node 0) 0');
    expect(r.stdout).toContain('(node 1) 1');
  });

  it("cancel and down of one cluster never touch another cluster's processes or files on the shared home", async () => {
    await p.ok(['launch', '--infra', 'ssh/nfs', '-c', 'solo', '-y', '-d', 'sleep 4242']);
    await waitFor('solo to run', () => (sshd.hosts.some((_, i) => hostCommands(i, 'sleep 4242').length > 0) ? true : undefined));

    await p.ok(['exec', 'pair', '--num-nodes', '2', '-d', 'sleep 4343']);
    await waitFor('both nodes of pair to run', () => (sshd.hosts.filter((_, i) => hostCommands(i, 'sleep 4343').length > 0).length === 2 ? true : undefined));
    const cancel = await p.ok(['cancel', 'pair', '3']);
    expect(cancel.stdout).toContain('Job 3: CANCELLED');
    await waitFor('pair job gone on both hosts', () => (sshd.hosts.every((_, i) => hostCommands(i, 'sleep 4343').length === 0) ? true : undefined), 30_000);
    expect(sshd.hosts.some((_, i) => hostCommands(i, 'sleep 4242').length > 0)).toBe(true);

    await p.ok(['down', 'pair', '-y']);
    expect(fs.existsSync(path.join(clustersDir(), 'pair'))).toBe(false);
    expect(fs.existsSync(path.join(clustersDir(), 'solo', 'node-0'))).toBe(true);
    expect(sshd.hosts.some((_, i) => hostCommands(i, 'sleep 4242').length > 0)).toBe(true);
    const status = await p.json<Array<{ name: string; status: string }>>(['status']);
    expect(status.find((c) => c.name === 'solo')?.status).toBe('UP');

    await p.ok(['down', 'solo', '-y']);
    expect(sshd.hosts.every((_, i) => hostCommands(i, 'sleep 4242').length === 0)).toBe(true);
    expect(fs.existsSync(clustersDir()) ? fs.readdirSync(clustersDir()) : []).toEqual([]);
  });

  it('a managed job on two hosts of the shared home: one host dies, the job recovers on the others and each rank runs in its own place', async () => {
    const gate = path.join(shared, 'go');
    const id = await submitJob(p, [
      '--infra',
      'ssh/nfs',
      '--num-nodes',
      '2',
      `echo "attempt rank=$PETREL_NODE_RANK"; while [ ! -f ${gate} ]; do sleep 0.2; done; echo "done rank=$PETREL_NODE_RANK"`,
    ]);
    const v = await waitForJob(p, id, running, 'running');
    const first = v.attempts[0]!.handle!.nodes.map((n) => n.ip);
    expect(first).toHaveLength(2);
    const victim = ipOf(first[1]!);
    const survivor = ipOf(first[0]!);
    // the job wrappers' command lines name their job directories, which name the cluster
    const firstCluster = `clusters/job-${id}-1/`;
    await waitFor('both ranks to run', () => (hostCommands(victim, firstCluster).length > 0 && hostCommands(survivor, firstCluster).length > 0 ? true : undefined));
    await sshd.kill(victim);
    // the surviving host's processes were not touched by the other host's death
    expect(hostCommands(survivor, firstCluster).length).toBeGreaterThan(0);
    const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
    expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted' });
    expect(v2.attempts[1]!.handle!.nodes.map((n) => n.ip)).not.toContain(first[1]);
    fs.writeFileSync(gate, '');
    const done = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    expect(done.recoveries).toBe(1);
    const logs = await p.ok(['jobs', 'logs', String(id)]);
    expect(logs.stdout).toContain('(node 0) done rank=0');
    expect(logs.stdout).toContain('(node 1) done rank=1');
    // the dead host took the first attempt's rank-1 output with it, and the CLI says so
    expect(logs.stderr).toContain(`the output of ${id}-1-run on node 1 is not reachable from here`);
    // the first attempt's processes on the surviving host were stopped with its teardown
    await waitFor('first attempt stopped on the survivor', () => (hostCommands(survivor, firstCluster).length === 0 ? true : undefined), 30_000);
    await sshd.restart(victim);
    // Teardown reached every node but the dead host's: only that node's directory is left (its
    // host could not be asked to stop what it ran there, so nothing else removes it behind its back).
    await waitFor('the second attempt torn down', () => (fs.existsSync(path.join(clustersDir(), `job-${id}-2`)) ? undefined : true), 30_000);
    expect(fs.readdirSync(clustersDir())).toEqual([`job-${id}-1`]);
    expect(fs.readdirSync(path.join(clustersDir(), `job-${id}-1`))).toEqual(['node-1']);
  });
});
