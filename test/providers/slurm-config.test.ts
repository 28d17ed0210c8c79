// Slurm clusters: SkyPilot's ~/.slurm/config (OpenSSH syntax) joined with config.yaml's slurm:
// section; what is accepted, and errors that point at file:line:col.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatSpecError } from '../../core/spec/errors.js';
import { parseSlurmSection, parseSlurmSshConfig, readSlurmConfig, splitShellWords } from '../../providers/slurm/config.js';
import { ProviderError } from '../../providers/types.js';

const SSH = '/home/u/.slurm/config';
const YAML = '/home/u/.petrel/config.yaml';
const HOME = os.homedir();
const ME = os.userInfo().username;

const lines = (...l: string[]) => l.join('\n');

function sshProblems(text: string): string[] {
  return parseSlurmSshConfig(text, SSH).problems.map(formatSpecError);
}

function sectionProblems(yaml: string, sshText = ''): string[] {
  return parseSlurmSection(yaml, YAML, parseSlurmSshConfig(sshText, SSH)).problems.map(formatSpecError);
}

const TWO_HOSTS = lines(
  '# SkyPilot Slurm clusters',
  'Host mycluster',
  '    HostName login.mycluster.org',
  '    User alice',
  '    IdentityFile ~/.ssh/id_rsa',
  'Host other',
  '    Port 2222',
  'Host *',
  '    IdentityFile ~/.ssh/default',
  '    User bob',
  '    ServerAliveInterval 60',
);

describe('~/.slurm/config', () => {
  it('reads Hosts with OpenSSH semantics: Host * gives defaults, the first value obtained wins', () => {
    const r = parseSlurmSshConfig(TWO_HOSTS, SSH);
    expect(r.problems).toEqual([]);
    expect(r.aliases).toEqual(['mycluster', 'other']);
    expect(r.logins.get('mycluster')).toEqual({
      kind: 'ssh',
      alias: 'mycluster',
      host: 'login.mycluster.org',
      port: 22,
      user: 'alice',
      identityFile: path.join(HOME, '.ssh/id_rsa'),
    });
    expect(r.logins.get('other')).toEqual({
      kind: 'ssh',
      alias: 'other',
      host: 'other',
      port: 2222,
      user: 'bob',
      identityFile: path.join(HOME, '.ssh/default'),
    });
  });

  it('applies keywords before the first Host to all, and gives a multi-name Host line to each name', () => {
    const r = parseSlurmSshConfig(lines('IdentityFile keys/k', 'Host a b !c *.org', '  Port 2200', 'Host c'), SSH);
    expect(r.problems).toEqual([]);
    expect(r.aliases).toEqual(['a', 'b', 'c']);
    const login = (alias: string, port: number) => ({ kind: 'ssh', alias, host: alias, port, user: ME, identityFile: path.join(HOME, 'keys/k') });
    expect([...r.logins.values()]).toEqual([login('a', 2200), login('b', 2200), login('c', 22)]);
  });

  it('takes Key=value, Key = value, quotes, mixed-case keywords and trailing comments', () => {
    const r = parseSlurmSshConfig(
      lines('host=q', '  HOSTNAME="login.q.org"   # the login node', '  port = 2022', "  identityfile '~/my keys/id'", '  User=me'),
      SSH,
    );
    expect(r.problems).toEqual([]);
    expect(r.logins.get('q')).toEqual({ kind: 'ssh', alias: 'q', host: 'login.q.org', port: 2022, user: 'me', identityFile: path.join(HOME, 'my keys/id') });
  });

  it('takes one ProxyJump hop, formatted, and refuses a chain', () => {
    const r = parseSlurmSshConfig(lines('Host a', '  ProxyJump jump@bastion:2022', 'Host b', '  ProxyJump bastion', 'Host *', '  IdentityFile /k'), SSH);
    expect(r.logins.get('a')?.proxyJump).toBe('jump@bastion:2022');
    expect(r.logins.get('b')?.proxyJump).toBe('bastion:22');
    expect(sshProblems(lines('Host a', '  IdentityFile /k', '  ProxyJump j1,j2'))).toEqual([
      `${SSH}:3:13: ProxyJump: 'j1,j2' is a chain of jump hosts, which Petrel does not support; give one hop: [user@]host[:port]`,
    ]);
  });

  it('refuses Match and Include, and reports bad values at their line', () => {
    expect(
      sshProblems(
        lines(
          'Host a', // 1
          '  IdentityFile /k', // 2
          '  ProxyCommand ssh -W %h:%p -l %u bastion', // 3
          '  Port abc', // 4
          'Host b', // 5
          '  Port 70000', // 6
          '  HostName "login', // 7
          '  User', // 8
          'Include other.conf', // 9
          'Match host x', // 10
        ),
      ),
    ).toEqual([
      `${SSH}:3:16: ProxyCommand: '%u' is not supported in ProxyCommand (only %h, %n, %p, %r, %%)`,
      `${SSH}:4:8: Port: 'abc' is not a port number (1 to 65535)`,
      `${SSH}:6:8: Port: '70000' is not a port number (1 to 65535)`,
      `${SSH}:7:12: HostName: unterminated double quote`,
      `${SSH}:8:3: User: missing value`,
      `${SSH}:9:1: Include: Include is not supported; put the Host blocks in this file`,
      `${SSH}:10:1: Match: Match blocks are not supported; use Host blocks`,
    ]);
    // `ProxyCommand none` is the same as none at all
    expect(sshProblems(lines('Host a', '  IdentityFile /k', '  ProxyCommand none'))).toEqual([]);
  });

  it('takes ProxyCommand as OpenSSH does: the rest of the line, for the shell, with %h %p %r %n expanded', () => {
    const r = parseSlurmSshConfig(
      lines('Host a', '  HostName login.a', '  User me', '  Port 2200', "  ProxyCommand=ssh -q -W '%h:%p' gw.example.org # %n as %r", '  IdentityFile /k', 'Host b', '  IdentityFile /k', '  ProxyJump gw', '  ProxyCommand nc %h %p'),
      SSH,
    );
    expect(r.logins.get('a')).toMatchObject({ host: 'login.a', port: 2200, proxyCommand: "ssh -q -W 'login.a:2200' gw.example.org # a as me" });
    expect(r.logins.has('b')).toBe(false);
    expect(r.problems.map(formatSpecError)).toEqual([`${SSH}:7:6: ProxyCommand: Host 'b' has both ProxyJump and ProxyCommand; keep one`]);
  });

  it('a Host without IdentityFile is incomplete (reported only when used)', () => {
    const r = parseSlurmSshConfig(lines('Host a', '  User me', 'Host b c', '  IdentityFile /k'), SSH);
    expect(r.problems).toEqual([]);
    expect([...r.logins.keys()]).toEqual(['b', 'c']);
    expect([...r.incomplete.values()].map(formatSpecError)).toEqual([
      `${SSH}:1:6: IdentityFile: Host 'a' has no IdentityFile; add one to its Host block or to a 'Host *' block (SkyPilot requires it too)`,
    ]);
  });
});

describe('config.yaml slurm: section', () => {
  it('reads clusters: login local or a Host, partitions, sbatch_args as a list or a string, timeouts', () => {
    const r = parseSlurmSection(
      lines(
        'ssh_node_pools: {}', // not ours
        'slurm:',
        '  provision_timeout: 900',
        '  here:',
        '    login: local',
        '    account: proj1',
        '    qos: normal',
        "    constraint: 'a100&ib'",
        '    partitions: [gpu, debug]',
        "    sbatch_args: ['--exclusive', '--reservation=r1']",
        '    provision_timeout_seconds: 300',
        '  mycluster:',
        `    sbatch_args: "--exclusive --reservation='r 1' --time=10"`,
        '  alias-of-other:',
        '    login: other',
      ),
      YAML,
      parseSlurmSshConfig(TWO_HOSTS, SSH),
    );
    expect(r.problems).toEqual([]);
    // `other` is alias-of-other's login node, not a cluster of its own without its settings
    expect([...r.clusters.keys()]).toEqual(['here', 'mycluster', 'alias-of-other']);
    expect(r.disallowed).toEqual([]);
    expect(r.clusters.get('here')).toEqual({
      name: 'here',
      login: { kind: 'local' },
      account: 'proj1',
      qos: 'normal',
      constraint: 'a100&ib',
      partitions: ['gpu', 'debug'],
      sbatchArgs: ['--exclusive', '--reservation=r1'],
      provisionTimeoutSeconds: 300,
    });
    const mycluster = r.clusters.get('mycluster')!;
    expect(mycluster.login).toMatchObject({ kind: 'ssh', alias: 'mycluster', host: 'login.mycluster.org' });
    expect(mycluster.sbatchArgs).toEqual(['--exclusive', '--reservation=r 1', '--time=10']);
    expect(mycluster.provisionTimeoutSeconds).toBe(900);
    expect(r.clusters.get('alias-of-other')!.login).toMatchObject({ kind: 'ssh', alias: 'other', port: 2222 });
    expect(r.clusters.has('other')).toBe(false);
  });

  it('splits an sbatch_args string like a shell', () => {
    expect(splitShellWords(`--exclusive --reservation='r 1' "--x=\\"y\\"" a\\ b # comment`)).toEqual({
      ok: true,
      value: ['--exclusive', '--reservation=r 1', '--x="y"', 'a b'],
    });
    expect(splitShellWords(`--a='b`).ok).toBe(false);
  });

  it('refuses sbatch options Petrel sets itself, naming the key to use', () => {
    expect(
      sectionProblems(
        lines(
          'slurm:', // 1
          '  c:', // 2
          '    login: local', // 3
          "    sbatch_args: ['--exclusive', '--partition=gpu', '-A', 'proj', '--part=x']", // 4
          '  d:', // 5
          "    login: local", // 6
          "    sbatch_args: '--qos=high --ntasks=4 -N 2'", // 7
        ),
      ),
    ).toEqual([
      `${YAML}:4:34: slurm.c.sbatch_args[1]: '--partition=gpu' sets --partition/-p, which Petrel sets itself; use 'partitions' in this cluster's settings (or infra: slurm/CLUSTER/PARTITION)`,
      `${YAML}:4:53: slurm.c.sbatch_args[2]: '-A' sets --account/-A, which Petrel sets itself; use 'account' in this cluster's settings`,
      `${YAML}:4:59: slurm.c.sbatch_args[3]: 'proj' is not an option; each entry must start with '-' (write --name=value as one entry)`,
      `${YAML}:4:67: slurm.c.sbatch_args[4]: '--part=x' sets --partition/-p, which Petrel sets itself; use 'partitions' in this cluster's settings (or infra: slurm/CLUSTER/PARTITION)`,
      `${YAML}:7:18: slurm.d.sbatch_args: '--qos=high' sets --qos/-q, which Petrel sets itself; use 'qos' in this cluster's settings`,
      `${YAML}:7:18: slurm.d.sbatch_args: '-N' sets --nodes/-N, which Petrel sets itself; Petrel sets it from the task's num_nodes`,
      `${YAML}:7:18: slurm.d.sbatch_args: '2' is not an option; each entry must start with '-' (write --name=value as one entry)`,
    ]);
  });

  it('checks names, words, partitions and timeouts with file:line:col and the dotted field', () => {
    expect(
      sectionProblems(
        lines(
          'slurm:', // 1
          '  provision_timeout: 0', // 2
          '  bad name:', // 3
          '    login: local', // 4
          '  c:', // 5
          '    login: local', // 6
          "    account: 'two words'", // 7
          '    partitions: [gpu, debug, gpu]', // 8
          '    provision_timeout_seconds: 1.5', // 9
          '    acount: x', // 10
          '  e:', // 11
          '    login: local', // 12
          '    partitions: []', // 13
        ),
      ),
    ).toEqual([
      `${YAML}:2:22: slurm.provision_timeout: 0 is out of range; expected a positive whole number of seconds`,
      `${YAML}:3:3: slurm['bad name']: cluster name 'bad name' must start with a letter or digit and use only letters, digits, '.', '_' and '-'`,
      `${YAML}:7:14: slurm.c.account: 'two words' contains whitespace; expected an account name`,
      `${YAML}:8:30: slurm.c.partitions[2]: 'gpu' is listed twice (also partitions[0])`,
      `${YAML}:9:32: slurm.c.provision_timeout_seconds: expected a positive whole number of seconds, got 1.5`,
      `${YAML}:10:5: slurm.c.acount: unknown field 'acount'; allowed fields: login, account, qos, constraint, partitions, sbatch_args, provision_timeout_seconds; did you mean 'account'?`,
      `${YAML}:13:17: slurm.e.partitions: must not be empty; leave 'partitions' out to use the cluster's default partition`,
    ]);
  });

  it('a login naming an unknown Host lists the known ones; a cluster with neither login nor Host asks for one', () => {
    expect(
      sectionProblems(
        lines(
          'slurm:', // 1
          '  c:', // 2
          '    login: mycluste', // 3
          '  only-here:', // 4
          '    account: p', // 5
        ),
        TWO_HOSTS,
      ),
    ).toEqual([
      `${YAML}:3:12: slurm.c.login: no Host 'mycluste' in ${SSH}; its Hosts: mycluster, other; did you mean 'mycluster'? (or write 'login: local' to run Slurm commands on this machine)`,
      `${YAML}:4:3: slurm.only-here: cluster 'only-here' has no login: write 'login: local' to run Slurm commands on this machine, or 'login: <Host>' naming a Host of ${SSH}; its Hosts: mycluster, other`,
    ]);
  });

  it('without ~/.slurm/config a login must be local', () => {
    expect(sectionProblems(lines('slurm:', '  c:', '    login: gw', '  d: {}'))).toEqual([
      `${YAML}:3:12: slurm.c.login: no Host 'gw' in ${SSH}; it has none (or write 'login: local' to run Slurm commands on this machine)`,
      `${YAML}:4:3: slurm.d: cluster 'd' has no login: write 'login: local' to run Slurm commands on this machine, or 'login: <Host>' naming a Host of ${SSH}; it has none`,
    ]);
  });

  it('allowed_clusters keeps the named clusters, lists the others, and refuses a name that exists nowhere', () => {
    const ssh = parseSlurmSshConfig(TWO_HOSTS, SSH);
    const r = parseSlurmSection(lines('slurm:', '  allowed_clusters: [other, here]', '  here: {login: local}', '  there: {login: local}'), YAML, ssh);
    expect(r.problems).toEqual([]);
    expect([...r.clusters.keys()]).toEqual(['here', 'other']);
    expect(r.disallowed).toEqual(['there', 'mycluster']);

    expect(sectionProblems(lines('slurm:', '  allowed_clusters: [mycluster, othr]'), TWO_HOSTS)).toEqual([
      `${YAML}:2:33: slurm.allowed_clusters[1]: no cluster 'othr': neither a key of slurm: here nor a Host of ${SSH}; clusters: mycluster, other; did you mean 'other'?`,
    ]);
    expect(sectionProblems(lines('slurm:', '  allowed_clusters: some'))).toEqual([
      `${YAML}:2:21: slurm.allowed_clusters: expected a list of cluster names or 'all', got 'some'`,
    ]);
  });

  it('a Host without IdentityFile is a problem once used, not when allowed_clusters leaves it out', () => {
    const sshText = lines('Host a', '  User me', 'Host b', '  IdentityFile /k');
    expect(sectionProblems('', sshText)).toEqual([
      `${SSH}:1:6: IdentityFile: Host 'a' has no IdentityFile; add one to its Host block or to a 'Host *' block (SkyPilot requires it too)`,
    ]);
    expect(sectionProblems('slurm:\n  allowed_clusters: [b]\n', sshText)).toEqual([]);
  });

  it('no slurm: section and no Hosts means no clusters', () => {
    for (const text of ['', 'local:\n  regions: [a]\n', 'slurm:\n']) {
      const r = parseSlurmSection(text, YAML, parseSlurmSshConfig('', SSH));
      expect(r).toEqual({ clusters: new Map(), disallowed: [], problems: [] });
    }
    // without a slurm: section every Host of ~/.slurm/config is a cluster with Petrel's defaults
    const hosts = parseSlurmSection('local:\n  regions: [a]\n', YAML, parseSlurmSshConfig(TWO_HOSTS, SSH));
    expect([...hosts.clusters.values()].map((c) => [c.name, c.login.kind, c.provisionTimeoutSeconds])).toEqual([
      ['mycluster', 'ssh', 600],
      ['other', 'ssh', 600],
    ]);
    expect(sectionProblems('slurm: [a]\n')).toEqual([`${YAML}:1:8: slurm: expected a mapping of cluster names to their settings, got ["a"]`]);
  });
});

describe('readSlurmConfig', () => {
  let dir: string;
  let saved: string | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-slurmcfg-'));
    saved = process.env.PETREL_SLURM_CONFIG;
    process.env.PETREL_SLURM_CONFIG = path.join(dir, 'slurm-config');
  });

  afterEach(() => {
    if (saved === undefined) delete process.env.PETREL_SLURM_CONFIG;
    else process.env.PETREL_SLURM_CONFIG = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('no files at all: no clusters, no error', () => {
    expect(readSlurmConfig(dir)).toEqual({
      files: { sshConfig: path.join(dir, 'slurm-config'), petrelConfig: path.join(dir, 'config.yaml') },
      clusters: new Map(),
      disallowed: [],
    });
  });

  it('reads both files, and throws a config error listing every problem of both', () => {
    const sshFile = path.join(dir, 'slurm-config');
    const yamlFile = path.join(dir, 'config.yaml');
    fs.writeFileSync(sshFile, TWO_HOSTS);
    fs.writeFileSync(yamlFile, lines('slurm:', '  allowed_clusters: [mycluster, gpu]', '  gpu:', '    login: local', '    partitions: [a100]'));
    const cfg = readSlurmConfig(dir);
    expect([...cfg.clusters.keys()]).toEqual(['gpu', 'mycluster']);
    expect(cfg.clusters.get('gpu')!.partitions).toEqual(['a100']);
    expect(cfg.disallowed).toEqual(['other']);

    fs.writeFileSync(sshFile, lines('Host a', '  IdentityFile /k', '  Port abc'));
    fs.writeFileSync(yamlFile, lines('slurm:', '  b:', '    login: local', '    qos: 7'));
    let err: unknown;
    try {
      readSlurmConfig(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('config');
    expect((err as Error).message).toBe(
      [
        `${sshFile}:3:8: Port: 'abc' is not a port number (1 to 65535)`,
        `${yamlFile}:4:10: slurm.b.qos: expected a QOS name, got 7 (quote it: '7')`,
      ].join('\n'),
    );
  });
});
