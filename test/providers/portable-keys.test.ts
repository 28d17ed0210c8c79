// A cloud node launched by one worker home is reachable from a worker in another home that holds
// the team's codec key (the handle carries the node's SSH key sealed with it), and from no other:
// the real AWS provider's runner, a real OpenSSH server standing in for the instance.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localizeNodeKeys, sealNodeKeys, withPortableKeys } from '../../activities/portable-keys.js';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { AwsProvider } from '../../providers/aws/index.js';
import { SshPool } from '../../providers/ssh/connection.js';
import { ProviderError } from '../../providers/types.js';
import { vmNodeHandle } from '../../providers/vm/nodes.js';
import { ensureCloudKey } from '../../providers/vm/ssh-key.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';
import { TCP_RELAY, useAwsTestEnv } from '../support/moto.js';

const TEAM_KEY = crypto.randomBytes(32).toString('base64');

let sshd: SshdCluster;
let launcher: string;
let other: string;
let handle: ClusterHandle;
const pool = new SshPool();

beforeAll(async () => {
  useAwsTestEnv();
  process.env.PETREL_CODEC_KEY = TEAM_KEY;
  sshd = await startSshd(1);
  const h = sshd.hosts[0]!;
  launcher = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-launcher-'));
  other = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-other-'));
  const key = await ensureCloudKey(launcher);
  fs.appendFileSync(sshd.authorizedKeys, `${key.publicKey}\n`);
  const node = vmNodeHandle('shared', { rank: 0, instanceId: 'i-0123456789abcdef0', publicIp: '54.214.0.10' }, {
    sshUser: h.user,
    identityFile: key.privateKeyFile,
    proxyCommand: `${process.execPath} ${TCP_RELAY} ${h.ip} ${h.port} %h %p`,
    useInternalIps: false,
  });
  handle = sealNodeKeys({ provider: 'aws', clusterName: 'shared', region: 'us-east-1', nodes: [node] }, launcher);
});

afterAll(async () => {
  pool.closeAll();
  delete process.env.PETREL_CODEC_KEY;
  await sshd?.stop();
});

describe('cloud node keys across worker homes', () => {
  it('the handle carries the key sealed, never in the clear', () => {
    const sealed = handle.nodes[0]!.data.identity_sealed!;
    expect(sealed).toMatch(/^petrel-sealed:v2:/);
    expect(JSON.stringify(handle)).not.toContain('PRIVATE KEY');
  });

  it('a worker in another home with the team key runs on the node; the key it keeps is private to it', async () => {
    expect(fs.existsSync(path.join(other, 'keys', 'petrel-cloud'))).toBe(false);
    const provider = withPortableKeys(new AwsProvider({ home: other, pool }), other);
    // The launcher's key file is not on the other worker (another machine): only the sealed copy is.
    const elsewhere: ClusterHandle = { ...handle, nodes: handle.nodes.map((n) => ({ ...n, data: { ...n.data, identity_file: '/nonexistent/launcher-home/keys/petrel-cloud' } })) };
    const r = await provider.runner(elsewhere, elsewhere.nodes[0]!).run('echo reached $USER');
    expect(r.stdout.trim()).toBe(`reached ${sshd.hosts[0]!.user}`);
    const received = fs.readdirSync(path.join(other, 'keys', 'received'));
    expect(received).toHaveLength(1);
    expect(fs.statSync(path.join(other, 'keys', 'received', received[0]!)).mode & 0o777).toBe(0o600);
  });

  it('a worker without the team key is told what is missing, and nothing is written', () => {
    const stranger = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-stranger-'));
    const elsewhere: ClusterHandle = { ...handle, nodes: handle.nodes.map((n) => ({ ...n, data: { ...n.data, identity_file: '/nonexistent/k' } })) };
    process.env.PETREL_CODEC_KEY = crypto.randomBytes(32).toString('base64');
    try {
      expect(() => localizeNodeKeys(elsewhere, stranger)).toThrow(ProviderError);
      expect(() => localizeNodeKeys(elsewhere, stranger)).toThrow(/sealed with a codec key this worker does not hold/);
    } finally {
      process.env.PETREL_CODEC_KEY = TEAM_KEY;
    }
    expect(fs.existsSync(path.join(stranger, 'keys'))).toBe(false);
  });

  it('SSH pools keep the user\'s own key: nothing of theirs is sealed', () => {
    const pooled: ClusterHandle = { provider: 'ssh', clusterName: 'p', region: 'pool', nodes: [{ rank: 0, id: 'h', ip: '127.0.0.1', data: { identity_file: '/home/u/.ssh/id_ed25519' } }] };
    expect(sealNodeKeys(pooled, launcher)).toBe(pooled);
  });
});
