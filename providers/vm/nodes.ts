// A cloud VM as a Petrel node: the handle carries what any later process needs to reach it
// again (address, user, key, the ProxyCommand template, the instance id) and the node's own
// directory (providers/remote-layout.ts), so nodes sharing one machine or one home — every
// instance of a test, which all reach one loopback sshd — never see each other's files.
import type { NodeHandle } from '../../core/cluster-state.js';
import { nodeDirOf } from '../remote-layout.js';
import type { SshTarget } from '../ssh/connection.js';
import { ProviderError } from '../types.js';

export interface VmInstance {
  rank: number;
  instanceId: string;
  privateIp?: string;
  publicIp?: string;
}

export interface VmNodeAccess {
  sshUser: string;
  identityFile: string;
  /** the ProxyCommand template, unexpanded (expanded per connection: see vmTarget) */
  proxyCommand?: string;
  useInternalIps: boolean;
}

/** The address Petrel connects to: the public IP unless told to use internal ones (or there is none). */
export function vmAddress(inst: VmInstance, useInternalIps: boolean): string | undefined {
  return useInternalIps ? (inst.privateIp ?? inst.publicIp) : (inst.publicIp ?? inst.privateIp);
}

export function vmNodeHandle(clusterName: string, inst: VmInstance, access: VmNodeAccess): NodeHandle {
  const host = vmAddress(inst, access.useInternalIps);
  if (!host) throw new ProviderError('transient', `instance ${inst.instanceId} has no IP address yet`);
  const data: Record<string, string> = {
    host,
    port: '22',
    user: access.sshUser,
    identity_file: access.identityFile,
    instance_id: inst.instanceId,
    dir: nodeDirOf(clusterName, inst.rank),
  };
  if (inst.privateIp) data.private_ip = inst.privateIp;
  if (inst.publicIp) data.public_ip = inst.publicIp;
  if (access.proxyCommand) data.proxy_command = access.proxyCommand;
  return { rank: inst.rank, id: inst.instanceId, ip: host, data };
}

/** OpenSSH's ProxyCommand tokens: %h host, %p port, %r remote user, %n the name as given, %% a percent sign. */
export function expandProxyCommand(template: string, t: { host: string; port: number; user: string }): string {
  return template.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case 'h':
      case 'n':
        return t.host;
      case 'p':
        return String(t.port);
      case 'r':
        return t.user;
      case '%':
        return '%';
      default:
        return all;
    }
  });
}

export function vmTarget(node: NodeHandle): SshTarget {
  const d = node.data;
  if (!d.host || !d.port || !d.user || !d.identity_file) {
    throw new ProviderError('config', `node ${node.rank} (${node.id}) has no SSH connection data; was it provisioned by a cloud provider?`);
  }
  const t: SshTarget = { host: d.host, port: Number(d.port), user: d.user, identityFile: d.identity_file };
  if (d.proxy_command) t.proxyCommand = expandProxyCommand(d.proxy_command, t);
  return t;
}
