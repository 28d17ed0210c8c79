// Real Kubernetes API servers for the Kubernetes provider tests: per cluster an etcd, a
// kube-apiserver and a kube-scheduler (Kubernetes 1.36.3), and kwok 0.8.0 as the kubelet of
// fake nodes, all on 127.0.0.1, all spawned (and reaped) by this process. The binaries come
// from test/support/k8s/build.sh (the global setup runs it and puts the directory in
// PETREL_K8S_BIN). How this was worked out, with every gotcha:
// /work/shared/reference/k8s-test-cluster.md.
//
// Isolation: each cluster has its own PKI (CA, apiserver serving cert, service-account keys,
// static tokens), its own etcd data dir and its own ports, picked free at random in
// 10000-30000 (below the kernel's ephemeral range, as test/support/petrel.ts does: a port
// found free up there can become the source port of any outgoing connection before the
// server binds it; a start that still loses a port race is retried with new ports). Everything
// lives under one directory below os.tmpdir(), so two test files can run testbeds side by side.
//
// Differences from a production cluster, all deliberate:
//   - no kube-controller-manager: a deleted namespace stays Terminating for good; no
//     Deployments/Jobs/ReplicaSets ever create pods; no garbage collection; no ServiceAccount
//     controller, so the ServiceAccount admission plugin is off and pods get no token.
//   - nodes are kwok fakes, created Ready with the capacity they are given (cpu, memory, pods
//     110, nvidia.com/gpu). The TaintNodesByCondition admission plugin is off (only the
//     controller-manager would remove its not-ready taint).
//   - cordon (spec.unschedulable=true) works as on a real cluster for the scheduler (its
//     NodeUnschedulable filter reads the field): new pods stay Pending with "node(s) were
//     unschedulable"; pods already there keep running, and a pod that names the node in
//     spec.nodeName still runs there. No node.kubernetes.io/unschedulable taint appears (that
//     is the controller-manager's job).
//   - deleting a node (observed): its pods stay as they were, bound to the vanished node
//     (spec.nodeName), phase Running, Ready, no deletionTimestamp; a real cluster's pod GC
//     would delete them. Exec into one fails with 404 (`pods "<node name>" not found`, the
//     apiserver's node lookup). A plain DELETE of such a pod only sets its deletionTimestamp
//     (grace 30 s) and nothing ever finishes it: it stays "Running" for good. DELETE with
//     gracePeriodSeconds=0 removes it; so does kwok, should a node of that name come back.
//     The processes its exec'd commands started keep running (killPodProcesses ends them).
//   - pod deletion (on a live node) is immediate (kwok's fast pod-delete stage): no grace
//     period, no SIGTERM to anything; the pod is gone ~10-50 ms after the DELETE (a GET right
//     after it may still see it, deletionTimestamp set, grace 0). A watch started after the
//     DELETE misses the DELETED event (start it at the delete reply's resourceVersion).
//   - exec (kwok's ClusterExec, "local"): the command runs on this host, as this user, as a
//     child of kwok, with the host's hostname and filesystem, cwd and HOME = cluster.home (shared
//     by every pod and node of the cluster, like an NFS home), kwok's small environment (PATH,
//     TMPDIR, the test-run markers) and PETREL_KWOK_CLUSTER=<cluster.id>, whichever the container
//     (the apiserver only checks that the pod has one of that name). Stdin EOF never reaches
//     the process (kwok never closes the pipe). A non-zero exit code comes back only inside a
//     500 InternalError status whose message ends "... exit status N" (no NonZeroExitCode /
//     ExitCode cause as from a real kubelet).
//   - processes started through exec outlive their pod, their node and the exec stream (only
//     stop() of the kwok process kills its direct child, the command itself; whatever that
//     started keeps running). killPodProcesses() plays the kubelet killing a pod's containers;
//     stop() kills what is left and fails (see KubeTestbed.stop).
//   - pod logs: every pod's log is empty (a ClusterLogs pointing at an empty file). A test can
//     give one pod its own through a kwok.x-k8s.io/v1alpha1 Logs object (file in CRI format).
//   - exec'd commands share kwok's process group, which is the test worker's (spawned with
//     detached: false): a command that signals its own process group (kill 0) signals the test
//     worker too. Commands that must outlive the exec detach with setsid, as the provider's
//     jobs do.
//
// Start: PKI (openssl, P-256 keys, ~0.1 s) while etcd starts, then the apiserver (the bulk:
// ~2.5-3 s), then in parallel the scheduler, kwok's CRDs and kwok, the RBAC objects and the
// nodes. A one-node cluster is Ready in ~3-4.5 s, two clusters side by side on 2 cores in
// ~4-4.5 s. stop() takes ~1.2 s.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { isZombie, procIds, readProc, type ProcInfo } from './leftovers.js';

export interface KubeNodeSpec {
  name: string;
  /** default '32' */
  cpu?: string;
  /** default '256Gi' */
  memory?: string;
  /** nvidia.com/gpu capacity; default 0 (no such resource at all) */
  gpus?: number;
  /** extra labels, e.g. { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' } */
  labels?: Record<string, string>;
}

export interface KubeClusterSpec {
  /** the kubeconfig context (and cluster) name */
  context: string;
  nodes: KubeNodeSpec[];
  /**
   * More kube-apiserver flags, e.g. '--watch-cache-sizes=pods#0': pod watches then go to etcd
   * itself, so a compacted resourceVersion gets 410 Gone (the watch cache would still serve it).
   */
  apiserverArgs?: string[];
}

export interface KubeStopOptions {
  /** for tests that lose pods on purpose: kill what exec'd commands left running, but do not fail */
  allowLeftovers?: boolean;
}

/** A process that an exec'd command left running, found (and SIGKILLed) by stop(). */
export interface KubeLeftover {
  pid: number;
  /** the context of the cluster whose exec started it */
  context: string;
  cmdline: string;
}

export interface KubeTestbed {
  /** the directory holding everything (below os.tmpdir() unless given) */
  dir: string;
  /**
   * One kubeconfig holding every cluster's context (context name = spec.context, namespace
   * default, the first cluster's is current), plus for each cluster `${context}-badtoken` (a
   * token the apiserver refuses with 401) and `${context}-limited` (user "limited", whom RBAC
   * allows only get/list/watch on pods in namespace default, besides what every
   * authenticated user may: discovery, selfsubjectreviews).
   */
  kubeconfig: string;
  /** by context */
  clusters: Map<string, KubeTestCluster>;
  /**
   * Stops every cluster (nothing is deleted through the API first): SIGTERM to scheduler, kwok
   * and apiserver, then etcd, each waited for. Then SIGKILLs every process an exec'd command
   * left running (PETREL_KWOK_CLUSTER of this testbed in its environment, setsid'd daemons
   * included) and rejects listing them (pid, cmdline): a process left behind is a bug in the
   * code under test, which must kill its jobs before it deletes their pods. With
   * allowLeftovers it resolves with that list instead. Idempotent: a later call waits for the
   * first and resolves.
   */
  stop(opts?: KubeStopOptions): Promise<KubeLeftover[]>;
}

export interface KubeTestCluster {
  context: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** the admin token (group system:masters) */
  token: string;
  /** the token of user "limited" (see KubeTestbed.kubeconfig) */
  limitedToken: string;
  /** a token the apiserver does not know */
  badToken: string;
  /** PEM file of the cluster's CA, which signed the apiserver's serving cert */
  caFile: string;
  /** this cluster's directory: pki/, etcd/, logs/<component>.log, kwok.yaml, home/ */
  dir: string;
  /** the HOME (and working directory) of every exec'd "container" process of this cluster */
  home: string;
  /** the PETREL_KWOK_CLUSTER value every exec'd process of this cluster carries */
  id: string;
  /** milestones of the start, in ms since startKubeTestbed was called */
  timings: Record<string, number>;
  /**
   * A raw admin request: api('GET', '/api/v1/nodes'). An object body is sent as JSON (as a
   * JSON merge patch for PATCH), a string body as YAML. Resolves with the parsed JSON reply;
   * rejects with a KubeApiError (status, body) on a non-2xx reply.
   */
  api(method: string, path: string, body?: unknown): Promise<any>;
  /** A raw admin GET whose answer is not JSON, e.g. apiText('/metrics'). */
  apiText(path: string): Promise<string>;
  /**
   * Compacts etcd up to its current revision (the apiserver does this itself every 5 minutes):
   * a watch that resumes from an older resourceVersion then gets 410 Gone.
   */
  compactEtcd(): Promise<void>;
  /** creates a kwok node and waits until it is Ready */
  addNode(n: KubeNodeSpec): Promise<void>;
  /** deletes a node and waits until it is gone (its pods stay, see the header) */
  deleteNode(name: string): Promise<void>;
  /** spec.unschedulable=true */
  cordon(name: string): Promise<void>;
  /** spec.unschedulable=false */
  uncordon(name: string): Promise<void>;
  /**
   * What a kubelet does when a pod's container is killed, as far as the processes the pod's
   * exec'd commands started can be found: through the Petrel layout. The pod's labels
   * petrel.dev/cluster and petrel.dev/rank (read from the pod, or given when it is gone) name
   * its node directory `${home}/.petrel/clusters/<cluster>/node-<rank>/`; every process group
   * recorded in a `.petrel/jobs/<key>/pid` file there that still has a process of this cluster
   * (PETREL_KWOK_CLUSTER) in it is SIGKILLed. Resolves, once they are gone, with how many
   * groups were killed.
   */
  killPodProcesses(namespace: string, podName: string, labels?: { cluster: string; rank: number | string }): Promise<number>;
}

export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${body.trim().slice(0, 2000)}`);
    this.name = 'KubeApiError';
  }
}

/** The env var that marks every process an exec'd command of a testbed cluster started. */
export const KWOK_CLUSTER_ENV = 'PETREL_KWOK_CLUSTER';
export const LABEL_CLUSTER = 'petrel.dev/cluster';
export const LABEL_RANK = 'petrel.dev/rank';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** The bin directory of build.sh: PETREL_K8S_BIN (set by the global setup), else build.sh itself (returns at once when cached). */
export function k8sBinDir(): string {
  const preset = process.env.PETREL_K8S_BIN;
  if (preset) return preset;
  const script = path.join(import.meta.dirname, 'k8s', 'build.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').pop()!;
  process.env.PETREL_K8S_BIN = dir;
  return dir;
}

// ---------------------------------------------------------------------------------------------
// ports, http

const portsHanded = new Set<number>();

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const port = 10000 + crypto.randomInt(20000);
    if (portsHanded.has(port)) continue;
    portsHanded.add(port); // never hand out one port twice in this process, free or not
    if (await portFree(port)) return port;
  }
  throw new Error('no free port in 10000-30000');
}

interface HttpReply {
  status: number;
  body: string;
}

interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: http.Agent;
  /** https without verifying the server */
  insecure?: boolean;
  timeoutMs?: number;
}

function request(url: string, opts: HttpOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: { ...opts.headers, ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}) },
        agent: opts.agent ?? false,
        rejectUnauthorized: !opts.insecure,
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** true on a 2xx reply, false on anything else including a refused connection */
async function answers(url: string, opts: HttpOptions = {}): Promise<boolean> {
  try {
    const r = await request(url, { timeoutMs: 2000, ...opts });
    return r.status >= 200 && r.status < 300;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// processes

interface Component {
  name: string;
  child: ChildProcess;
  log: string;
  /** "exit code N" / "signal S" once it exited */
  exit?: string;
  exited: Promise<void>;
}

/**
 * Components still running. Spawned processes do not die with their parent: if this process
 * exits without stop() (a crash, a forgotten afterAll), SIGKILL them on the way out. (A
 * SIGKILLed test worker leaves them to the run's leftover check.)
 */
const running = new Set<Component>();
let exitHook = false;

function launch(name: string, bin: string, args: string[], dir: string, env: NodeJS.ProcessEnv): Component {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of running) c.child.kill('SIGKILL');
    });
  }
  const log = path.join(dir, 'logs', `${name}.log`);
  const fd = fs.openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', fd, fd], detached: false });
  } finally {
    fs.closeSync(fd);
  }
  let done!: () => void;
  const c: Component = { name, child, log, exited: new Promise<void>((r) => (done = r)) };
  running.add(c);
  child.once('exit', (code, signal) => {
    c.exit = signal ? `signal ${signal}` : `exit code ${code}`;
    running.delete(c);
    done();
  });
  child.once('error', (err) => {
    c.exit ??= `spawn error: ${err.message}`;
    running.delete(c);
    done();
  });
  return c;
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM, wait, SIGKILL after STOP_TIMEOUT_MS; resolves once the process is reaped. */
async function terminate(c: Component): Promise<void> {
  if (c.exit !== undefined || c.child.pid === undefined) return;
  c.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), STOP_TIMEOUT_MS)));
  if (await Promise.race([c.exited.then(() => false), timedOut])) {
    c.child.kill('SIGKILL');
    await c.exited;
  }
  clearTimeout(timer);
}

function killNow(c: Component): Promise<void> {
  if (c.exit === undefined && c.child.pid !== undefined) c.child.kill('SIGKILL');
  return c.exited;
}

// ---------------------------------------------------------------------------------------------
// one cluster

interface Ports {
  etcd: number;
  etcdPeer: number;
  api: number;
  kwok: number;
  scheduler: number;
}

class Cluster implements KubeTestCluster {
  readonly server: string;
  readonly token = crypto.randomBytes(24).toString('hex');
  readonly limitedToken = crypto.randomBytes(24).toString('hex');
  readonly badToken = crypto.randomBytes(24).toString('hex');
  readonly caFile: string;
  readonly home: string;
  readonly id: string;
  readonly timings: Record<string, number> = {};
  readonly components: Component[] = [];
  private agent?: https.Agent;
  private stopping = false;

  constructor(
    readonly context: string,
    readonly dir: string,
    readonly ports: Ports,
    private readonly bin: string,
    private readonly t0: number,
    testbedId: string,
  ) {
    this.server = `https://127.0.0.1:${ports.api}`;
    this.caFile = path.join(dir, 'pki', 'ca.crt');
    this.home = path.join(dir, 'home');
    this.id = `${testbedId}/${context}`;
  }

  private mark(what: string): void {
    this.timings[what] = Date.now() - this.t0;
  }

  private launch(name: string, bin: string, args: string[], env: NodeJS.ProcessEnv): void {
    if (this.stopping) throw new Error(`${this.context}: stopped before ${name} started`);
    this.components.push(launch(name, bin, args, this.dir, env));
  }

  private component(name: string): Component | undefined {
    return this.components.find((c) => c.name === name);
  }

  /** the running components; throws (with its log's tail) if one of them exited */
  private checkAlive(waitingFor: string): void {
    if (this.stopping) throw new Error(`${this.context}: stopped while waiting for ${waitingFor}`);
    for (const c of this.components) {
      if (c.exit !== undefined) {
        throw new Error(`${this.context}: ${c.name} exited (${c.exit}) while waiting for ${waitingFor}; ${c.log}:\n${tail(c.log)}`);
      }
    }
  }

  private async waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkAlive(what);
      if (await probe()) return;
      if (Date.now() > deadline) throw new Error(`${this.context}: ${what} not within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  }

  async api(method: string, p: string, body?: unknown): Promise<any> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    let payload: string | undefined;
    if (typeof body === 'string') {
      headers['Content-Type'] = 'application/yaml';
      payload = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = method.toUpperCase() === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await request(this.server + p, { method, headers, body: payload, agent: this.apiAgent() });
    if (res.status < 200 || res.status >= 300) throw new KubeApiError(method, p, res.status, res.body);
    return res.body ? JSON.parse(res.body) : undefined;
  }

  async apiText(p: string): Promise<string> {
    const res = await request(this.server + p, { method: 'GET', headers: { Authorization: `Bearer ${this.token}` }, agent: this.apiAgent() });
    if (res.status < 200 || res.status >= 300) throw new KubeApiError('GET', p, res.status, res.body);
    return res.body;
  }

  async compactEtcd(): Promise<void> {
    const etcd = `http://127.0.0.1:${this.ports.etcd}`;
    const headers = { 'Content-Type': 'application/json' };
    const range = await request(`${etcd}/v3/kv/range`, { method: 'POST', headers, body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const revision = JSON.parse(range.body).header.revision;
    const r = await request(`${etcd}/v3/kv/compaction`, { method: 'POST', headers, body: JSON.stringify({ revision, physical: true }) });
    if (r.status !== 200) throw new Error(`etcd compaction: HTTP ${r.status}: ${r.body}`);
  }

  // --- start ---

  async start(nodes: KubeNodeSpec[], apiserverArgs: string[]): Promise<void> {
    for (const d of ['pki', 'logs', 'etcd', 'home', 'kwok-home']) fs.mkdirSync(path.join(this.dir, d), { recursive: true, mode: 0o700 });
    const { ports, bin } = this;
    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    this.launch(
      'etcd',
      path.join(bin, 'etcd'),
      [
        '--name=default',
        `--data-dir=${path.join(this.dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync',
        `--quota-backend-bytes=${2 * 1024 ** 3}`,
      ],
      process.env,
    );
    await this.writePki(); // etcd starts meanwhile
    this.mark('pki');
    this.writeKubeconfig();
    await this.waitFor('etcd /health', () => answers(`${etcdUrl}/health`));
    this.mark('etcd');

    const pki = (f: string) => path.join(this.dir, 'pki', f);
    this.launch(
      'kube-apiserver',
      path.join(bin, 'kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${ports.api}`,
        `--tls-cert-file=${pki('apiserver.crt')}`,
        `--tls-private-key-file=${pki('apiserver.key')}`,
        `--cert-dir=${pki('apiserver-generated')}`,
        `--token-auth-file=${pki('tokens.csv')}`,
        `--client-ca-file=${pki('ca.crt')}`,
        '--authorization-mode=Node,RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki('sa.pub')}`,
        `--service-account-signing-key-file=${pki('sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
        '--kubelet-preferred-address-types=InternalIP',
        '--allow-privileged=true',
        '--endpoint-reconciler-type=none',
        ...apiserverArgs,
      ],
      process.env,
    );
    await this.waitFor('kube-apiserver /readyz', () =>
      answers(`${this.server}/readyz`, { headers: { Authorization: `Bearer ${this.token}` }, agent: this.apiAgent() }),
    );
    this.mark('apiserver');

    // Everything else needs only the API, and kwok (the nodes' Readiness) only its CRDs.
    await Promise.all([
      this.startScheduler(),
      this.installCrds().then(() => this.startKwok()),
      this.createRbac(),
      ...nodes.map((n) => this.createNode(n)),
    ]);
    await Promise.all(nodes.map((n) => this.waitNodeReady(n.name)));
    this.mark('nodes Ready');
  }

  private apiAgent(): https.Agent {
    this.agent ??= new https.Agent({ keepAlive: true, ca: fs.readFileSync(this.caFile) });
    return this.agent;
  }

  private async writePki(): Promise<void> {
    const pki = path.join(this.dir, 'pki');
    const openssl = (args: string[]) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl ${args.join(' ')}: exit ${code}: ${err}`))));
      });
    // P-256 keys: a fraction of RSA's generation time.
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl([
      'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-sha256',
      '-subj', `/CN=petrel-test-ca-${this.context}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
    fs.writeFileSync(
      path.join(pki, 'apiserver.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n' +
        'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
    );
    await openssl(['req', '-new', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver']);
    await openssl([
      'x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', '3650', '-sha256', '-extfile', 'apiserver.ext', '-out', 'apiserver.crt',
    ]);
    const sa = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    fs.writeFileSync(path.join(pki, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    fs.writeFileSync(path.join(pki, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(
      path.join(pki, 'tokens.csv'),
      `${this.token},admin,admin,"system:masters"\n${this.limitedToken},limited,limited\n`,
      { mode: 0o600 },
    );
  }

  /** the admin-only kubeconfig kwok and the scheduler use */
  private writeKubeconfig(): void {
    fs.writeFileSync(
      path.join(this.dir, 'kubeconfig'),
      toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: this.context, cluster: { server: this.server, 'certificate-authority': this.caFile } }],
        users: [{ name: 'admin', user: { token: this.token } }],
        contexts: [{ name: this.context, context: { cluster: this.context, user: 'admin' } }],
        'current-context': this.context,
      }),
      { mode: 0o600 },
    );
  }

  private async startScheduler(): Promise<void> {
    // No --authentication/--authorization-kubeconfig: they only make it look for the
    // extension-apiserver-authentication configmap forever; /readyz is always allowed anyway.
    this.launch(
      'kube-scheduler',
      path.join(this.bin, 'kube-scheduler'),
      [
        `--kubeconfig=${path.join(this.dir, 'kubeconfig')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${this.ports.scheduler}`,
        `--cert-dir=${path.join(this.dir, 'pki', 'scheduler')}`,
        '--leader-elect=false',
      ],
      process.env,
    );
    await this.waitFor('kube-scheduler /readyz', () => answers(`https://127.0.0.1:${this.ports.scheduler}/readyz`, { insecure: true }));
    this.mark('scheduler');
  }

  /** kwok's Logs and Exec CRDs: --enable-crds=Logs,Exec needs them served before kwok starts */
  private async installCrds(): Promise<void> {
    for (const k of ['logs', 'execs']) {
      const yaml = fs.readFileSync(path.join(this.bin, 'kwok-crds', `kwok.x-k8s.io_${k}.yaml`), 'utf8');
      await this.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', yaml);
    }
    await this.waitFor('kwok CRDs served', async () => {
      try {
        const list = await this.api('GET', '/apis/kwok.x-k8s.io/v1alpha1');
        const kinds = new Set((list.resources ?? []).map((r: { kind: string }) => r.kind));
        return kinds.has('Exec') && kinds.has('Logs');
      } catch {
        return false;
      }
    });
    this.mark('crds');
  }

  private kwokConfig(): string {
    const stages = path.join(this.bin, 'kwok-stages');
    const stageFiles = [
      'node/fast/node-initialize.yaml',
      'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
      'pod/fast/pod-ready.yaml',
      'pod/fast/pod-complete.yaml',
      'pod/fast/pod-delete.yaml',
    ];
    const podLog = path.join(this.dir, 'pod.log');
    fs.writeFileSync(podLog, '');
    // No KwokConfiguration document: kwok 0.8.0 does not default one read from --config (its
    // node lease parallelism stays 0 and kwok exits), so its options are flags.
    const docs = [
      ...stageFiles.map((f) => fs.readFileSync(path.join(stages, f), 'utf8')),
      toYaml({
        apiVersion: 'kwok.x-k8s.io/v1alpha1',
        kind: 'ClusterExec',
        metadata: { name: 'petrel-local' },
        spec: {
          execs: [
            {
              local: {
                workDir: this.home,
                envs: [
                  { name: 'HOME', value: this.home },
                  { name: KWOK_CLUSTER_ENV, value: this.id },
                ],
              },
            },
          ],
        },
      }),
      toYaml({
        apiVersion: 'kwok.x-k8s.io/v1alpha1',
        kind: 'ClusterLogs',
        metadata: { name: 'petrel-logs' },
        spec: { logs: [{ logsFile: podLog, follow: false }] },
      }),
    ];
    return docs.map((d) => `---\n${d.trim()}\n`).join('');
  }

  private async startKwok(): Promise<void> {
    const config = path.join(this.dir, 'kwok.yaml');
    fs.writeFileSync(config, this.kwokConfig());
    // What the exec'd "containers" inherit (Go appends the ClusterExec envs, the later HOME
    // wins): a small environment like a container's, not the test worker's (whose PETREL_*
    // settings would leak into them), plus the test-run markers of test/support/leftovers.ts.
    const env: NodeJS.ProcessEnv = { HOME: path.join(this.dir, 'kwok-home') };
    for (const k of ['PATH', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'PETREL_TEST_RUN', 'PETREL_TEST_ROOT', 'PETREL_TEST_FILE']) {
      if (process.env[k] !== undefined) env[k] = process.env[k];
    }
    const port = this.ports.kwok;
    this.launch(
      'kwok',
      path.join(this.bin, 'kwok'),
      [
        `--kubeconfig=${path.join(this.dir, 'kubeconfig')}`,
        `--config=${config}`,
        '--enable-crds=Logs,Exec',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-ip=127.0.0.1',
        '--node-name=localhost',
        `--node-port=${port}`,
        `--server-address=127.0.0.1:${port}`,
        '--cidr=10.244.0.0/24',
        '--node-lease-duration-seconds=40',
      ],
      env,
    );
    await this.waitFor('kwok /healthz', () => answers(`http://127.0.0.1:${port}/healthz`));
    this.mark('kwok');
  }

  private async createRbac(): Promise<void> {
    const ns = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'petrel-test-limited', namespace: 'default' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'petrel-test-limited', namespace: 'default' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'petrel-test-limited' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'limited' }],
    };
    // Namespace default may appear a moment after /readyz.
    await this.waitFor('namespace default', async () => {
      try {
        await this.api('POST', `${ns}/roles`, role);
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return false;
        throw err;
      }
    });
    await this.api('POST', `${ns}/rolebindings`, binding);
    this.mark('rbac');
  }

  private async createNode(n: KubeNodeSpec): Promise<void> {
    const resources: Record<string, string> = { cpu: n.cpu ?? '32', memory: n.memory ?? '256Gi', pods: '110' };
    if (n.gpus) resources['nvidia.com/gpu'] = String(n.gpus);
    await this.api('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          'kubernetes.io/hostname': n.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          type: 'kwok',
          ...n.labels,
        },
      },
      // Kept as given on create: the fake node's capacity.
      status: { capacity: resources, allocatable: resources },
    });
  }

  private async waitNodeReady(name: string): Promise<void> {
    await this.waitFor(`node ${name} Ready`, async () => {
      const node = await this.api('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
      return (node.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
    });
  }

  // --- the test API ---

  async addNode(n: KubeNodeSpec): Promise<void> {
    await this.createNode(n);
    await this.waitNodeReady(n.name);
  }

  async deleteNode(name: string): Promise<void> {
    const p = `/api/v1/nodes/${encodeURIComponent(name)}`;
    await this.api('DELETE', p);
    await this.waitFor(`node ${name} gone`, async () => {
      try {
        await this.api('GET', p);
        return false;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return true;
        throw err;
      }
    }, 30_000);
  }

  async cordon(name: string): Promise<void> {
    await this.api('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, { spec: { unschedulable: true } });
  }

  async uncordon(name: string): Promise<void> {
    await this.api('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, { spec: { unschedulable: false } });
  }

  async killPodProcesses(namespace: string, podName: string, labels?: { cluster: string; rank: number | string }): Promise<number> {
    let cluster: string | undefined;
    let rank: string | undefined;
    if (labels) {
      cluster = labels.cluster;
      rank = String(labels.rank);
    } else {
      const pod = await this.api('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}`);
      cluster = pod.metadata?.labels?.[LABEL_CLUSTER];
      rank = pod.metadata?.labels?.[LABEL_RANK];
    }
    if (!cluster || !rank || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(cluster) || !/^\d+$/.test(rank)) {
      throw new Error(`killPodProcesses: pod ${namespace}/${podName} has no valid ${LABEL_CLUSTER}/${LABEL_RANK} labels (${cluster}, ${rank})`);
    }
    const jobs = path.join(this.home, '.petrel', 'clusters', cluster, `node-${rank}`, '.petrel', 'jobs');
    const pgids = new Set<number>();
    let keys: string[] = [];
    try {
      keys = fs.readdirSync(jobs);
    } catch {
      // no jobs recorded
    }
    for (const key of keys) {
      let text: string;
      try {
        text = fs.readFileSync(path.join(jobs, key, 'pid'), 'utf8').trim();
      } catch {
        continue;
      }
      if (/^\d+$/.test(text) && Number(text) > 1) pgids.add(Number(text));
    }
    // Only groups with a process of this cluster in them: a recorded pid may have been reused.
    const ours = new Set<number>();
    for (const p of this.markedProcesses()) if (pgids.has(p.pgid)) ours.add(p.pgid);
    ours.delete(readProc(process.pid)?.pgid ?? -1); // never the test worker's own group (kwok's children are in it)
    for (const g of ours) {
      try {
        process.kill(-g, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    const deadline = Date.now() + 5000;
    while (this.markedProcesses().some((p) => ours.has(p.pgid))) {
      if (Date.now() > deadline) throw new Error(`killPodProcesses: process groups ${[...ours].join(', ')} survived SIGKILL`);
      await sleep(20);
    }
    return ours.size;
  }

  /** live processes started by this cluster's exec'd commands */
  markedProcesses(): ProcInfo[] {
    const out: ProcInfo[] = [];
    for (const pid of procIds()) {
      const p = readProc(pid);
      if (p && !isZombie(p) && p.env.get(KWOK_CLUSTER_ENV) === this.id) out.push(p);
    }
    return out;
  }

  // --- stop ---

  /** stops the components in order; does not look for leftovers */
  async stopComponents(): Promise<void> {
    this.stopping = true;
    const others = ['kube-scheduler', 'kwok', 'kube-apiserver'].map((n) => this.component(n)).filter((c) => c !== undefined);
    await Promise.all(others.map(terminate));
    // etcd last: its graceful stop waits for the apiserver's watches (together: 5-9 s).
    const etcd = this.component('etcd');
    if (etcd) await terminate(etcd);
    this.agent?.destroy();
  }

  /** for a start that failed: no grace */
  async kill(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.components.map(killNow));
    this.agent?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// the testbed

/** SIGKILLs the processes of these clusters' exec'd commands until none is left; returns what it found. */
async function killLeftovers(clusters: Cluster[]): Promise<KubeLeftover[]> {
  const found = new Map<number, KubeLeftover>();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const live = clusters.flatMap((c) => c.markedProcesses().map((p) => ({ p, context: c.context })));
    if (live.length === 0) break;
    for (const { p, context } of live) {
      if (!found.has(p.pid)) found.set(p.pid, { pid: p.pid, context, cmdline: p.cmdline });
      try {
        if (p.pgid === p.pid) process.kill(-p.pid, 'SIGKILL');
      } catch {
        // gone
      }
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (Date.now() > deadline) throw new Error(`processes of kwok exec survive SIGKILL: ${live.map(({ p }) => p.pid).join(', ')}`);
    await sleep(50);
  }
  return [...found.values()].sort((a, b) => a.pid - b.pid);
}

async function startCluster(spec: KubeClusterSpec, root: string, bin: string, t0: number, testbedId: string): Promise<Cluster> {
  for (let attempt = 1; ; attempt++) {
    const dir = path.join(root, spec.context);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const ports: Ports = { etcd: await freePort(), etcdPeer: await freePort(), api: await freePort(), kwok: await freePort(), scheduler: await freePort() };
    const cluster = new Cluster(spec.context, dir, ports, bin, t0, testbedId);
    try {
      await cluster.start(spec.nodes, spec.apiserverArgs ?? []);
      return cluster;
    } catch (err) {
      await cluster.kill();
      // Another process took one of the ports between our check and the bind: new ports.
      const lostPort = cluster.components.some((c) => /address already in use/i.test(tail(c.log, 50)));
      if (!lostPort || attempt >= 3) {
        if (err instanceof Error && !err.message.startsWith(`${spec.context}: `)) err.message = `${spec.context}: ${err.message}`;
        throw err;
      }
    }
  }
}

function writeKubeconfig(file: string, clusters: Cluster[]): void {
  const clusterEntries = clusters.map((c) => ({
    name: c.context,
    cluster: { server: c.server, 'certificate-authority-data': fs.readFileSync(c.caFile).toString('base64') },
  }));
  const users = clusters.flatMap((c) => [
    { name: `${c.context}-admin`, user: { token: c.token } },
    { name: `${c.context}-badtoken`, user: { token: c.badToken } },
    { name: `${c.context}-limited`, user: { token: c.limitedToken } },
  ]);
  const contexts = clusters.flatMap((c) =>
    ['', '-badtoken', '-limited'].map((suffix) => ({
      name: `${c.context}${suffix}`,
      context: { cluster: c.context, user: `${c.context}${suffix || '-admin'}`, namespace: 'default' },
    })),
  );
  fs.writeFileSync(
    file,
    toYaml({ apiVersion: 'v1', kind: 'Config', clusters: clusterEntries, users, contexts, 'current-context': clusters[0]?.context ?? '' }),
    { mode: 0o600 },
  );
}

/**
 * Starts one Kubernetes cluster per spec, in parallel, each with its nodes Ready. On failure
 * whatever was started is killed and the error carries the failing component's log tail.
 */
export async function startKubeTestbed(specs: KubeClusterSpec[], opts: { dir?: string } = {}): Promise<KubeTestbed> {
  const t0 = Date.now();
  const contexts = specs.map((s) => s.context);
  if (new Set(contexts).size !== contexts.length) throw new Error(`duplicate contexts: ${contexts.join(', ')}`);
  for (const c of contexts) if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(c)) throw new Error(`invalid context name '${c}'`);
  const bin = k8sBinDir();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-'));
  fs.mkdirSync(dir, { recursive: true });
  const testbedId = `${path.basename(dir)}-${crypto.randomBytes(4).toString('hex')}`;

  const settled = await Promise.allSettled(specs.map((s) => startCluster(s, dir, bin, t0, testbedId)));
  const clusters = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failed.length > 0) {
    await Promise.all(clusters.map((c) => c.kill()));
    await killLeftovers(clusters).catch(() => undefined);
    throw failed.length === 1 ? failed[0] : new AggregateError(failed, `${failed.length} clusters failed to start`);
  }

  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, clusters);

  let stopped: Promise<KubeLeftover[]> | undefined;
  const stopOnce = async (allowLeftovers: boolean): Promise<KubeLeftover[]> => {
    await Promise.all(clusters.map((c) => c.stopComponents()));
    const left = await killLeftovers(clusters);
    if (left.length > 0 && !allowLeftovers) {
      throw new Error(
        [
          `${left.length} process(es) started through kwok exec were still running when the testbed stopped ` +
            '(the code under test must kill what it started before it deletes the pods); all SIGKILLed now:',
          ...left.map((l) => `  pid ${l.pid} (cluster ${l.context}): ${l.cmdline.slice(0, 300)}`),
        ].join('\n'),
      );
    }
    return left;
  };

  return {
    dir,
    kubeconfig,
    clusters: new Map(clusters.map((c) => [c.context, c])),
    stop(stopOpts: KubeStopOptions = {}): Promise<KubeLeftover[]> {
      if (stopped) return stopped.catch(() => []);
      stopped = stopOnce(stopOpts.allowLeftovers ?? false);
      return stopped;
    },
  };
}
