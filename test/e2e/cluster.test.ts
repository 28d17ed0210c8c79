// `petrel launch/exec/queue/logs/cancel/down` against a real Temporal dev server and worker
// that the CLI itself starts (the embedded default), on the local provider.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

interface QueueJson {
  cluster: string;
  status: string;
  jobs: Array<{ id: number; status: string; exitCodes?: (number | null)[]; name?: string; taskId: string }>;
}

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
});

afterAll(async () => {
  await p?.destroy();
});

async function queue(cluster: string): Promise<QueueJson> {
  const all = await p.json<QueueJson[]>(['queue', cluster]);
  return all[0]!;
}

describe('launch on the embedded default', () => {
  it('starts the server and worker itself, streams the output and exits 0', async () => {
    const r = await p.run(['launch', 'examples/hello.yaml', '-c', 'hello', '-y']);
    expect(r.stderr).toContain('Started Temporal dev server on');
    expect(r.stdout).toContain('Setting up on node 0');
    expect(r.stdout).toMatch(/Hello from Petrel, task petrel-\d{8}-\d{6}_hello_1 on node 0 of 1/);
    expect(r.stderr).toContain('Job 1 SUCCEEDED');
    expect(r.code).toBe(0);
    const q = await queue('hello');
    expect(q.status).toBe('UP');
    expect(q.jobs).toMatchObject([{ id: 1, name: 'hello', status: 'SUCCEEDED', exitCodes: [0] }]);
    const status = await p.json<Array<{ name: string; status: string; infra: string }>>(['status']);
    expect(status).toEqual([expect.objectContaining({ name: 'hello', status: 'UP', infra: 'local' })]);
  });

  it('a failing run gives FAILED and its exit code', async () => {
    const r = await p.run(['launch', '-c', 'fails', '-y', '--down', 'echo about to fail; exit 3']);
    expect(r.stdout).toContain('about to fail');
    expect(r.stderr).toContain('Job 1 FAILED');
    expect(r.code).toBe(3);
  });

  it('a failing setup gives FAILED_SETUP and the run never starts', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'task-'));
    const yaml = path.join(dir, 'bad-setup.yaml');
    fs.writeFileSync(yaml, 'setup: exit 7\nrun: echo must-not-run\n');
    const r = await p.run(['launch', yaml, '-c', 'badsetup', '-y']);
    expect(r.code).toBe(7);
    expect(r.stdout).not.toContain('must-not-run');
    expect((await queue('badsetup')).jobs[0]).toMatchObject({ status: 'FAILED_SETUP' });
  });

  it('exec runs a second job on the existing cluster, without setup', async () => {
    const r = await p.run(['exec', 'hello', 'echo second job $PETREL_TASK_ID']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/second job petrel-\d{8}-\d{6}_hello_2/);
    expect(r.stdout).not.toContain('Setting up');
    const q = await queue('hello');
    expect(q.jobs.map((j) => [j.id, j.status])).toEqual([
      [1, 'SUCCEEDED'],
      [2, 'SUCCEEDED'],
    ]);
  });

  it('exec on a cluster that does not exist says so and exits 1', async () => {
    const r = await p.run(['exec', 'nosuch', 'echo hi']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cluster 'nosuch' does not exist");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('runs multi-node jobs with ranks, node IPs and the synced workdir on every node', async () => {
    const r = await p.run(['launch', 'examples/multinode.yaml', '-c', 'mn', '-y', '--down']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(node 0) rank 0 of 2, head at 127.0.0.1');
    expect(r.stdout).toContain('(node 1) rank 1 of 2, head at 127.0.0.1');
    expect(r.stdout.match(/workdir synced to every node/g)).toHaveLength(2);
    await waitFor('cluster mn to go', () => !fs.existsSync(p.clusterDir('mn')) || undefined);
  });

  it('file_mounts of a directory and of a file reach every node', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'mounts-'));
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 'a.txt'), 'from a dir\n');
    fs.writeFileSync(path.join(dir, 'token.txt'), 'from a file\n');
    const yaml = path.join(dir, 'mounts.yaml');
    fs.writeFileSync(yaml, `num_nodes: 2\nfile_mounts:\n  ~/data: ${dir}/data\n  ~/conf/token.txt: ${dir}/token.txt\nrun: cat ~/data/a.txt ~/conf/token.txt\n`);
    const r = await p.ok(['launch', yaml, '-c', 'mounts', '-y', '--down']);
    for (const node of [0, 1]) {
      expect(r.stdout).toContain(`(node ${node}) from a dir`);
      expect(r.stdout).toContain(`(node ${node}) from a file`);
    }
    fs.writeFileSync(yaml, 'file_mounts:\n  /data: s3://bucket/data\nrun: echo never\n');
    const refused = await p.run(['launch', yaml, '-c', 'mounts2', '-y']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('file_mounts./data: bucket mounts run with managed jobs for now (petrel jobs launch)');
  });

  it('multi-node gang: one node failing stops the others and fails the job', async () => {
    const r = await p.run(['launch', '-c', 'gang', '-y', '--num-nodes', '2', '--down', 'if [ "$PETREL_NODE_RANK" = 1 ]; then exit 4; fi; sleep 60']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('FAILED');
  });

  it('-d returns at once; logs --follow streams until the job ends; cancel kills the process group', async () => {
    const marker = path.join(p.home, 'cancel-pid');
    const r = await p.ok(['launch', '-c', 'bg', '-y', '-d', `echo $$ > ${marker}; echo started; sleep 300 & wait`]);
    expect(r.stderr).toContain('Job 1 submitted');
    const pid = await waitFor('job pid', () => (fs.existsSync(marker) ? Number(fs.readFileSync(marker, 'utf8')) : undefined));
    expect(alive(pid)).toBe(true);
    const logs = await p.ok(['logs', 'bg', '1']);
    expect(logs.stdout).toContain('started');
    const cancel = await p.ok(['cancel', 'bg', '1']);
    expect(cancel.stdout).toContain('Job 1: CANCELLED');
    await waitFor('job process to die', () => !alive(pid) || undefined, 20_000);
    expect((await queue('bg')).jobs[0]?.status).toBe('CANCELLED');

    const follow = p.run(['exec', 'bg', '-d', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']);
    expect((await follow).code).toBe(0);
    const followed = await p.ok(['logs', 'bg', '2', '--follow']);
    expect(followed.stdout).toBe('tick 1\ntick 2\ntick 3\n');
  });

  it('down leaves no processes and no node directories behind', async () => {
    const marker = path.join(p.home, 'down-pid');
    await p.ok(['launch', '-c', 'doomed', '-y', '-d', '--num-nodes', '2', `echo $$ >> ${marker}; sleep 300`]);
    const pids = await waitFor('both nodes to start', () => {
      const lines = fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8').trim().split('\n') : [];
      return lines.length === 2 ? lines.map(Number) : undefined;
    });
    expect(fs.existsSync(p.clusterDir('doomed'))).toBe(true);
    const r = await p.ok(['down', 'doomed', 'hello', '-y']);
    expect(r.stdout).toContain("Cluster 'doomed' terminated.");
    expect(r.stdout).toContain("Cluster 'hello' terminated.");
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(fs.existsSync(p.clusterDir('doomed'))).toBe(false);
    expect(fs.existsSync(p.clusterDir('hello'))).toBe(false);
    const status = await p.json<Array<{ name: string }>>(['status']);
    expect(status.map((s) => s.name)).not.toContain('doomed');
    const again = await p.run(['down', 'doomed', '-y']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("cluster 'doomed' does not exist");
  });

  it('secrets reach the job; the raw history holds no plaintext, and even decrypted it holds no secret', async () => {
    const secret = 'sk-very-secret-value-123';
    const r = await p.run(['launch', '-c', 'sec', '-y', '--down', '--secret', `API_TOKEN=${secret}`, '--env', 'PLAIN=visible-env', 'echo token-length=${#API_TOKEN} plain=$PLAIN']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`token-length=${secret.length} plain=visible-env`);
    // read without the key: every payload is ciphertext (search attributes stay plaintext)
    const raw = await fetchHistoryText(p, 'cluster/sec');
    expect(raw).toContain('PetrelCluster');
    for (const plain of [secret, 'visible-env', 'token-length', 'API_TOKEN']) expect(raw).not.toContain(plain);
    // decrypted with the home's key, as the UI's codec endpoint shows it: the env, but the secret stays sealed
    const decoded = await decodedHistoryText(p, 'cluster/sec');
    expect(decoded).toContain('visible-env');
    expect(decoded).toContain('token-length');
    expect(decoded).toContain('API_TOKEN');
    expect(decoded).not.toContain(secret);
  });

  it('server status reports addresses, pids and a polling worker', async () => {
    const s = await p.json<{ address: string; uiUrl: string; server: { running: boolean; pid: number }; worker: { running: boolean; polling: boolean; pid: number } }>(['server', 'status']);
    expect(s.address).toBe(p.address);
    expect(s.uiUrl).toBe(`http://127.0.0.1:${p.port + 1000}`);
    expect(s.server.running).toBe(true);
    expect(s.worker).toMatchObject({ running: true, polling: true, pid: p.pidOf('worker') });
  });
});

/** The history with every payload run through the home's codec: what a key holder sees. */
async function decodedHistoryText(env: PetrelEnv, workflowId: string): Promise<string> {
  const { EncryptionCodec } = await import('../../codec/encryption-codec.js');
  const { loadKeyring } = await import('../../codec/keys.js');
  const codec = new EncryptionCodec(loadKeyring(env.home));
  const raw = JSON.parse(await fetchHistoryText(env, workflowId, false)) as unknown;
  const decode = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const meta = o.metadata as Record<string, string> | undefined;
      if (meta && typeof o.data === 'string' && Buffer.from(meta.encoding ?? '', 'base64').toString() === 'binary/encrypted') {
        const payload = codec.decrypt({
          metadata: Object.fromEntries(Object.entries(meta).map(([k, x]) => [k, Buffer.from(x, 'base64')])),
          data: Buffer.from(o.data, 'base64'),
        });
        return Buffer.from(payload.data ?? []).toString('utf8');
      }
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decode(x)]));
    }
    return v;
  };
  return JSON.stringify(decode(raw));
}

async function fetchHistoryText(env: PetrelEnv, workflowId: string, readable = true): Promise<string> {
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address: env.address });
  try {
    const client = new Client({ connection });
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    // Payload data is base64 in the JSON form: decode it, so any plaintext would show.
    if (!readable) return JSON.stringify(history, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));
    return JSON.stringify(history, (k, v) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
  } finally {
    await connection.close();
  }
}
