// Which Slurm clusters Petrel may use, and how. Two files, both read on every call so an edit
// takes effect without restarting anything:
//
// 1. SkyPilot's ~/.slurm/config ($PETREL_SLURM_CONFIG overrides the path), in OpenSSH client
//    config syntax so a SkyPilot user brings it unchanged. Each `Host` name is a cluster whose
//    login node is reached over SSH (unless a cluster of config.yaml uses it as its `login`):
//
//      Host mycluster
//          HostName login.mycluster.org   # default: the name itself
//          User me                        # default: this machine's user
//          IdentityFile ~/.ssh/id_rsa     # required (as in SkyPilot)
//          Port 22                        # optional
//          ProxyJump me@bastion:22        # optional: one hop, same key
//          ProxyCommand ssh -W %h:%p gw   # optional, instead of ProxyJump: run with /bin/sh
//
//    OpenSSH semantics: keywords are case-insensitive, `Key value` or `Key=value`, settings
//    before the first Host and in wildcard blocks (`Host *`) apply to every matching name, and
//    the first value obtained wins. Other keywords are ignored; Match and Include are refused
//    (Petrel connects with its own SSH client, so only what it understands may shape a login).
//
// 2. The `slurm:` section of $PETREL_HOME/config.yaml, Petrel's per-cluster settings:
//
//      slurm:
//        allowed_clusters: [a, b]         # or 'all' (the default)
//        provision_timeout: 600           # seconds, for every cluster
//        mycluster:                       # any other key is a cluster
//          login: local                   # or a Host of ~/.slurm/config (default: the Host named mycluster)
//          account: proj1
//          qos: normal
//          constraint: 'a100&ib'
//          partitions: [gpu, debug]       # preference order
//          sbatch_args: ['--exclusive']   # or one string, split like a shell would
//          provision_timeout_seconds: 300
//
// Every problem of both files is reported at once, as `file:line:col: field: message`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatSpecError, type SpecError } from '../../core/spec/errors.js';
import { issueProblems } from '../../core/spec/issues.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type PathSegment, type Problem } from '../../core/spec/problems.js';
import { parseInteger, parseString } from '../../core/spec/scalars.js';
import { didYouMean } from '../../core/spec/suggest.js';
import { readConfigSection } from '../../core/spec/config-section.js';
import { YamlProblems } from '../../core/spec/yaml-locations.js';
import { field, strictShape } from '../../core/spec/zod-kit.js';
import { configPath, formatJump, parseHostString, parseProxyJump, resolveIdentityPath } from '../ssh/config.js';
import { ProviderError } from '../types.js';

export const SLURM_KEY = 'slurm';

export const DEFAULT_PROVISION_TIMEOUT_SECONDS = 600;

export interface SlurmSshLogin {
  kind: 'ssh';
  /** the Host name in ~/.slurm/config */
  alias: string;
  host: string;
  port: number;
  user: string;
  /** absolute path on this machine */
  identityFile: string;
  /** `[user@]host:port` of a bastion (formatJump); same identityFile */
  proxyJump?: string;
  /** a command whose stdin/stdout is the connection (ssh_config's ProxyCommand, %-tokens expanded), run with /bin/sh */
  proxyCommand?: string;
}

export type SlurmLogin = { kind: 'local' } | SlurmSshLogin;

export interface SlurmClusterConfig {
  name: string;
  login: SlurmLogin;
  account?: string;
  qos?: string;
  constraint?: string;
  /** preference order; undefined = the cluster's default partition */
  partitions?: string[];
  sbatchArgs: string[];
  provisionTimeoutSeconds: number;
}

export interface SlurmConfig {
  /** the files read (for messages), existing or not */
  files: { sshConfig: string; petrelConfig: string };
  /** allowed clusters only, in order: config.yaml's order first, then ~/.slurm/config's */
  clusters: Map<string, SlurmClusterConfig>;
  /** clusters that exist but allowed_clusters leaves out (for `petrel check` to mention) */
  disallowed: string[];
}

/** $PETREL_SLURM_CONFIG, else SkyPilot's ~/.slurm/config. */
export function slurmSshConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PETREL_SLURM_CONFIG || path.join(os.homedir(), '.slurm', 'config');
}

export function readSlurmConfig(home: string): SlurmConfig {
  const files = { sshConfig: slurmSshConfigPath(), petrelConfig: configPath(home) };
  const readProblems: SpecError[] = [];
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        readProblems.push({ file, line: 0, column: 0, field: '', message: `cannot read it: ${(err as Error).message}` });
      }
      return '';
    }
  };
  const ssh = parseSlurmSshConfig(read(files.sshConfig), files.sshConfig);
  const section = parseSlurmSection(read(files.petrelConfig), files.petrelConfig, ssh);
  const problems = [...readProblems, ...section.problems];
  if (problems.length) throw new ProviderError('config', problems.map(formatSpecError).join('\n'));
  return { files, clusters: section.clusters, disallowed: section.disallowed };
}

// ---- ~/.slurm/config ------------------------------------------------------------------------

export interface SlurmSshHosts {
  file: string;
  /** every Host name that is a cluster (no wildcard, no `!`), in order of first appearance */
  aliases: string[];
  /** the Hosts whose settings are complete and valid */
  logins: Map<string, SlurmSshLogin>;
  /**
   * Hosts with valid lines but no IdentityFile. Only a problem when the Host is used (an allowed
   * cluster, or a config.yaml cluster's login), so a bastion left out by allowed_clusters can
   * stay as it is; parseSlurmSection reports these.
   */
  incomplete: Map<string, SpecError>;
  /** problems of the file's lines, sorted */
  problems: SpecError[];
}

interface Token {
  text: string;
  /** 1-based */
  column: number;
}

type Keyword = 'Host' | 'HostName' | 'User' | 'IdentityFile' | 'Port' | 'ProxyJump' | 'ProxyCommand' | 'Match' | 'Include';

const KEYWORDS = new Map<string, Keyword>(
  (['Host', 'HostName', 'User', 'IdentityFile', 'Port', 'ProxyJump', 'ProxyCommand', 'Match', 'Include'] as const).map((k) => [k.toLowerCase(), k]),
);

type SettingKey = 'HostName' | 'User' | 'IdentityFile' | 'Port' | 'ProxyJump' | 'ProxyCommand';

function isSettingKey(k: Keyword): k is SettingKey {
  return k === 'HostName' || k === 'User' || k === 'IdentityFile' || k === 'Port' || k === 'ProxyJump' || k === 'ProxyCommand';
}

interface Setting {
  key: SettingKey;
  /** undefined: the line was wrong (already reported); null: `none` */
  value: string | number | null | undefined;
}

interface Pattern {
  regex: RegExp;
  negated: boolean;
}

interface Block {
  /** undefined: the lines before the first Host, which apply to every Host */
  patterns?: Pattern[];
  settings: Setting[];
}

/**
 * One line split into the keyword and its arguments, with OpenSSH's rules: `Key value`,
 * `Key=value` or `Key = value`, double or single quotes, and `#` at the start of a word
 * beginning a comment.
 */
function tokenizeLine(line: string): { keyword?: Token; args: Token[]; error?: { column: number; message: string } } {
  let i = 0;
  const skipSpace = () => {
    while (i < line.length && /\s/.test(line[i]!)) i++;
  };
  skipSpace();
  if (i >= line.length || line[i] === '#') return { args: [] };
  const start = i;
  while (i < line.length && !/[\s=]/.test(line[i]!)) i++;
  const keyword = { text: line.slice(start, i), column: start + 1 };
  skipSpace();
  if (line[i] === '=') {
    i++;
    skipSpace();
  }
  const args: Token[] = [];
  while (i < line.length) {
    if (line[i] === '#') break;
    const column = i + 1;
    let text = '';
    let quote = '';
    let quoteAt = 0;
    while (i < line.length && (quote || !/\s/.test(line[i]!))) {
      const c = line[i]!;
      const next = line[i + 1];
      // As OpenSSH's argv_split: a backslash escapes a quote, a backslash, or (unquoted) a space.
      if (c === '\\' && next !== undefined && (`'"\\`.includes(next) || (!quote && next === ' '))) {
        text += next;
        i += 2;
      } else if (quote) {
        if (c === quote) quote = '';
        else text += c;
        i++;
      } else if (c === '"' || c === "'") {
        quote = c;
        quoteAt = i;
        i++;
      } else {
        text += c;
        i++;
      }
    }
    if (quote) return { keyword, args, error: { column: quoteAt + 1, message: `unterminated ${quote === '"' ? 'double' : 'single'} quote` } };
    args.push({ text, column });
    skipSpace();
  }
  return { keyword, args };
}

function globRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function applies(block: Block, alias: string): boolean {
  if (!block.patterns) return true;
  let hit = false;
  for (const p of block.patterns) {
    if (!p.regex.test(alias)) continue;
    if (p.negated) return false;
    hit = true;
  }
  return hit;
}

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const CLUSTER_NAME_RULE = "must start with a letter or digit and use only letters, digits, '.', '_' and '-'";

/** `%` tokens a value may hold, as in ssh_config(5); `%%` is always allowed. */
const TOKENS: Partial<Record<SettingKey, string>> = { HostName: 'h', IdentityFile: 'dhnpru', ProxyCommand: 'hnpr' };

function checkTokens(key: SettingKey, value: string): string | undefined {
  const allowed = TOKENS[key] ?? '';
  for (const m of value.matchAll(/%(.?)/g)) {
    const t = m[1] ?? '';
    if (t !== '%' && !allowed.includes(t)) {
      const list = [...allowed].map((c) => `%${c}`).concat('%%').join(', ');
      return `'%${t}' is not supported in ${key}${allowed ? ` (only ${list})` : ' (only %%)'}`;
    }
  }
  return undefined;
}

function expandTokens(value: string, tokens: Record<string, string>): string {
  return value.replace(/%(.)/g, (all, t: string) => (t === '%' ? '%' : (tokens[t] ?? all)));
}

/** Parses one setting's value; `fail` messages become problems at the value. */
function parseSetting(key: SettingKey, text: string): Parsed<string | number | null> {
  const tokenError = checkTokens(key, text);
  if (tokenError) return fail(tokenError);
  switch (key) {
    case 'HostName': {
      const h = parseHostString(text.replace(/%h/g, 'h'));
      if (!h.ok) return h;
      if (h.value.port !== undefined) return fail(`${showValue(text)} holds a port; write the port as 'Port ${h.value.port}'`);
      return ok(text);
    }
    case 'User':
      return /[\s@:/]/.test(text) ? fail(`${showValue(text)} is not a user name`) : ok(text);
    case 'IdentityFile':
      if (text.toLowerCase() === 'none') return fail('Petrel needs a private key to log in; name one (e.g. IdentityFile ~/.ssh/id_ed25519)');
      return ok(text);
    case 'Port': {
      const n = /^\d+$/.test(text) ? Number(text) : NaN;
      return n >= 1 && n <= 65535 ? ok(n) : fail(`${showValue(text)} is not a port number (1 to 65535)`);
    }
    case 'ProxyJump': {
      if (text.toLowerCase() === 'none') return ok(null);
      if (text.includes(',')) {
        return fail(`${showValue(text)} is a chain of jump hosts, which Petrel does not support; give one hop: [user@]host[:port]`);
      }
      const j = parseProxyJump(text.replace(/^ssh:\/\//, ''));
      return j.ok ? ok(formatJump(j.value)) : j;
    }
    case 'ProxyCommand':
      return text.toLowerCase() === 'none' ? ok(null) : ok(text);
  }
}

export function parseSlurmSshConfig(text: string, file: string): SlurmSshHosts {
  const problems: SpecError[] = [];
  const problem = (line: number, column: number, field: string, message: string) => problems.push({ file, line, column, field, message });
  const blocks: Block[] = [{ settings: [] }];
  /** where each cluster name first appears, for messages about the Host as a whole */
  const firstSeen = new Map<string, { line: number; column: number }>();

  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const { keyword, args, error } = tokenizeLine(raw);
    if (!keyword) return;
    const key = KEYWORDS.get(keyword.text.toLowerCase());
    if (!key) return; // ServerAliveInterval and friends: not Petrel's business
    const block = blocks[blocks.length - 1]!;
    if (error) {
      problem(line, error.column, key, error.message);
      // Keep the line's effect out of the result: a broken value is no value, a broken Host
      // line starts a block that applies to nothing.
      if (key === 'Host' || key === 'Match') blocks.push({ patterns: [], settings: [] });
      else if (isSettingKey(key)) block.settings.push({ key, value: undefined });
      return;
    }
    const at = args[0]?.column ?? keyword.column;
    switch (key) {
      case 'Host': {
        const patterns: Pattern[] = [];
        for (const a of args) {
          const negated = a.text.startsWith('!');
          const name = negated ? a.text.slice(1) : a.text;
          patterns.push({ regex: globRegex(name), negated });
          if (negated || /[*?]/.test(name)) continue;
          if (!CLUSTER_NAME.test(name)) {
            problem(line, a.column, 'Host', `${showValue(name)} cannot be a Slurm cluster name: it ${CLUSTER_NAME_RULE}`);
            continue;
          }
          if (!firstSeen.has(name)) firstSeen.set(name, { line, column: a.column });
        }
        if (!args.length) problem(line, keyword.column, 'Host', 'missing host name');
        blocks.push({ patterns, settings: [] });
        return;
      }
      case 'Match':
        problem(line, keyword.column, 'Match', 'Match blocks are not supported; use Host blocks');
        // What follows belongs to the Match block: keep it away from the Host before it.
        blocks.push({ patterns: [], settings: [] });
        return;
      case 'Include':
        problem(line, keyword.column, 'Include', 'Include is not supported; put the Host blocks in this file');
        return;
      case 'ProxyCommand': {
        // As OpenSSH: the rest of the line is the command, for the shell (quotes and all).
        const command = raw.slice(raw.indexOf(keyword.text) + keyword.text.length).replace(/^\s*=?\s*/, '').trim();
        const r = command ? parseSetting('ProxyCommand', command) : fail('missing command');
        if (r.ok) block.settings.push({ key, value: r.value });
        else {
          problem(line, at, key, r.problems.map((p) => p.message).join('; '));
          block.settings.push({ key, value: undefined });
        }
        return;
      }
      default: {
        let value: Setting['value'];
        if (args.length === 1 && args[0]!.text === '') {
          problem(line, at, key, 'empty value');
        } else if (args.length !== 1) {
          problem(line, at, key, args.length ? `expected one value, got ${args.length}: ${args.map((a) => a.text).join(' ')} (quote a value that holds spaces)` : 'missing value');
        } else {
          const r = parseSetting(key, args[0]!.text);
          if (r.ok) value = r.value;
          else problem(line, at, key, r.problems.map((p) => p.message).join('; '));
        }
        block.settings.push({ key, value });
      }
    }
  });

  const logins = new Map<string, SlurmSshLogin>();
  const incomplete = new Map<string, SpecError>();
  for (const [alias, where] of firstSeen) {
    // OpenSSH: every block that applies, in file order; the first value obtained wins.
    const got = new Map<SettingKey, Setting['value']>();
    for (const block of blocks) {
      if (!applies(block, alias)) continue;
      for (const s of block.settings) if (!got.has(s.key)) got.set(s.key, s.value);
    }
    if ([...got.values()].some((v) => v === undefined)) continue; // a wrong line, reported above
    const identity = got.get('IdentityFile');
    if (typeof identity !== 'string') {
      incomplete.set(alias, {
        file,
        ...where,
        field: 'IdentityFile',
        message: `Host '${alias}' has no IdentityFile; add one to its Host block or to a 'Host *' block (SkyPilot requires it too)`,
      });
      continue;
    }
    const host = expandTokens((got.get('HostName') as string | undefined) ?? alias, { h: alias });
    const port = (got.get('Port') as number | undefined) ?? 22;
    const user = (got.get('User') as string | undefined) ?? localUser();
    const identityFile = resolveIdentityPath(
      expandTokens(identity, { d: os.homedir(), u: localUser(), h: host, n: alias, p: String(port), r: user }),
      os.homedir(),
    );
    const jump = got.get('ProxyJump');
    const command = got.get('ProxyCommand');
    if (typeof jump === 'string' && typeof command === 'string') {
      problems.push({ file, ...where, field: 'ProxyCommand', message: `Host '${alias}' has both ProxyJump and ProxyCommand; keep one` });
      continue;
    }
    logins.set(alias, {
      kind: 'ssh',
      alias,
      host,
      port,
      user,
      identityFile,
      ...(typeof jump === 'string' ? { proxyJump: jump } : {}),
      ...(typeof command === 'string' ? { proxyCommand: expandTokens(command, { h: host, n: alias, p: String(port), r: user }) } : {}),
    });
  }
  return { file, aliases: [...firstSeen.keys()], logins, incomplete, problems: sortProblems(problems) };
}

function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}

function sortProblems(list: SpecError[]): SpecError[] {
  return [...list].sort((a, b) => a.line - b.line || a.column - b.column);
}

// ---- config.yaml's slurm: section -------------------------------------------------------------

/** One sbatch word: an account, QOS or partition name. */
function parseWord(what: string) {
  return (v: unknown): Parsed<string> => {
    const s = parseString(v, what);
    if (!s.ok) return s;
    if (/\s/.test(s.value)) return fail(`${showValue(s.value)} contains whitespace; expected ${what}`);
    return ok(s.value);
  };
}

const parsePartitionName = (v: unknown): Parsed<string> => {
  const w = parseWord('a partition name')(v);
  if (w.ok && w.value.includes(',')) return fail(`${showValue(w.value)} holds a comma; list each partition as its own entry`);
  return w;
};

function parsePartitions(v: unknown): Parsed<string[]> {
  if (!Array.isArray(v)) return fail(`expected a list of partition names, got ${showValue(v)}${typeof v === 'string' ? ` (write [${v}])` : ''}`);
  if (v.length === 0) return fail("must not be empty; leave 'partitions' out to use the cluster's default partition");
  const out: string[] = [];
  const problems: Problem[] = [];
  v.forEach((item, i) => {
    const p = parsePartitionName(item);
    if (!p.ok) return problems.push(...p.problems.map((q) => ({ ...q, path: [i, ...q.path] })));
    const first = out.indexOf(p.value);
    if (first >= 0) return problems.push({ path: [i], message: `${showValue(p.value)} is listed twice (also partitions[${first}])` });
    out.push(p.value);
  });
  return problems.length ? { ok: false, problems } : ok(out);
}

const parseTimeout = (v: unknown) => parseInteger(v, { min: 1, what: 'a positive whole number of seconds' });

function parseLoginName(v: unknown): Parsed<string> {
  const what = "'local' or the name of a Host in ~/.slurm/config";
  const s = parseString(v, what);
  if (!s.ok) return s;
  if (/\s/.test(s.value)) return fail(`${showValue(s.value)} contains whitespace; expected ${what}`);
  return ok(s.value);
}

/** Splits a string into words as a POSIX shell would (quotes, backslashes, `#` comments); no expansions. */
export function splitShellWords(s: string): Parsed<string[]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      const nl = s.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return fail('unterminated single quote');
      word += s.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`\n'.includes(s[j + 1]!)) {
          j++;
          if (s[j] === '\n') continue;
        }
        word += s[j];
      }
      if (j >= s.length) return fail('unterminated double quote');
      i = j;
    } else if (c === '\\') {
      if (i + 1 < s.length && s[i + 1] !== '\n') {
        word += s[i + 1];
        inWord = true;
      }
      i++;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return ok(words);
}

interface Forbidden {
  long: string;
  short?: string;
  /** what to write instead */
  instead: string;
}

const FORBIDDEN_SBATCH: Forbidden[] = [
  { long: 'nodes', short: 'N', instead: "Petrel sets it from the task's num_nodes" },
  { long: 'job-name', short: 'J', instead: 'Petrel names the allocation after the cluster' },
  { long: 'output', short: 'o', instead: 'Petrel sets it' },
  { long: 'error', short: 'e', instead: 'Petrel sets it' },
  { long: 'wrap', instead: 'Petrel submits its own batch script' },
  { long: 'partition', short: 'p', instead: "use 'partitions' in this cluster's settings (or infra: slurm/CLUSTER/PARTITION)" },
  { long: 'account', short: 'A', instead: "use 'account' in this cluster's settings" },
  { long: 'qos', short: 'q', instead: "use 'qos' in this cluster's settings" },
  { long: 'constraint', short: 'C', instead: "use 'constraint' in this cluster's settings" },
  { long: 'gres', instead: "Petrel sets it from the task's resources.accelerators" },
  { long: 'cpus-per-task', short: 'c', instead: "Petrel sets it from the task's resources.cpus" },
  { long: 'mem', instead: "Petrel sets it from the task's resources.memory" },
  { long: 'requeue', instead: 'Petrel submits with --no-requeue and recovers lost jobs itself' },
  { long: 'no-requeue', instead: 'Petrel sets it' },
  { long: 'parsable', instead: 'Petrel sets it' },
  { long: 'chdir', short: 'D', instead: 'Petrel sets it' },
  { long: 'export', instead: "Petrel controls what its job steps see; set the task's envs instead" },
  { long: 'comment', instead: 'Petrel keeps its own key there to find the allocation again' },
  { long: 'ntasks-per-node', instead: 'Petrel runs one task per node' },
];

/** sbatch options of their own whose names begin a forbidden one's (--ntasks, --ntasks-per-node). */
const PREFIX_OPTIONS = new Set(['ntasks']);

/** Why `arg` may not be in sbatch_args, or undefined when it may. */
function sbatchArgProblem(arg: string): string | undefined {
  if (!arg.startsWith('-') || arg === '-') return `${showValue(arg)} is not an option; each entry must start with '-' (write --name=value as one entry)`;
  if (arg === '--') return "'--' would end sbatch's options; leave it out";
  let hit: Forbidden | undefined;
  if (arg.startsWith('--')) {
    const name = arg.slice(2).split('=')[0]!;
    // sbatch (getopt_long) also takes an unambiguous prefix of a long option: --part=gpu.
    hit = FORBIDDEN_SBATCH.find((f) => f.long === name);
    if (!hit && !PREFIX_OPTIONS.has(name)) hit = FORBIDDEN_SBATCH.find((f) => f.long.startsWith(name));
  } else {
    hit = FORBIDDEN_SBATCH.find((f) => f.short === arg[1]);
  }
  if (!hit) return undefined;
  const names = `--${hit.long}${hit.short ? `/-${hit.short}` : ''}`;
  return `${showValue(arg)} sets ${names}, which Petrel sets itself; ${hit.instead}`;
}

function parseSbatchArgs(v: unknown): Parsed<string[]> {
  if (typeof v === 'string') {
    const words = splitShellWords(v);
    if (!words.ok) return fail(`${showValue(v)}: ${words.problems[0]!.message}`);
    const bad = words.value.map(sbatchArgProblem).filter((m): m is string => m !== undefined);
    return bad.length ? { ok: false, problems: bad.map((message) => ({ path: [], message })) } : words;
  }
  if (!Array.isArray(v)) return fail(`expected a list of sbatch options or one string of them, got ${showValue(v)}`);
  const problems: Problem[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string' || item === '') {
      problems.push({ path: [i], message: `expected an sbatch option such as '--exclusive', got ${showValue(item)}` });
      return;
    }
    const m = sbatchArgProblem(item);
    if (m) problems.push({ path: [i], message: m });
  });
  return problems.length ? { ok: false, problems } : ok(v as string[]);
}

const clusterShape = strictShape(
  {
    login: field(parseLoginName),
    account: field(parseWord('an account name')),
    qos: field(parseWord('a QOS name')),
    constraint: field((v) => parseString(v, 'a Slurm constraint such as a100&ib')),
    partitions: field(parsePartitions),
    sbatch_args: field(parseSbatchArgs),
    provision_timeout_seconds: field(parseTimeout),
  },
  { what: 'Slurm cluster fields' },
);

type ClusterShape = z.infer<typeof clusterShape>;

const SECTION_KEYS = ['allowed_clusters', 'provision_timeout'];

function parseAllowed(v: unknown): Parsed<'all' | string[]> {
  if (v === 'all') return ok('all');
  if (!Array.isArray(v)) return fail(`expected a list of cluster names or 'all', got ${showValue(v)}`);
  const problems: Problem[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string' || !CLUSTER_NAME.test(item)) problems.push({ path: [i], message: `expected a cluster name, got ${showValue(item)}` });
  });
  return problems.length ? { ok: false, problems } : ok(v as string[]);
}

export interface SlurmSection {
  /** allowed clusters, config.yaml's first, then the other Hosts of ~/.slurm/config */
  clusters: Map<string, SlurmClusterConfig>;
  disallowed: string[];
  /** every problem of both files: ~/.slurm/config's first, then config.yaml's, each sorted */
  problems: SpecError[];
}

function noSshHosts(): SlurmSshHosts {
  const file = slurmSshConfigPath();
  return { file, aliases: [], logins: new Map(), incomplete: new Map(), problems: [] };
}


/**
 * config.yaml's `slurm:` section (`text` may be '' for a missing file), joined with the Hosts of
 * ~/.slurm/config parsed by parseSlurmSshConfig. Pure apart from the default `ssh` (no Hosts).
 */
export function parseSlurmSection(text: string, file: string, ssh: SlurmSshHosts = noSshHosts()): SlurmSection {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const errors = new YamlProblems(file, doc, lines);
  const sshProblems = [...ssh.problems];
  const clusters = new Map<string, SlurmClusterConfig>();
  const result = (names: string[] = [], allowed: 'all' | string[] = 'all'): SlurmSection => {
    const isIn = (n: string) => allowed === 'all' || allowed.includes(n);
    const disallowed = names.filter((n) => !isIn(n));
    const kept = new Map([...clusters].filter(([n]) => isIn(n)));
    return { clusters: kept, disallowed, problems: [...sortProblems(sshProblems), ...sortProblems(errors.list)] };
  };
  const section = readConfigSection(doc, errors, SLURM_KEY, 'cluster names to their settings');
  if (section === undefined) return result(); // config.yaml cannot be read: its problems say why

  // The cluster names, before any of them is judged, so a login or allowed_clusters can name any.
  const yamlNames: string[] = [];
  for (const [name, value] of Object.entries(section)) {
    if (SECTION_KEYS.includes(name)) continue;
    if (!CLUSTER_NAME.test(name)) {
      errors.problem({ path: [SLURM_KEY, name], at: 'key', message: `cluster name ${showValue(name)} ${CLUSTER_NAME_RULE}` });
      continue;
    }
    if (value !== null && value !== undefined && !isPlainObject(value)) {
      const hint = ssh.aliases.includes(name) ? '' : didYouMean(name, SECTION_KEYS);
      errors.problem({ path: [SLURM_KEY, name], message: `expected a mapping of Slurm cluster fields, got ${showValue(value)}${hint}` });
    }
    yamlNames.push(name);
  }
  const names = [...yamlNames, ...ssh.aliases.filter((a) => !yamlNames.includes(a))];

  let allowed: 'all' | string[] = 'all';
  if (section.allowed_clusters !== undefined && section.allowed_clusters !== null) {
    const r = parseAllowed(section.allowed_clusters);
    if (r.ok) allowed = r.value;
    else for (const p of r.problems) errors.problem({ ...p, path: [SLURM_KEY, 'allowed_clusters', ...p.path] });
    if (Array.isArray(allowed)) {
      allowed.forEach((n, i) => {
        if (names.includes(n)) return;
        const known = names.length ? `; clusters: ${names.join(', ')}${didYouMean(n, names)}` : '; there are no clusters';
        errors.problem({
          path: [SLURM_KEY, 'allowed_clusters', i],
          message: `no cluster ${showValue(n)}: neither a key of ${SLURM_KEY}: here nor a Host of ${ssh.file}${known}`,
        });
      });
    }
  }
  const isAllowed = (n: string) => allowed === 'all' || allowed.includes(n);

  let defaultTimeout = DEFAULT_PROVISION_TIMEOUT_SECONDS;
  if (section.provision_timeout !== undefined && section.provision_timeout !== null) {
    const r = parseTimeout(section.provision_timeout);
    if (r.ok) defaultTimeout = r.value;
    else for (const p of r.problems) errors.problem({ ...p, path: [SLURM_KEY, 'provision_timeout', ...p.path] });
  }

  // A Host without an IdentityFile matters once something uses it.
  const reported = new Set<string>();
  const useHost = (alias: string): SlurmSshLogin | undefined => {
    const missing = ssh.incomplete.get(alias);
    if (missing && !reported.has(alias)) {
      reported.add(alias);
      sshProblems.push(missing);
    }
    return ssh.logins.get(alias);
  };

  for (const name of yamlNames) {
    const value = section[name];
    if (value !== null && value !== undefined && !isPlainObject(value)) continue; // reported above
    const at: PathSegment[] = [SLURM_KEY, name];
    const r = clusterShape.safeParse(value ?? {}, { reportInput: true });
    if (!r.success) {
      for (const p of r.error.issues.flatMap(issueProblems)) errors.problem({ ...p, path: [...at, ...p.path] });
      continue;
    }
    const login = resolveLogin(name, r.data, ssh, useHost, (p) => errors.problem({ ...p, path: [...at, ...p.path] }));
    if (login) clusters.set(name, buildCluster(name, login, r.data, defaultTimeout));
  }
  // A Host that a cluster of slurm: reaches its login node through is that cluster's login, not
  // a second cluster without its account, QOS and partitions (a job placed on it would run
  // outside them).
  const loginsOfOthers = new Set([...clusters.values()].flatMap((c) => (c.login.kind === 'ssh' && c.login.alias !== c.name ? [c.login.alias] : [])));
  for (const alias of ssh.aliases) {
    if (yamlNames.includes(alias) || loginsOfOthers.has(alias) || !isAllowed(alias)) continue;
    const login = useHost(alias);
    if (login) clusters.set(alias, { name: alias, login, sbatchArgs: [], provisionTimeoutSeconds: defaultTimeout });
  }
  return result(names.filter((n) => yamlNames.includes(n) || !loginsOfOthers.has(n)), allowed);
}


function resolveLogin(
  name: string,
  shape: ClusterShape,
  ssh: SlurmSshHosts,
  useHost: (alias: string) => SlurmSshLogin | undefined,
  problem: (p: Problem) => void,
): SlurmLogin | undefined {
  if (shape.login === 'local') return { kind: 'local' };
  const known = ssh.aliases.length ? `; its Hosts: ${ssh.aliases.join(', ')}` : ssh.problems.length ? '' : '; it has none';
  if (shape.login !== undefined) {
    if (ssh.aliases.includes(shape.login)) return useHost(shape.login); // undefined: its problem is reported
    problem({
      path: ['login'],
      message: `no Host ${showValue(shape.login)} in ${ssh.file}${known}${didYouMean(shape.login, ssh.aliases)} (or write 'login: local' to run Slurm commands on this machine)`,
    });
    return undefined;
  }
  if (ssh.aliases.includes(name)) return useHost(name);
  problem({
    path: [],
    at: 'key',
    message: `cluster '${name}' has no login: write 'login: local' to run Slurm commands on this machine, or 'login: <Host>' naming a Host of ${ssh.file}${known}`,
  });
  return undefined;
}

function buildCluster(name: string, login: SlurmLogin, shape: ClusterShape, defaultTimeout: number): SlurmClusterConfig {
  return {
    name,
    login,
    ...(shape.account !== undefined ? { account: shape.account } : {}),
    ...(shape.qos !== undefined ? { qos: shape.qos } : {}),
    ...(shape.constraint !== undefined ? { constraint: shape.constraint } : {}),
    ...(shape.partitions !== undefined ? { partitions: shape.partitions } : {}),
    sbatchArgs: shape.sbatch_args ?? [],
    provisionTimeoutSeconds: shape.provision_timeout_seconds ?? defaultTimeout,
  };
}
