// Cloud VMs accept the SSH key of the worker home that launched them ($PETREL_HOME/keys/
// petrel-cloud). Workers of one team run in other homes, on other machines, yet each must reach
// every node: run its jobs, watch it after the launching worker died, tear it down. So the
// handle carries that key sealed with the team's codec key (as task secrets travel), and a
// worker whose home lacks the key file opens it with its own keyring and keeps it under
// $PETREL_HOME/keys/received/. Providers stay unaware: they get handles whose key file exists here.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { open, seal } from '../codec/secret-box.js';
import { loadKeyring } from '../codec/keys.js';
import { pricedClouds } from '../core/catalog/index.js';
import type { ClusterHandle, NodeHandle } from '../core/cluster-state.js';
import { ProviderError, type Provider, type WatchedJob } from '../providers/types.js';

const SEALED = 'identity_sealed';

/**
 * Watchers localize every watched handle every round: what a key file resolves to is kept, so
 * a round costs map lookups, not a stat (and a decryption) per node. Key files are never
 * removed while a worker runs; a received one is named by its content.
 */
const resolved = new Map<string, string>();

/** Cloud VMs only: an SSH pool's identity_file is the user's own key, which must not travel. */
function portable(handle: ClusterHandle): boolean {
  return pricedClouds().includes(handle.provider);
}

/** The handle with each cloud node's private key sealed in its data (once). */
export function sealNodeKeys(handle: ClusterHandle, home: string): ClusterHandle {
  if (!portable(handle)) return handle;
  const sealedByFile = new Map<string, string>();
  const nodes = handle.nodes.map((n): NodeHandle => {
    const file = n.data.identity_file;
    if (!file || n.data[SEALED]) return n;
    let sealed = sealedByFile.get(file);
    if (sealed === undefined) {
      sealed = seal(loadKeyring(home), fs.readFileSync(file, 'utf8'));
      sealedByFile.set(file, sealed);
    }
    return { ...n, data: { ...n.data, [SEALED]: sealed } };
  });
  return { ...handle, nodes };
}

/** The handle with each node's key file one that exists on this worker. */
export function localizeNodeKeys(handle: ClusterHandle, home: string): ClusterHandle {
  if (!portable(handle)) return handle;
  let changed = false;
  const nodes = handle.nodes.map((n): NodeHandle => {
    const file = n.data.identity_file;
    const sealed = n.data[SEALED];
    if (!sealed) return n;
    const local = localKeyFile(home, n, file, sealed);
    if (local === file) return n;
    changed = true;
    return { ...n, data: { ...n.data, identity_file: local } };
  });
  return changed ? { ...handle, nodes } : handle;
}

/** The node's own key file where this worker has it, else the sealed copy opened here. */
function localKeyFile(home: string, node: NodeHandle, file: string | undefined, sealed: string): string {
  const memo = `${home}\0${file ?? ''}\0${sealed}`;
  let local = resolved.get(memo);
  if (local === undefined) {
    local = file && fs.existsSync(file) ? file : receivedKey(home, node, sealed);
    if (resolved.size >= 10_000) resolved.clear(); // a long-lived worker's clusters come and go
    resolved.set(memo, local);
  }
  return local;
}

function receivedKey(home: string, node: NodeHandle, sealed: string): string {
  let pem: string;
  try {
    pem = open(loadKeyring(home), sealed);
  } catch (err) {
    throw new ProviderError('config', `node ${node.rank} (${node.id}): its SSH key is sealed with a codec key this worker does not hold (${(err as Error).message}); give this worker the team's codec key`);
  }
  const file = path.join(home, 'keys', 'received', crypto.createHash('sha256').update(pem).digest('hex').slice(0, 24));
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, pem, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/**
 * The provider, with every handle it is given localized first (cloud VMs; others as they are).
 * The one place activities get a provider through, so no call site can forget it.
 */
export function withPortableKeys(p: Provider, home: string): Provider {
  if (!pricedClouds().includes(p.name)) return p;
  const local = (h: ClusterHandle) => localizeNodeKeys(h, home);
  return new Proxy(p, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      switch (prop) {
        case 'runner':
          return (handle: ClusterHandle, node: NodeHandle) => {
            const h = local(handle);
            return fn.call(target, h, h.nodes.find((n) => n.rank === node.rank) ?? node);
          };
        case 'batchStatus':
          return (jobs: WatchedJob[]) => fn.call(target, jobs.map((j) => ({ ...j, handle: local(j.handle) })));
        case 'uploadToNodes':
          return (handle: ClusterHandle, nodes: NodeHandle[], ...rest: unknown[]) => {
            const h = local(handle);
            return fn.call(target, h, nodes.map((n) => h.nodes.find((x) => x.rank === n.rank) ?? n), ...rest);
          };
        case 'query':
        case 'stop':
        case 'start':
        case 'terminate':
          return (handle: ClusterHandle, ...rest: unknown[]) => fn.call(target, local(handle), ...rest);
        default:
          return fn.bind(target);
      }
    },
  });
}
