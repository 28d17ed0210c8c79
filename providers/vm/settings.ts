// How Petrel reaches a cloud VM over SSH, from the cloud's section of config.yaml (`aws:` or
// `gcp:`), with SkyPilot's keys so a SkyPilot config works unchanged:
//
//   aws:
//     ssh_proxy_command: ssh -W %h:%p bastion      # or per region: {us-east-1: '...', eu-west-1: '...'}
//     use_internal_ips: true                       # connect to the private IP (through the proxy)
//     ssh_user: ubuntu                             # Petrel's: the image's login user
//
// Teams use the proxy to reach private subnets through a bastion; tests use it to reach a
// loopback sshd standing in for every instance address.
import { isPlainObject, showValue } from '../../core/spec/problems.js';
import type { YamlProblems } from '../../core/spec/yaml-locations.js';

export interface VmAccessSettings {
  sshUser: string;
  /** one ProxyCommand template for every region, or one per region (a region without one connects directly) */
  sshProxyCommand?: string | Record<string, string>;
  useInternalIps: boolean;
}

/** The keys readVmAccess reads, so a cloud's section parser can tell them from unknown ones. */
export const VM_ACCESS_KEYS = ['ssh_proxy_command', 'use_internal_ips', 'ssh_user'] as const;

/** ProxyCommand tokens we expand (as OpenSSH does): host, port, remote user, the name given; `%%` is a literal %. */
const PROXY_TOKENS = 'hprn%';
const USER = /^[a-z_][a-z0-9_.-]*$/i;

function checkProxyCommand(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return `expected a command (e.g. 'ssh -W %h:%p bastion'), got ${showValue(value)}`;
  for (const m of value.matchAll(/%(.?)/g)) {
    const t = m[1] ?? '';
    if (!t || !PROXY_TOKENS.includes(t)) return `'%${t}' is not a token Petrel expands (only %h, %p, %r, %n and %%)`;
  }
  return undefined;
}

export function readVmAccess(section: Record<string, unknown>, errors: YamlProblems, cloud: 'aws' | 'gcp', defaultUser: string): VmAccessSettings {
  const out: VmAccessSettings = { sshUser: defaultUser, useInternalIps: false };

  const user = section.ssh_user;
  if (user !== undefined && user !== null) {
    if (typeof user === 'string' && USER.test(user)) out.sshUser = user;
    else errors.problem({ path: [cloud, 'ssh_user'], message: `expected a login user name (default '${defaultUser}'), got ${showValue(user)}` });
  }

  const internal = section.use_internal_ips;
  if (internal !== undefined && internal !== null) {
    if (typeof internal === 'boolean') out.useInternalIps = internal;
    else errors.problem({ path: [cloud, 'use_internal_ips'], message: `expected true or false, got ${showValue(internal)}` });
  }

  const proxy = section.ssh_proxy_command;
  if (proxy !== undefined && proxy !== null) {
    if (isPlainObject(proxy)) {
      const perRegion: Record<string, string> = {};
      for (const [region, cmd] of Object.entries(proxy)) {
        // SkyPilot allows null for "this region connects directly".
        if (cmd === null) continue;
        const why = checkProxyCommand(cmd);
        if (why) errors.problem({ path: [cloud, 'ssh_proxy_command', region], message: why });
        else perRegion[region] = cmd as string;
      }
      out.sshProxyCommand = perRegion;
    } else {
      const why = checkProxyCommand(proxy);
      if (why) errors.problem({ path: [cloud, 'ssh_proxy_command'], message: `${why}; or a mapping of region to command` });
      else out.sshProxyCommand = proxy as string;
    }
  }
  return out;
}

/** The ProxyCommand template for a region (unexpanded), if any. */
export function proxyCommandFor(settings: VmAccessSettings, region: string | undefined): string | undefined {
  const p = settings.sshProxyCommand;
  if (p === undefined || typeof p === 'string') return p;
  return region === undefined ? undefined : p[region];
}
