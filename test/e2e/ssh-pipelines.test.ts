// Pipelines and job groups on SSH node pools of real OpenSSH servers (127.0.0.x), driven through
// the real CLI, Temporal dev server and worker: a group whose members, each on its own leased
// host, find each other by hostname (nss_wrapper + the group's hosts file) on hosts with their
// own homes and on hosts sharing one home (NFS); and a serial pipeline whose steps hand a file
// over in order, each step's cluster gone before the next starts and before SUCCEEDED is reported.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import type { PipelineView, StepView } from '../../workflows/pipeline-types.js';
import { withClient } from '../support/client.js';
import { PetrelEnv, processesWith, waitFor } from '../support/petrel.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';

/** Two hosts with a home each (`ssh/own`), two hosts sharing one user and home (`ssh/nfs`). */
let own: SshdCluster;
let nfs: SshdCluster;
let p: PetrelEnv;
/** a directory every host user may write (they are all users of this one machine) */
let shared: string;

function poolLines(name: string, cluster: SshdCluster): string[] {
  return [
    `  ${name}:`,
    '    user: nobody-by-default',
    `    identity_file: ${cluster.clientKey}`,
    '    hosts:',
    ...cluster.hosts.map((h) => `      - {ip: ${h.ip}, port: ${h.port}, user: ${h.user}}`),
  ];
}

beforeAll(async () => {
  own = await startSshd(2);
  nfs = await startSshd(2, { sharedUser: true });
  p = await PetrelEnv.create();
  fs.writeFileSync(path.join(p.home, 'config.yaml'), ['ssh_node_pools:', ...poolLines('own', own), ...poolLines('nfs', nfs), ''].join('\n'));
  shared = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-ssh-pipe-shared-'));
  fs.chmodSync(shared, 0o777);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
  await own?.stop();
  await nfs?.stop();
  if (shared) fs.rmSync(shared, { recursive: true, force: true });
});

type Described = Omit<PipelineView, 'steps'> & { steps: Array<StepView & { job: ManagedJobView | null }> };

const describePipeline = (id: number) => p.json<Described>(['jobs', 'describe', String(id)]);

/** Waits for the pipeline's view to pass `ok`; a pipeline that ended otherwise, or a timeout, fails with the last view seen. */
async function waitForPipeline(id: number, ok: (v: Described) => boolean, what: string, timeoutMs = 90_000): Promise<Described> {
  let last: Described | undefined;
  try {
    return await waitFor(
      `pipeline ${id}: ${what}`,
      async () => {
        last = await describePipeline(id);
        if (ok(last)) return last;
        if (last.endedAt) throw new Error(`pipeline ${id} ended ${last.status} before ${what}`);
        return undefined;
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen:\n${JSON.stringify(last, null, 1)}`);
  }
}

const stepRunning = (v: Described, i: number) => v.steps[i]!.status === 'RUNNING' && !!v.steps[i]!.job?.attempts.at(-1)?.runKey;

function writeYaml(name: string, docs: Array<Record<string, unknown>>): string {
  const file = path.join(fs.mkdtempSync(path.join(p.home, 'yaml-')), name);
  fs.writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  return file;
}

async function submit(file: string): Promise<number> {
  return Number((await p.ok(['jobs', 'launch', '-d', '-y', file])).stdout.trim());
}

/** Cluster directories Petrel left in a host's home (~/.petrel/clusters/*). */
function clusterDirsOn(cluster: SshdCluster, index: number): string[] {
  const dir = path.join(cluster.hosts[index]!.home, '.petrel', 'clusters');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

const allClusterDirs = (cluster: SshdCluster) => [...new Set(cluster.hosts.flatMap((_, i) => clusterDirsOn(cluster, i)))];

/** What a host's user runs besides the sshd sessions the worker keeps open: jobs, shells, servers. */
function jobProcesses(cluster: SshdCluster, index: number): string[] {
  return cluster
    .userProcesses(index)
    .map((pid) => {
      try {
        return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ')}`;
      } catch {
        return undefined;
      }
    })
    .filter((c): c is string => c !== undefined && !/^\d+: sshd:/.test(c));
}

async function expectNothingRunningOn(cluster: SshdCluster): Promise<void> {
  // A status probe that was in flight when the job ended may take a moment to exit.
  await waitFor('no job processes left on the hosts', () => (cluster.hosts.every((_, i) => jobProcesses(cluster, i).length === 0) ? true : undefined), 15_000, 200).catch(() => undefined);
  expect(cluster.hosts.flatMap((_, i) => jobProcesses(cluster, i))).toEqual([]);
}

async function expectLeasesReleased(pool: string): Promise<void> {
  const { leasesQuery } = await import('../../workflows/host-pool-types.js');
  const leases = () => withClient(p, (client) => client.workflow.getHandle(`pool/ssh/${pool}`).query(leasesQuery));
  await waitFor(`the ssh/${pool} leases to be released`, async () => (Object.keys(await leases()).length === 0 ? true : undefined), 15_000, 200);
}

/** How long the pipeline took by its own clock. */
const span = (v: Described) => `submitted → ${v.status} in ${((Date.parse(v.endedAt!) - Date.parse(v.submittedAt)) / 1000).toFixed(1)} s`;

const randomPort = () => 20000 + Math.floor(Math.random() * 20000);

/** Python that fetches a URL by name, retrying while the other side starts; exits 1 if it never answers. */
function fetchScript(url: string, prefix: string): string {
  return [
    `for i in $(seq 1 150); do`,
    `  if python3 -c 'import urllib.request; print("${prefix}" + urllib.request.urlopen("${url}", timeout=2).read().decode().strip())' 2>/dev/null; then ok=1; break; fi`,
    '  sleep 0.2',
    'done',
    `[ -n "$ok" ] || { echo "never reached ${url}" >&2; exit 1; }`,
  ].join('\n');
}

/** This node's own address: the first line of $SKYPILOT_NODE_IPS. */
const MY_IP = 'ip=$(printf "%s\\n" "$SKYPILOT_NODE_IPS" | head -n1)';

describe('job groups on an SSH node pool', () => {
  it('server and client on their own leased hosts: the client reaches the server by its group hostname; the server is cancelled after its delay; nothing is left', async () => {
    const port = randomPort();
    const file = writeYaml('duo.yaml', [
      { name: 'duo', execution: 'parallel', primary_tasks: ['client'], termination_delay: '2s' },
      {
        name: 'server',
        resources: { infra: 'ssh/own' },
        // Binds only its own node's address: a name resolving anywhere else finds nothing.
        run: [MY_IP, 'mkdir -p www', 'echo "served by $SKYPILOT_JOBGROUP_NAME from $ip" > www/index.html', `exec python3 -m http.server ${port} --bind "$ip" --directory www`].join('\n'),
      },
      {
        name: 'client',
        resources: { infra: 'ssh/own' },
        run: ['echo "resolved: $(getent hosts server-0.duo)"', fetchScript(`http://server-0.duo:${port}/`, 'fetched: ')].join('\n'),
      },
    ]);
    const started = Date.now();
    const id = await submit(file);
    // The client is done within seconds of both starting, so only the end is waited for.
    const done = await waitForPipeline(id, (v) => !!v.endedAt, 'the group to end', 120_000);
    const elapsed = Date.now() - started;
    // Checked at once: the group reports its end only after every member has torn down.
    const dirsAtEnd = allClusterDirs(own);
    const serversAtEnd = processesWith(`http.server ${port}`);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.kind).toBe('jobgroup');
    expect(done.steps.map((s) => s.role)).toEqual(['auxiliary', 'primary']);
    expect(done.steps.map((s) => s.status)).toEqual(['CANCELLED', 'SUCCEEDED']);
    expect(done.steps[0]!.message).toContain('termination_delay');
    expect(Date.parse(done.steps[0]!.endedAt!) - Date.parse(done.steps[1]!.endedAt!)).toBeGreaterThanOrEqual(2000);

    // Each member on its own host, the table naming both.
    const members = done.hosts!.members;
    expect(members.map((m) => m.task)).toEqual(['server', 'client']);
    const [serverIp, clientIp] = members.map((m) => m.nodeIps[0]!);
    expect(own.hosts.map((h) => h.ip)).toContain(serverIp);
    expect(own.hosts.map((h) => h.ip)).toContain(clientIp);
    expect(serverIp).not.toBe(clientIp);
    expect(done.steps[0]!.job!.attempts[0]!.handle!.nodes[0]!.ip).toBe(serverIp);
    expect(done.steps[1]!.job!.attempts[0]!.handle!.nodes[0]!.ip).toBe(clientIp);
    expect(done.steps[0]!.job!.attempts[0]!.clusterName).not.toBe(done.steps[1]!.job!.attempts[0]!.clusterName);

    const logs = await p.ok(['jobs', 'logs', String(id), '--task', 'client']);
    expect(logs.stdout).toMatch(new RegExp(`resolved: ${serverIp!.replace(/\./g, '\\.')}\\s+server-0\\.duo`));
    expect(logs.stdout).toContain(`fetched: served by duo from ${serverIp}`);

    expect(dirsAtEnd).toEqual([]);
    expect(serversAtEnd).toEqual([]);
    await expectNothingRunningOn(own);
    await expectLeasesReleased('own');
    console.info(`ssh job group: ${span(done)}; the test saw it ${(elapsed / 1000).toFixed(1)} s after submitting`);
  });

  it('two members on two hosts sharing one home: each node has its own hosts file and each member reaches the other by name', async () => {
    const port = randomPort();
    const gate = path.join(shared, 'nfs-go');
    // Each member serves on its own address and the SAME port, so a name resolving to the
    // wrong member (its own node, say) fetches the wrong text.
    const member = (me: string, other: string) => ({
      name: me,
      resources: { infra: 'ssh/nfs' },
      run: [
        MY_IP,
        'echo "hosts file: $PETREL_JOBGROUP_HOSTS"',
        `mkdir -p www && echo "${me} at $ip" > www/index.html`,
        `python3 -m http.server ${port} --bind "$ip" --directory www > /dev/null 2>&1 & srv=$!`,
        `echo "resolved: $(getent hosts ${other}-0.pair)"`,
        fetchScript(`http://${other}-0.pair:${port}/`, 'fetched: '),
        `touch ${shared}/${me}.fetched`,
        // Keep serving until the other has fetched too and the test has looked at both nodes.
        `while [ ! -f ${shared}/${other}.fetched ] || [ ! -f ${gate} ]; do sleep 0.2; done`,
        'kill $srv',
      ].join('\n'),
    });
    const file = writeYaml('pair.yaml', [{ name: 'pair', execution: 'parallel' }, member('alpha', 'beta'), member('beta', 'alpha')]);
    const started = Date.now();
    const id = await submit(file);
    await waitFor('both members to fetch from each other', () => (['alpha', 'beta'].every((m) => fs.existsSync(path.join(shared, `${m}.fetched`))) ? true : undefined), 120_000, 250);
    const running = await describePipeline(id);
    expect(running.steps.map((s) => s.status)).toEqual(['RUNNING', 'RUNNING']);

    const home = nfs.hosts[0]!.home;
    const [alphaIp, betaIp] = running.hosts!.members.map((m) => m.nodeIps[0]!);
    expect(alphaIp).not.toBe(betaIp);
    const table = [`${alphaIp} alpha-0.pair alpha-0`, `${betaIp} beta-0.pair beta-0`];
    const files = running.steps.map((s) => {
      const attempt = s.job!.attempts.at(-1)!;
      const [where] = attempt.groupHosts!;
      // In the member's own node directory on the one shared home, not one file for the home.
      expect(where!.path).toBe(path.join(home, '.petrel', 'clusters', attempt.clusterName, 'node-0', '.petrel-jobgroup-hosts'));
      expect(where!.nssWrapper).toMatch(/libnss_wrapper\.so$/);
      expect(fs.readFileSync(where!.path, 'utf8').trim().split('\n')).toEqual(table);
      return where!.path;
    });
    expect(new Set(files).size).toBe(2);
    // Each host runs its own member's server (the leftover check below sees what it must).
    for (const ip of [alphaIp, betaIp]) {
      const index = nfs.hosts.findIndex((h) => h.ip === ip);
      expect(jobProcesses(nfs, index).filter((c) => c.includes(`http.server ${port}`)), ip).toHaveLength(1);
    }
    expect(allClusterDirs(nfs).sort()).toEqual(running.steps.map((s) => s.job!.attempts.at(-1)!.clusterName).sort());

    fs.writeFileSync(gate, '');
    const done = await waitForPipeline(id, (v) => !!v.endedAt, 'the group to end', 60_000);
    const elapsed = Date.now() - started;
    const dirsAtEnd = allClusterDirs(nfs);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);

    for (const [me, other, otherIp, i] of [['alpha', 'beta', betaIp, 0], ['beta', 'alpha', alphaIp, 1]] as const) {
      const logs = await p.ok(['jobs', 'logs', String(id), '--task', me]);
      expect(logs.stdout, me).toContain(`hosts file: ${files[i]}`);
      expect(logs.stdout, me).toMatch(new RegExp(`resolved: ${otherIp!.replace(/\./g, '\\.')}\\s+${other}-0\\.pair`));
      expect(logs.stdout, me).toContain(`fetched: ${other} at ${otherIp}`);
    }
    expect(dirsAtEnd).toEqual([]);
    expect(processesWith(`http.server ${port}`)).toEqual([]);
    await expectNothingRunningOn(nfs);
    await expectLeasesReleased('nfs');
    console.info(`ssh job group on a shared home: ${span(done)}; the test saw it ${(elapsed / 1000).toFixed(1)} s after submitting`);
  });
});

describe('a serial pipeline on an SSH node pool', () => {
  it('step 2 reads what step 1 wrote, starts only after step 1 ended and its cluster was removed, and every cluster is gone when SUCCEEDED is reported', async () => {
    const handoff = path.join(shared, 'handoff');
    const gate = path.join(shared, 'relay-go');
    const file = writeYaml('relay.yaml', [
      { name: 'relay' },
      {
        name: 'produce',
        resources: { infra: 'ssh/own' },
        run: `echo "written by produce on $SKYPILOT_NODE_IPS as $(whoami)" > ${handoff}.tmp && mv ${handoff}.tmp ${handoff} && echo produced`,
      },
      {
        name: 'consume',
        resources: { infra: 'ssh/own' },
        run: [`test -f ${handoff} || { echo "no handoff file" >&2; exit 5; }`, `echo "consume read: $(cat ${handoff})"`, `while [ ! -f ${gate} ]; do sleep 0.2; done`].join('\n'),
      },
    ]);
    const started = Date.now();
    // Blocking launch: it returns when the pipeline has ended, as a user waits for it.
    const launch = p.run(['jobs', 'launch', '-y', file], { timeoutMs: 180_000 });
    const id = await waitFor(
      'the pipeline to be submitted',
      async () => {
        const queue = await p.json<Array<{ id: number; name?: string }>>(['jobs', 'queue']);
        return queue.find((j) => j.name === 'relay')?.id;
      },
      60_000,
      250,
    );
    const mid = await waitForPipeline(id, (v) => stepRunning(v, 1), 'step 2 running', 120_000);
    // Step 1 is over and its machines are gone before step 2 runs; step 2's are up.
    expect(mid.steps[0]!.status).toBe('SUCCEEDED');
    const firstCluster = mid.steps[0]!.job!.attempts[0]!.clusterName;
    const secondCluster = mid.steps[1]!.job!.attempts[0]!.clusterName;
    expect(firstCluster).not.toBe(secondCluster);
    expect(allClusterDirs(own)).toEqual([secondCluster]);
    expect(Date.parse(mid.steps[1]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(mid.steps[0]!.endedAt!));
    const consumerHost = own.hosts.findIndex((h) => h.ip === mid.steps[1]!.job!.attempts[0]!.handle!.nodes[0]!.ip);
    expect(jobProcesses(own, consumerHost).some((c) => c.includes(secondCluster))).toBe(true);

    fs.writeFileSync(gate, '');
    const r = await launch;
    const elapsed = Date.now() - started;
    // Nothing of either step is left the moment the pipeline says SUCCEEDED.
    const dirsAtEnd = allClusterDirs(own);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Managed job ${id} SUCCEEDED`);
    expect(dirsAtEnd).toEqual([]);

    const v = await describePipeline(id);
    expect(v.kind).toBe('pipeline');
    expect(v.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const producedOn = v.steps[0]!.job!.attempts[0]!.handle!.nodes[0]!.ip;
    const producer = own.hosts.find((h) => h.ip === producedOn)!;
    const logs = await p.ok(['jobs', 'logs', String(id), '--task', 'consume']);
    expect(logs.stdout).toContain(`consume read: written by produce on ${producedOn} as ${producer.user}`);
    expect((await p.ok(['jobs', 'logs', String(id), '--task', '0'])).stdout).toContain('produced');
    await expectNothingRunningOn(own);
    await expectLeasesReleased('own');
    console.info(`ssh 2-step pipeline: ${span(v)}; the blocking launch returned after ${(elapsed / 1000).toFixed(1)} s`);
  });
});
