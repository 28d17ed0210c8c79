// The `ssh_node_pools:` section of $PETREL_HOME/config.yaml: machines the user already has,
// grouped into pools (SkyPilot's ~/.sky/ssh_node_pools.yaml, folded into Petrel's one config
// file). A pool is what a cluster's `region` names.
//
//   ssh_node_pools:
//     gpus:
//       user: ubuntu
//       identity_file: ~/.ssh/id_ed25519
//       port: 22                      # optional, default 22
//       proxy_jump: ubuntu@bastion    # optional, [user@]host[:port], same identity_file
//       hosts:
//         - 10.0.0.1                  # or 10.0.0.1:2200
//         - { ip: 10.0.0.2, user: root, identity_file: ~/.ssh/other, port: 2222 }
//
// Read on every call, so an edit takes effect without restarting anything. Other top-level
// sections belong to other parts of Petrel and are not looked at here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { formatSpecError } from '../../core/spec/errors.js';
import { issueProblems } from '../../core/spec/issues.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from '../../core/spec/problems.js';
import { parseInteger, parseString } from '../../core/spec/scalars.js';
import { YamlProblems } from '../../core/spec/yaml-locations.js';
import { field, required, scalarOrShape, strictShape } from '../../core/spec/zod-kit.js';
import { ProviderError } from '../types.js';

export const SSH_POOLS_KEY = 'ssh_node_pools';

export interface SshHostConfig {
  host: string;
  port: number;
  user: string;
  /** absolute path on this machine */
  identityFile: string;
  /** `[user@]host[:port]` of a bastion to tunnel through */
  proxyJump?: string;
}

export interface SshPoolConfig {
  name: string;
  hosts: SshHostConfig[];
}

export interface SshConfig {
  file: string;
  /** false when config.yaml does not exist */
  exists: boolean;
  pools: Map<string, SshPoolConfig>;
}

export function configPath(home: string): string {
  return path.join(home, 'config.yaml');
}

// ---- validators ---------------------------------------------------------------------------

const parsePort = (v: unknown) => parseInteger(v, { min: 1, max: 65535 });

function parseHostName(v: unknown): Parsed<string> {
  const s = parseString(v, 'an IP address or host name');
  if (!s.ok) return s;
  const host = s.value.trim();
  if (/[\s@/]/.test(host)) return fail(`${showValue(host)} is not an IP address or host name`);
  return ok(host);
}

function parseUser(v: unknown): Parsed<string> {
  const s = parseString(v, 'a user name');
  if (!s.ok) return s;
  if (/[\s@:/]/.test(s.value)) return fail(`${showValue(s.value)} is not a user name`);
  return ok(s.value);
}

interface HostEntry {
  ip: string;
  port?: number;
  user?: string;
  identity_file?: string;
}

/** `10.0.0.1`, `node-a`, `10.0.0.1:2222` or `[fe80::1]:2222`. */
export function parseHostString(v: unknown): Parsed<HostEntry> {
  if (typeof v === 'string') {
    const t = v.trim();
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
    const withPort = /^([^:]+):(\d+)$/.exec(t);
    const m = bracketed ?? withPort;
    if (m) {
      const host = parseHostName(m[1]);
      if (!host.ok) return host;
      if (m[2] === undefined) return ok({ ip: host.value });
      const port = parsePort(Number(m[2]));
      if (!port.ok) return port;
      return ok({ ip: host.value, port: port.value });
    }
    if (t.includes(':') && !/^[0-9a-fA-F:.]+$/.test(t)) return fail(`${showValue(t)} is not an address; write host or host:port`);
  }
  const host = parseHostName(v);
  return host.ok ? ok({ ip: host.value }) : host;
}

export interface JumpSpec {
  host: string;
  port: number;
  user?: string;
}

export function parseProxyJump(v: unknown): Parsed<JumpSpec> {
  const s = parseString(v, 'a jump host ([user@]host[:port])');
  if (!s.ok) return s;
  const m = /^(?:([^@\s]+)@)?([^@\s]+)$/.exec(s.value.trim());
  if (!m) return fail(`${showValue(s.value)} is not a jump host; write [user@]host[:port]`);
  const h = parseHostString(m[2]);
  if (!h.ok) return h;
  return ok({ host: h.value.ip, port: h.value.port ?? 22, ...(m[1] ? { user: m[1] } : {}) });
}

const hostShape = strictShape(
  {
    ip: required('ip', parseHostName),
    user: field(parseUser),
    identity_file: field((v) => parseString(v, 'a path to a private key')),
    port: field(parsePort),
  },
  { what: 'host fields' },
);

const hostEntry = scalarOrShape<HostEntry, z.infer<typeof hostShape>>(parseHostString, hostShape, (o) => ({
  ip: o.ip,
  ...(o.user !== undefined ? { user: o.user } : {}),
  ...(o.identity_file !== undefined ? { identity_file: o.identity_file } : {}),
  ...(o.port !== undefined ? { port: o.port } : {}),
}));

const poolShape = strictShape(
  {
    user: required('user', parseUser),
    identity_file: required('identity_file', (v) => parseString(v, 'a path to a private key')),
    port: field(parsePort),
    hosts: z
      .array(hostEntry, { error: (iss) => `expected a list of hosts, got ${showValue(iss.input)}` })
      .min(1, { error: 'a pool needs at least one host' }),
    proxy_jump: field(parseProxyJump),
  },
  { what: 'SSH node pool fields' },
);

type PoolShape = z.infer<typeof poolShape>;

const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

// ---- reading ------------------------------------------------------------------------------

/** `~` and `~/x` mean this machine's home; a relative path is relative to the config file. */
export function resolveIdentityPath(p: string, configDir: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return path.resolve(configDir, p);
}


export function readSshConfig(home: string): SshConfig {
  const file = configPath(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, exists: false, pools: new Map() };
    throw new ProviderError('config', `cannot read ${file}: ${(err as Error).message}`);
  }
  return parseSshConfig(text, file);
}

export function parseSshConfig(text: string, file: string): SshConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const errors = new YamlProblems(file, doc, lines);
  const pools = new Map<string, SshPoolConfig>();
  const done = () => {
    if (errors.list.length) {
      const sorted = [...errors.list].sort((a, b) => a.line - b.line || a.column - b.column);
      throw new ProviderError('config', sorted.map(formatSpecError).join('\n'));
    }
    return { file, exists: true, pools };
  };
  if (doc.errors.length) {
    for (const e of doc.errors) errors.raw(e.pos[0], `YAML syntax error: ${e.message}`);
    return done();
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return done();
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    errors.raw(0, `YAML error: ${(e as Error).message}`);
    return done();
  }
  if (!isPlainObject(raw)) {
    errors.raw(doc.range?.[0] ?? 0, `expected a mapping of settings, got ${showValue(raw)}`);
    return done();
  }
  const section = raw[SSH_POOLS_KEY];
  if (section === undefined || section === null) return done();
  if (!isPlainObject(section)) {
    errors.problem({ path: [SSH_POOLS_KEY], message: `expected a mapping of pool names to pools, got ${showValue(section)}` });
    return done();
  }
  const configDir = path.dirname(file);
  for (const [name, value] of Object.entries(section)) {
    const at = [SSH_POOLS_KEY, name];
    if (!POOL_NAME.test(name)) {
      errors.problem({ path: at, at: 'key', message: `pool name ${showValue(name)} must start with a letter or digit and use only letters, digits, '.', '_' and '-'` });
      continue;
    }
    const r = poolShape.safeParse(value, { reportInput: true });
    if (!r.success) {
      for (const p of r.error.issues.flatMap(issueProblems)) errors.problem({ ...p, path: [...at, ...p.path] });
      continue;
    }
    const pool = buildPool(name, r.data, configDir, (p) => errors.problem({ ...p, path: [...at, ...p.path] }));
    if (pool) pools.set(name, pool);
  }
  return done();
}

function buildPool(name: string, shape: PoolShape, configDir: string, problem: (p: Problem) => void): SshPoolConfig | undefined {
  const hosts: SshHostConfig[] = [];
  const seen = new Map<string, number>();
  let bad = false;
  shape.hosts.forEach((h, i) => {
    if (h === undefined) {
      problem({ path: ['hosts', i], message: 'empty host entry; write an address or {ip: ...}' });
      bad = true;
      return;
    }
    const host: SshHostConfig = {
      host: h.ip,
      port: h.port ?? shape.port ?? 22,
      user: h.user ?? shape.user,
      identityFile: resolveIdentityPath(h.identity_file ?? shape.identity_file, configDir),
    };
    if (shape.proxy_jump) host.proxyJump = formatJump(shape.proxy_jump);
    const id = `${host.host}:${host.port}`;
    const first = seen.get(id);
    if (first !== undefined) {
      problem({ path: ['hosts', i], message: `${id} is listed twice (also hosts[${first}])` });
      bad = true;
      return;
    }
    seen.set(id, i);
    hosts.push(host);
  });
  return bad ? undefined : { name, hosts };
}

export function formatJump(j: JumpSpec): string {
  const host = j.host.includes(':') ? `[${j.host}]` : j.host;
  return `${j.user ? `${j.user}@` : ''}${host}:${j.port}`;
}
