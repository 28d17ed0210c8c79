// ssh_node_pools in config.yaml: what is accepted, and errors that point at file:line:col.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSshConfig } from '../../providers/ssh/config.js';
import { SshProvider } from '../../providers/ssh/index.js';
import { ProviderError } from '../../providers/types.js';

let home: string;

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-sshcfg-'));
});

afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true });
});

function write(text: string): string {
  const file = path.join(home, 'config.yaml');
  fs.writeFileSync(file, text);
  return file;
}

function errorOf(text: string): string {
  const file = write(text);
  try {
    readSshConfig(home);
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('config');
    return (err as Error).message.replaceAll(file, 'config.yaml');
  }
  throw new Error('expected a config error');
}

describe('ssh_node_pools config', () => {
  it('reads pools with defaults, per-host overrides, host:port and ~ in identity_file', () => {
    write(
      [
        'local:',
        '  regions: [a]', // other sections are not ours to judge
        'ssh_node_pools:',
        '  gpus:',
        '    user: ubuntu',
        '    identity_file: ~/.ssh/id_ed25519',
        '    port: 2200',
        '    proxy_jump: jump@bastion:2022',
        '    hosts:',
        '      - 10.0.0.1',
        '      - 10.0.0.2:2222',
        '      - {ip: 10.0.0.3, user: root, identity_file: keys/other, port: 22}',
        '  cpus:',
        '    user: me',
        '    identity_file: /abs/key',
        '    hosts: [node-a]',
      ].join('\n'),
    );
    const cfg = readSshConfig(home);
    expect([...cfg.pools.keys()]).toEqual(['gpus', 'cpus']);
    const jump = 'jump@bastion:2022';
    expect(cfg.pools.get('gpus')!.hosts).toEqual([
      { host: '10.0.0.1', port: 2200, user: 'ubuntu', identityFile: path.join(os.homedir(), '.ssh/id_ed25519'), proxyJump: jump },
      { host: '10.0.0.2', port: 2222, user: 'ubuntu', identityFile: path.join(os.homedir(), '.ssh/id_ed25519'), proxyJump: jump },
      { host: '10.0.0.3', port: 22, user: 'root', identityFile: path.join(home, 'keys/other'), proxyJump: jump },
    ]);
    expect(cfg.pools.get('cpus')!.hosts).toEqual([{ host: 'node-a', port: 22, user: 'me', identityFile: '/abs/key' }]);
  });

  it('no file, or no ssh_node_pools section, means no pools', async () => {
    expect(readSshConfig(home).pools.size).toBe(0);
    write('local:\n  regions: [a]\n');
    expect(readSshConfig(home).pools.size).toBe(0);
    const check = await new SshProvider({ home }).check();
    expect(check).toEqual({ provider: 'ssh', enabled: false, detail: `no ssh_node_pools in ${path.join(home, 'config.yaml')}` });
  });

  it('points at the line, column and field of each mistake', () => {
    expect(
      errorOf(
        [
          'ssh_node_pools:', // 1
          '  gpus:', // 2
          '    user: ubuntu', // 3
          '    identity_file: ~/.ssh/k', // 4
          '    hosts:', // 5
          '      - 10.0.0.1', // 6
          '      - {ip: 10.0.0.2, port: 70000}', // 7
        ].join('\n'),
      ),
    ).toBe('config.yaml:7:30: ssh_node_pools.gpus.hosts[1].port: 70000 is out of range; expected an integer from 1 to 65535');

    expect(
      errorOf(['ssh_node_pools:', '  gpus:', '    user: ubuntu', '    identity_fle: ~/.ssh/k', '    hosts: [10.0.0.1]'].join('\n')),
    ).toBe(
      [
        "config.yaml:2:3: ssh_node_pools.gpus.identity_file: missing required field 'identity_file'",
        "config.yaml:4:5: ssh_node_pools.gpus.identity_fle: unknown field 'identity_fle'; allowed fields: user, identity_file, port, hosts, proxy_jump; did you mean 'identity_file'?",
      ].join('\n'),
    );

    expect(errorOf(['ssh_node_pools:', '  p:', '    user: u', '    identity_file: k', '    hosts: []'].join('\n'))).toBe(
      'config.yaml:5:12: ssh_node_pools.p.hosts: a pool needs at least one host (got [])',
    );

    expect(
      errorOf(['ssh_node_pools:', '  p:', '    user: u', '    identity_file: k', '    hosts:', '      - 10.0.0.1', '      - 10.0.0.1:22'].join('\n')),
    ).toBe('config.yaml:7:9: ssh_node_pools.p.hosts[1]: 10.0.0.1:22 is listed twice (also hosts[0])');

    expect(
      errorOf(['ssh_node_pools:', '  p:', '    user: u', '    identity_file: k', '    hosts:', '      - {ip: 10.0.0.1, pot: 22}'].join('\n')),
    ).toBe(
      "config.yaml:6:24: ssh_node_pools.p.hosts[0].pot: unknown field 'pot'; allowed fields: ip, user, identity_file, port; did you mean 'port'?",
    );

    expect(errorOf('ssh_node_pools:\n  p: [1, 2]\n')).toBe('config.yaml:2:6: ssh_node_pools.p: expected a mapping of SSH node pool fields, got [1,2]');
    expect(errorOf('ssh_node_pools:\n  p:\n    user: u\n  bad: [\n')).toMatch(/^config\.yaml:\d+:\d+: YAML syntax error: /);
    expect(errorOf('ssh_node_pools: [a]\n')).toBe("config.yaml:1:17: ssh_node_pools: expected a mapping of pool names to pools, got [\"a\"]");
  });

  it('check reports a broken config and provision refuses it, as config errors', async () => {
    write('ssh_node_pools:\n  p:\n    user: u\n    identity_file: k\n    hosts: [10.0.0.1]\n    port: zero\n');
    const provider = new SshProvider({ home });
    const check = await provider.check();
    expect(check.enabled).toBe(false);
    expect(check.detail).toContain("config.yaml:6:11: ssh_node_pools.p.port: expected an integer from 1 to 65535, got 'zero'");
    await expect(provider.provision({ clusterName: 'c', numNodes: 1, region: 'p', useSpot: false, idempotencyKey: 'k' })).rejects.toMatchObject({
      kind: 'config',
      message: expect.stringContaining('ssh_node_pools.p.port'),
    });
  });
});
