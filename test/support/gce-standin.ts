// A STAND-IN for Google Compute Engine, not an emulator: no GCE emulator can run here (none is on
// the package indexes we reach, and gcplocal 0.1.0 is too partial: no zoneOperations.wait, no
// stop/start, list filters ignored — see /work/shared/reference/cloud-test-doubles.md §2.1).
// It imitates the Compute Engine v1 REST API (compute.googleapis.com/compute/v1) as
// @google-cloud/compute 6.15.0 drives it over REST, plus the GCE metadata server's
// /computeMetadata/v1/instance/preempted, for the calls Petrel's GCP provider makes. Only
// 127.0.0.1. Behaviour copied from the documented API: requestId idempotency, zone operations
// that run for a while before DONE, bounded operations.wait, label/status list filters
// (`labels.k = "v"`, `labels.k:*`, AND/OR with parentheses), pagination, both error-body forms
// (legacy errors[].reason and AIP-193 details[] ErrorInfo), failed operations (DONE with
// error.errors[].code), spot preemption per instanceTerminationAction, network tags, and VPC
// firewall rules (global resources, whose changes are global operations: they exist once their
// operation is DONE). REST paths as in @google-cloud/compute's protos.json (google.api.http of
// Firewalls.* and GlobalOperations.*). Only the `default` network exists.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinInstance {
  project: string;
  zone: string;
  name: string;
  id: string;
  status: 'PROVISIONING' | 'STAGING' | 'RUNNING' | 'STOPPING' | 'TERMINATED' | 'SUSPENDED';
  statusMessage?: string;
  labels: Record<string, string>;
  /** the network tags (`tags.items`) */
  tags: string[];
  machineType: string;
  scheduling: { provisioningModel?: string; instanceTerminationAction?: string; preemptible?: boolean; [k: string]: unknown };
  metadata: { items?: Array<{ key: string; value: string }> };
  guestAccelerators?: Array<{ acceleratorType: string; acceleratorCount: number }>;
  disks: unknown[];
  networkIP: string;
  natIP: string;
  lastStopTimestamp?: string;
  lastStartTimestamp?: string;
  /** the requestId of the insert that created it */
  requestId?: string;
  /** the metadata server's `preempted` answer */
  preemptedNotice: boolean;
  body: Record<string, unknown>;
}

export interface StandinFirewall {
  project: string;
  name: string;
  id: string;
  description?: string;
  network: string;
  direction: 'INGRESS' | 'EGRESS';
  priority: number;
  allowed: Array<{ IPProtocol: string; ports?: string[] }>;
  sourceRanges: string[];
  targetTags: string[];
  creationTimestamp: string;
  /** the requestId of the insert that created it */
  requestId?: string;
}

interface Operation {
  kind: 'compute#operation';
  id: string;
  name: string;
  /** absent for a global operation */
  zone?: string;
  operationType: string;
  targetLink: string;
  targetId?: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  progress: number;
  insertTime: string;
  startTime?: string;
  endTime?: string;
  selfLink: string;
  user: string;
  error?: { errors: Array<{ code: string; message: string }> };
  /** when it becomes DONE (ms since epoch) */
  doneAt: number;
  /** applied once, when it becomes DONE */
  effect?: () => void;
}

export interface Fault {
  /** HTTP method to match */
  method: string;
  /** regular expression over the URL path */
  path: string;
  /** how many requests it hits (decremented) */
  times: number;
  /** a synchronous HTTP error: status and JSON body */
  status?: number;
  body?: unknown;
  /** instead: accept the request, and end its operation DONE with this error */
  opError?: { code: string; message: string };
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  authorization?: string;
  requestId?: string;
  at: number;
}

export interface GceStandin {
  port: number;
  /** `http://127.0.0.1:<port>`: the provider's gcp.api_endpoint */
  endpoint: string;
  /** base of the metadata stand-in: `<endpoint>/metadata/{instance_id}` */
  metadataEndpoint: string;
  /** every API request (metadata requests excluded), in order */
  log: RequestRecord[];
  /** requests whose Authorization was not the configured one (answered 401) */
  unauthorized: RequestRecord[];
  /** metadata requests without `Metadata-Flavor: Google` (answered 403) */
  metadataRefused: number;
  /** a copy of what exists now */
  inventory(): StandinInstance[];
  instance(zone: string, name: string, project?: string): StandinInstance | undefined;
  fault(f: Fault): void;
  clearFaults(): void;
  /** The preemption notice only: the metadata server answers TRUE, the instance still runs. */
  preemptionNotice(zone: string, name: string, project?: string): void;
  /**
   * GCE preempts a SPOT instance: a compute.instances.preempted operation, then the instance is
   * TERMINATED (instanceTerminationAction STOP) or deleted (DELETE, the Spot default).
   */
  preempt(zone: string, name: string, project?: string): void;
  /** operations of a zone (for assertions) */
  operations(zone: string, project?: string): Array<Omit<Operation, 'effect' | 'doneAt'>>;
  /** global operations (firewall changes) */
  globalOperations(project?: string): Array<Omit<Operation, 'effect' | 'doneAt'>>;
  /** a copy of the firewall rules that exist now (those whose insert is DONE) */
  firewalls(project?: string): StandinFirewall[];
  close(): Promise<void>;
}

export interface GceStandinOptions {
  /** the Authorization header every API request must carry, e.g. `Bearer test-token` */
  authorization: string;
  /** how long an operation runs before DONE (default 120 ms) */
  opDurationMs?: number;
  /** how long operations.wait holds at most before answering (default 40 ms: shorter than an operation, as real waits are bounded) */
  waitCapMs?: number;
  /** the natIP instances get (default 127.0.0.1) */
  natIP?: string;
}

const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/** A legacy error body (errors[].reason), as most Compute errors still come. */
export function legacyError(code: number, reason: string, message: string, extra: Record<string, unknown> = {}): unknown {
  return { error: { code, message, errors: [{ message, domain: 'global', reason, ...extra }] } };
}

/** An AIP-193 error body (status + details[] ErrorInfo), as newer Compute errors come. */
export function aip193Error(code: number, status: string, reason: string, message: string, metadata: Record<string, string> = {}): unknown {
  return {
    error: {
      code,
      message,
      status,
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'compute.googleapis.com', metadata }],
    },
  };
}

export async function startGceStandin(opts: GceStandinOptions): Promise<GceStandin> {
  const opDurationMs = opts.opDurationMs ?? 120;
  const waitCapMs = opts.waitCapMs ?? 40;
  const natIP = opts.natIP ?? '127.0.0.1';
  const instances = new Map<string, StandinInstance>();
  const firewalls = new Map<string, StandinFirewall>();
  /** rules whose insert is not DONE yet: their names are taken, but they cannot be read */
  const pendingFirewalls = new Set<string>();
  const ops = new Map<string, Operation>();
  const byRequestId = new Map<string, Operation>();
  const faults: Fault[] = [];
  const log: RequestRecord[] = [];
  const unauthorized: RequestRecord[] = [];
  let metadataRefused = 0;
  let seq = 0;
  let ipSeq = 2;
  let port = 0;

  const base = () => `http://127.0.0.1:${port}/compute/v1`;
  const ikey = (project: string, zone: string, name: string) => `${project}/${zone}/${name}`;

  /** Operations become DONE when their time comes, whoever asks first. */
  const settle = (op: Operation) => {
    const now = Date.now();
    if (op.status !== 'DONE' && now >= op.doneAt) {
      op.status = 'DONE';
      op.progress = 100;
      op.endTime = new Date(now).toISOString();
      const effect = op.effect;
      delete op.effect;
      if (!op.error) effect?.();
    } else if (op.status === 'PENDING' && now >= op.doneAt - opDurationMs / 2) {
      op.status = 'RUNNING';
      op.startTime = new Date(now).toISOString();
    }
  };
  const settleAll = () => {
    for (const op of ops.values()) settle(op);
  };

  const newOp = (project: string, zone: string, type: string, target: string, o: { effect?: () => void; error?: Fault['opError']; durationMs?: number; targetId?: string } = {}) => {
    const name = `operation-${Date.now()}-${(++seq).toString().padStart(5, '0')}-${crypto.randomBytes(4).toString('hex')}`;
    const global = zone === 'global';
    const zoneLink = global ? `${base()}/projects/${project}/global` : `${base()}/projects/${project}/zones/${zone}`;
    const op: Operation = {
      kind: 'compute#operation',
      id: String(7_000_000 + seq),
      name,
      ...(global ? {} : { zone: zoneLink }),
      operationType: type,
      targetLink: target,
      ...(o.targetId ? { targetId: o.targetId } : {}),
      status: 'PENDING',
      progress: 0,
      insertTime: new Date().toISOString(),
      selfLink: `${zoneLink}/operations/${name}`,
      user: 'petrel-test@example.iam.gserviceaccount.com',
      doneAt: Date.now() + (o.durationMs ?? opDurationMs),
      ...(o.effect ? { effect: o.effect } : {}),
      ...(o.error ? { error: { errors: [{ code: o.error.code, message: o.error.message }] } } : {}),
    };
    ops.set(`${project}/${zone}/${name}`, op);
    return op;
  };
  const view = (op: Operation) => {
    const { effect: _e, doneAt: _d, ...rest } = op;
    return rest;
  };

  const instanceView = (i: StandinInstance) => ({
    ...i.body,
    kind: 'compute#instance',
    id: i.id,
    name: i.name,
    zone: `${base()}/projects/${i.project}/zones/${i.zone}`,
    selfLink: `${base()}/projects/${i.project}/zones/${i.zone}/instances/${i.name}`,
    status: i.status,
    ...(i.statusMessage ? { statusMessage: i.statusMessage } : {}),
    labels: i.labels,
    tags: { items: i.tags, fingerprint: crypto.createHash('sha256').update(i.tags.join(',')).digest('base64').slice(0, 12) },
    machineType: i.machineType,
    scheduling: i.scheduling,
    metadata: i.metadata,
    ...(i.lastStopTimestamp ? { lastStopTimestamp: i.lastStopTimestamp } : {}),
    ...(i.lastStartTimestamp ? { lastStartTimestamp: i.lastStartTimestamp } : {}),
    networkInterfaces: [{ name: 'nic0', network: `${base()}/projects/${i.project}/global/networks/default`, networkIP: i.networkIP, accessConfigs: i.status === 'RUNNING' ? [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT', natIP: i.natIP }] : [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }] }],
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        send(res, 500, legacyError(500, 'backendError', `stand-in failure: ${(err as Error).message}`));
      });
    });
  });

  function send(res: http.ServerResponse, code: number, obj: unknown): void {
    if (res.headersSent) return;
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(obj));
  }
  const notFound = (res: http.ServerResponse, what: string) => send(res, 404, legacyError(404, 'notFound', `The resource '${what}' was not found`));
  const invalid = (res: http.ServerResponse, message: string) => send(res, 400, legacyError(400, 'invalid', message));

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    settleAll();

    // The metadata server: one per instance in real life; here addressed by name or id.
    const md = url.pathname.match(/^\/metadata\/([^/]+)\/computeMetadata\/v1\/instance\/preempted$/);
    if (md) {
      if (req.headers['metadata-flavor'] !== 'Google') {
        metadataRefused++;
        res.writeHead(403, { 'content-type': 'text/html' });
        res.end('Missing required header: Metadata-Flavor');
        return;
      }
      const who = decodeURIComponent(md[1]!);
      const inst = [...instances.values()].find((i) => i.name === who || i.id === who);
      if (!inst) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/text', 'metadata-flavor': 'Google' });
      res.end(inst.preemptedNotice ? 'TRUE' : 'FALSE');
      return;
    }

    const rec: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      at: Date.now(),
      ...(typeof req.headers.authorization === 'string' ? { authorization: req.headers.authorization } : {}),
      ...(url.searchParams.get('requestId') ? { requestId: url.searchParams.get('requestId')! } : {}),
    };
    log.push(rec);
    if (req.headers.authorization !== opts.authorization) {
      unauthorized.push(rec);
      send(res, 401, legacyError(401, 'required', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.', { locationType: 'header', location: 'Authorization' }));
      return;
    }

    const fault = faults.find((f) => f.times > 0 && f.method === req.method && new RegExp(f.path).test(url.pathname));
    if (fault && fault.status !== undefined) {
      fault.times--;
      send(res, fault.status, fault.body ?? legacyError(fault.status, 'backendError', 'injected'));
      return;
    }

    const g = url.pathname.match(/^\/compute\/v1\/projects\/([^/]+)\/global\/(firewalls|operations)(?:\/([^/]+))?(?:\/(wait))?$/);
    if (g) return handleGlobal(req, res, url, body, g[1]!, g[2]!, g[3], g[4], fault);

    const m = url.pathname.match(/^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/(instances|operations)(?:\/([^/]+))?(?:\/(wait|stop|start))?$/);
    if (!m) return notFound(res, url.pathname);
    const [, project, zone, kind, name, verb] = m as unknown as [string, string, string, string, string | undefined, string | undefined];

    if (kind === 'operations') return handleOperations(req, res, url, project, zone, name, verb);

    // instances
    const requestId = url.searchParams.get('requestId');
    if (requestId !== null && !UUID.test(requestId)) {
      return invalid(res, `Invalid value for field 'requestId': '${requestId}'. The requestId must be a valid UUID.`);
    }
    if (requestId !== null) {
      const seen = byRequestId.get(`${project}/${requestId}`);
      if (seen) return send(res, 200, view(seen)); // the same request again: the same operation, nothing new
    }
    const remember = (op: Operation) => {
      if (requestId !== null) byRequestId.set(`${project}/${requestId}`, op);
      return op;
    };

    if (req.method === 'POST' && !name) {
      const r = JSON.parse(body || '{}') as Record<string, unknown>;
      const iname = String(r.name ?? '');
      if (!NAME.test(iname)) return invalid(res, `Invalid value for field 'resource.name': '${iname}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})'`);
      const labels = (r.labels ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(labels)) {
        if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) {
          return invalid(res, `Invalid value for field 'resource.labels': '${k}=${String(v)}'. Label keys and values can only contain lowercase letters, numeric characters, underscores and dashes.`);
        }
      }
      const tagItems = ((r.tags ?? {}) as { items?: unknown }).items ?? [];
      if (!Array.isArray(tagItems) || tagItems.some((t) => typeof t !== 'string' || !NAME.test(t))) {
        return invalid(res, `Invalid value for field 'resource.tags.items': '${JSON.stringify(tagItems)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`);
      }
      const machineType = String(r.machineType ?? '');
      if (!/^(zones\/[^/]+\/)?machineTypes\/[a-z0-9-]+$|\/zones\/[^/]+\/machineTypes\/[a-z0-9-]+$/.test(machineType)) {
        return invalid(res, `Invalid value for field 'resource.machineType': '${machineType}'.`);
      }
      const self = `${base()}/projects/${project}/zones/${zone}/instances/${iname}`;
      if (fault?.opError) {
        fault.times--;
        return send(res, 200, view(remember(newOp(project, zone, 'insert', self, { error: fault.opError }))));
      }
      const k = ikey(project, zone, iname);
      if (instances.has(k)) {
        return send(res, 409, legacyError(409, 'alreadyExists', `The resource 'projects/${project}/zones/${zone}/instances/${iname}' already exists`));
      }
      const inst: StandinInstance = {
        project,
        zone,
        name: iname,
        id: String(BigInt(1e18) + BigInt(++seq) * 7919n),
        status: 'PROVISIONING',
        labels: labels as Record<string, string>,
        tags: tagItems as string[],
        machineType: machineType.startsWith('http') ? machineType : `${base()}/projects/${project}/${machineType.replace(/^\/?/, '')}`,
        scheduling: (r.scheduling ?? {}) as StandinInstance['scheduling'],
        metadata: (r.metadata ?? {}) as StandinInstance['metadata'],
        ...(Array.isArray(r.guestAccelerators) ? { guestAccelerators: r.guestAccelerators as StandinInstance['guestAccelerators'] } : {}),
        disks: (r.disks ?? []) as unknown[],
        networkIP: `10.128.0.${ipSeq++}`,
        natIP,
        ...(requestId !== null ? { requestId } : {}),
        preemptedNotice: false,
        body: r,
      };
      instances.set(k, inst);
      const op = newOp(project, zone, 'insert', self, { targetId: inst.id, effect: () => {
          inst.status = 'RUNNING';
          inst.lastStartTimestamp = new Date().toISOString();
        } });
      setTimeout(() => {
        if (inst.status === 'PROVISIONING') inst.status = 'STAGING';
      }, opDurationMs / 2).unref();
      return send(res, 200, view(remember(op)));
    }

    if (req.method === 'GET' && !name) {
      const pred = compileFilter(url.searchParams.get('filter') ?? '');
      const items = [...instances.values()].filter((i) => i.project === project && i.zone === zone).map(instanceView).filter((i) => pred(i as unknown as Record<string, unknown>));
      return send(res, 200, page(url, items, 'compute#instanceList', `projects/${project}/zones/${zone}/instances`));
    }

    const k = ikey(project, zone, name ?? '');
    const inst = instances.get(k);
    if (!inst) return notFound(res, `projects/${project}/zones/${zone}/instances/${name}`);
    const self = `${base()}/projects/${project}/zones/${zone}/instances/${inst.name}`;
    if (req.method === 'GET' && !verb) return send(res, 200, instanceView(inst));
    if (req.method === 'DELETE' && !verb) {
      inst.status = 'STOPPING';
      const op = newOp(project, zone, 'delete', self, { targetId: inst.id, effect: () => instances.delete(k) });
      return send(res, 200, view(remember(op)));
    }
    if (req.method === 'POST' && verb === 'stop') {
      if (inst.status === 'RUNNING') inst.status = 'STOPPING';
      const op = newOp(project, zone, 'stop', self, {
        targetId: inst.id,
        effect: () => {
          inst.status = 'TERMINATED';
          inst.lastStopTimestamp = new Date().toISOString();
        },
      });
      return send(res, 200, view(remember(op)));
    }
    if (req.method === 'POST' && verb === 'start') {
      if (inst.status === 'TERMINATED') inst.status = 'STAGING';
      const op = newOp(project, zone, 'start', self, {
        targetId: inst.id,
        effect: () => {
          inst.status = 'RUNNING';
          inst.lastStartTimestamp = new Date().toISOString();
          inst.preemptedNotice = false;
          delete inst.statusMessage;
        },
      });
      return send(res, 200, view(remember(op)));
    }
    return notFound(res, url.pathname);
  }

  /** zoneOperations and globalOperations: get, list, and the bounded wait. `scope` is a zone or 'global'. */
  async function handleOperations(req: http.IncomingMessage, res: http.ServerResponse, url: URL, project: string, scope: string, name: string | undefined, verb: string | undefined): Promise<void> {
    const where = scope === 'global' ? `projects/${project}/global` : `projects/${project}/zones/${scope}`;
    if (!name && req.method === 'GET') {
      const pred = compileFilter(url.searchParams.get('filter') ?? '');
      const items = [...ops.entries()].filter(([k]) => k.startsWith(`${project}/${scope}/`)).map(([, o]) => view(o)).filter((o) => pred(o as unknown as Record<string, unknown>));
      return send(res, 200, page(url, items, 'compute#operationList', `${where}/operations`));
    }
    const op = name ? ops.get(`${project}/${scope}/${name}`) : undefined;
    if (!op) return notFound(res, `${where}/operations/${name}`);
    if (verb === 'wait' && req.method === 'POST') {
      // Bounded, as the real wait: may answer before DONE.
      const until = Math.min(op.doneAt, Date.now() + waitCapMs);
      while (Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      settle(op);
      return send(res, 200, view(op));
    }
    if (req.method === 'GET' && !verb) return send(res, 200, view(op));
    return notFound(res, url.pathname);
  }

  const firewallView = (f: StandinFirewall) => {
    const { project, requestId: _r, network, ...rest } = f;
    return { kind: 'compute#firewall', ...rest, network: `${base()}/projects/${project}/${network}`, disabled: false, selfLink: `${base()}/projects/${project}/global/firewalls/${f.name}` };
  };

  /** `global/networks/default` in any of the forms the API takes; undefined for another network. */
  const networkOf = (project: string, v: unknown): string | undefined => {
    const s = String(v ?? 'global/networks/default');
    const m = s.match(/^(?:.*\/compute\/v1\/)?(?:projects\/([^/]+)\/)?global\/networks\/([^/]+)$/);
    if (!m || (m[1] !== undefined && m[1] !== project) || m[2] !== 'default') return undefined;
    return 'global/networks/default';
  };

  /** /global/firewalls[/{name}] and /global/operations[/{op}[/wait]] */
  async function handleGlobal(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string, project: string, kind: string, name: string | undefined, verb: string | undefined, fault: Fault | undefined): Promise<void> {
    if (kind === 'operations') return handleOperations(req, res, url, project, 'global', name, verb);
    if (verb) return notFound(res, url.pathname);
    const requestId = url.searchParams.get('requestId');
    if (requestId !== null && !UUID.test(requestId)) {
      return invalid(res, `Invalid value for field 'requestId': '${requestId}'. The requestId must be a valid UUID.`);
    }
    if (requestId !== null) {
      const seen = byRequestId.get(`${project}/${requestId}`);
      if (seen) return send(res, 200, view(seen));
    }
    const remember = (op: Operation) => {
      if (requestId !== null) byRequestId.set(`${project}/${requestId}`, op);
      return op;
    };
    const fkey = `${project}/${name ?? ''}`;

    if (req.method === 'GET' && !name) {
      const pred = compileFilter(url.searchParams.get('filter') ?? '');
      const items = [...firewalls.values()].filter((f) => f.project === project).map(firewallView).filter((f) => pred(f as unknown as Record<string, unknown>));
      return send(res, 200, page(url, items, 'compute#firewallList', `projects/${project}/global/firewalls`));
    }

    if (req.method === 'POST' && !name) {
      const r = JSON.parse(body || '{}') as Record<string, unknown>;
      const fname = String(r.name ?? '');
      if (!NAME.test(fname)) return invalid(res, `Invalid value for field 'resource.name': '${fname}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`);
      const network = networkOf(project, r.network);
      if (!network) return notFound(res, String(r.network));
      const direction = String(r.direction ?? 'INGRESS');
      if (direction !== 'INGRESS' && direction !== 'EGRESS') return invalid(res, `Invalid value for field 'resource.direction': '${direction}'.`);
      const allowed = r.allowed as StandinFirewall['allowed'] | undefined;
      if (!Array.isArray(allowed) || allowed.length === 0) return invalid(res, "Invalid value for field 'resource.allowed': ''. Exactly one of allowed or denied must be specified.");
      for (const a of allowed) {
        if (!['tcp', 'udp', 'icmp', 'all'].includes(String(a.IPProtocol))) return invalid(res, `Invalid value for field 'resource.allowed[].IPProtocol': '${String(a.IPProtocol)}'.`);
        for (const port of a.ports ?? []) {
          const pm = /^(\d+)(?:-(\d+))?$/.exec(String(port));
          if (!pm || Number(pm[1]) < 0 || Number(pm[2] ?? pm[1]) > 65535 || Number(pm[1]) > Number(pm[2] ?? pm[1])) return invalid(res, `Invalid value for field 'resource.allowed[].ports': '${String(port)}'. Invalid port specification.`);
        }
      }
      const targetTags = (r.targetTags ?? []) as string[];
      if (!Array.isArray(targetTags) || targetTags.some((t) => typeof t !== 'string' || !NAME.test(t))) return invalid(res, `Invalid value for field 'resource.targetTags': '${JSON.stringify(r.targetTags)}'.`);
      const self = `${base()}/projects/${project}/global/firewalls/${fname}`;
      if (fault?.opError) {
        fault.times--;
        return send(res, 200, view(remember(newOp(project, 'global', 'insert', self, { error: fault.opError }))));
      }
      if (firewalls.has(`${project}/${fname}`) || pendingFirewalls.has(`${project}/${fname}`)) {
        return send(res, 409, legacyError(409, 'alreadyExists', `The resource 'projects/${project}/global/firewalls/${fname}' already exists`));
      }
      const fw: StandinFirewall = {
        project,
        name: fname,
        id: String(BigInt(5e18) + BigInt(++seq) * 104729n),
        ...(typeof r.description === 'string' ? { description: r.description } : {}),
        network,
        direction,
        priority: Number(r.priority ?? 1000),
        allowed: structuredClone(allowed),
        sourceRanges: (r.sourceRanges ?? (direction === 'INGRESS' ? ['0.0.0.0/0'] : [])) as string[],
        targetTags,
        creationTimestamp: new Date().toISOString(),
        ...(requestId !== null ? { requestId } : {}),
      };
      const k = `${project}/${fname}`;
      pendingFirewalls.add(k);
      const op = newOp(project, 'global', 'insert', self, {
        targetId: fw.id,
        effect: () => {
          pendingFirewalls.delete(k);
          firewalls.set(k, fw);
        },
      });
      return send(res, 200, view(remember(op)));
    }

    const fw = firewalls.get(fkey);
    if (!fw) return notFound(res, `projects/${project}/global/firewalls/${name}`);
    const self = `${base()}/projects/${project}/global/firewalls/${fw.name}`;
    if (req.method === 'GET') return send(res, 200, firewallView(fw));
    if (req.method === 'DELETE') {
      return send(res, 200, view(remember(newOp(project, 'global', 'delete', self, { targetId: fw.id, effect: () => void firewalls.delete(fkey) }))));
    }
    if (req.method === 'PATCH') {
      const r = JSON.parse(body || '{}') as Partial<StandinFirewall>;
      const op = newOp(project, 'global', 'patch', self, {
        targetId: fw.id,
        effect: () => {
          if (r.allowed) fw.allowed = structuredClone(r.allowed);
          if (r.sourceRanges) fw.sourceRanges = r.sourceRanges;
          if (r.targetTags) fw.targetTags = r.targetTags;
          if (typeof r.description === 'string') fw.description = r.description;
        },
      });
      return send(res, 200, view(remember(op)));
    }
    return notFound(res, url.pathname);
  }

  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;

  const find = (zone: string, name: string, project?: string) =>
    [...instances.values()].find((i) => i.zone === zone && i.name === name && (project === undefined || i.project === project));

  return {
    port,
    endpoint,
    metadataEndpoint: `${endpoint}/metadata/{instance_id}`,
    log,
    unauthorized,
    get metadataRefused() {
      return metadataRefused;
    },
    inventory: () => {
      settleAll();
      return [...instances.values()].map((i) => structuredClone({ ...i }));
    },
    instance: (zone, name, project) => {
      settleAll();
      const i = find(zone, name, project);
      return i ? structuredClone({ ...i }) : undefined;
    },
    fault: (f) => void faults.push({ ...f }),
    clearFaults: () => void faults.splice(0),
    preemptionNotice: (zone, name, project) => {
      const i = find(zone, name, project);
      if (!i) throw new Error(`stand-in: no instance ${zone}/${name}`);
      i.preemptedNotice = true;
    },
    preempt: (zone, name, project) => {
      settleAll();
      const i = find(zone, name, project);
      if (!i) throw new Error(`stand-in: no instance ${zone}/${name}`);
      if (i.scheduling.provisioningModel !== 'SPOT' && !i.scheduling.preemptible) throw new Error(`stand-in: ${name} is not a Spot VM; GCE does not preempt it`);
      i.preemptedNotice = true;
      const self = `${base()}/projects/${i.project}/zones/${i.zone}/instances/${i.name}`;
      const op = newOp(i.project, i.zone, 'compute.instances.preempted', self, { targetId: i.id, durationMs: 0 });
      op.user = 'system';
      op.status = 'DONE';
      op.progress = 100;
      op.endTime = new Date().toISOString();
      if ((i.scheduling.instanceTerminationAction ?? 'DELETE') === 'DELETE') {
        instances.delete(ikey(i.project, i.zone, i.name));
      } else {
        i.status = 'TERMINATED';
        i.statusMessage = 'Instance was preempted.';
        i.lastStopTimestamp = new Date().toISOString();
      }
    },
    globalOperations: (project) => {
      settleAll();
      return [...ops.entries()].filter(([k]) => k.split('/')[1] === 'global' && (project === undefined || k.startsWith(`${project}/`))).map(([, o]) => view(o));
    },
    firewalls: (project) => {
      settleAll();
      return [...firewalls.values()].filter((f) => project === undefined || f.project === project).map((f) => structuredClone(f));
    },
    operations: (zone, project) => {
      settleAll();
      return [...ops.entries()].filter(([k]) => k.split('/')[1] === zone && (project === undefined || k.startsWith(`${project}/`))).map(([, o]) => view(o));
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** maxResults / pageToken as the API pages lists. */
function page(url: URL, items: unknown[], kind: string, id: string): unknown {
  const max = Math.min(Number(url.searchParams.get('maxResults') ?? 500) || 500, 500);
  const from = Number(url.searchParams.get('pageToken') ?? 0) || 0;
  const slice = items.slice(from, from + max);
  const next = from + max < items.length ? String(from + max) : undefined;
  return { kind, id, items: slice, ...(next ? { nextPageToken: next } : {}) };
}

// ---- list filters: `field op value`, op in = != :, `:*` for presence; AND/OR; parentheses ----

type Pred = (obj: Record<string, unknown>) => boolean;

function fieldValue(obj: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function compileFilter(filter: string): Pred {
  const tokens = filter.match(/\(|\)|"(?:[^"\\]|\\.)*"|!=|=|:\*|:|[^\s()=!:"]+/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const unq = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s);
  function expr(): Pred {
    let left = term();
    for (;;) {
      const t = peek();
      if (t === undefined || t === ')') return left;
      if (t === 'OR') {
        i++;
        const right = term();
        const l = left;
        left = (o) => l(o) || right(o);
      } else {
        if (t === 'AND') i++;
        const right = term();
        const l = left;
        left = (o) => l(o) && right(o);
      }
    }
  }
  function term(): Pred {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`stand-in: bad filter '${filter}'`);
    if (t === '(') {
      const p = expr();
      if (tokens[i++] !== ')') throw new Error(`stand-in: unbalanced filter '${filter}'`);
      return p;
    }
    const op = tokens[i++];
    if (op === ':*') return (o) => fieldValue(o, t) !== undefined;
    const raw = tokens[i++];
    if (raw === undefined) throw new Error(`stand-in: bad filter '${filter}'`);
    const want = unq(raw);
    if (op === '=') return (o) => String(fieldValue(o, t) ?? '') === want;
    if (op === '!=') return (o) => String(fieldValue(o, t) ?? '') !== want;
    if (op === ':') return (o) => String(fieldValue(o, t) ?? '').includes(want);
    throw new Error(`stand-in: operator '${op}' unsupported in '${filter}'`);
  }
  if (filter.trim() === '') return () => true;
  const p = expr();
  if (i !== tokens.length) throw new Error(`stand-in: trailing tokens in filter '${filter}'`);
  return p;
}
