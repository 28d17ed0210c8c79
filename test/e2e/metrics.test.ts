// Metrics and traces of a worker, read the way a team reads them: a real Prometheus (Debian's
// `prometheus` package, started here on loopback) scrapes the embedded worker's /metrics, and
// PromQL over its HTTP API must show the job counts and the recovery after a preemption. The
// worker exports OpenTelemetry traces over OTLP/HTTP (JSON) to a receiver in this process: each
// launch is one trace with the workflow's span and its provision and phase activities.
// (The CLI's own client spans join these traces once the CLI installs workers/tracing-client.ts;
// until then the trace starts at the workflow's span.)
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatedJob, running, submitJob, waitForJob, writeConfig } from '../support/jobs.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';
import { Prometheus } from '../support/prometheus.js';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  attributes: Record<string, string>;
}

/** An OTLP/HTTP trace receiver: what the worker's exporter POSTs to /v1/traces, as JSON. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private constructor(
    private readonly server: http.Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const spans: ReceivedSpan[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
          res.writeHead(415).end();
          return;
        }
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          const service = attrs(rs.resource?.attributes)['service.name'] ?? '';
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, service, attributes: attrs(s.attributes) });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    (receiver as { spans: ReceivedSpan[] }).spans = spans;
    return receiver;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function attrs(list: Array<{ key: string; value: Record<string, unknown> }> | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, String(Object.values(a.value)[0])]));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

let p: PetrelEnv;
let prom: Prometheus | undefined;
let otlp: OtlpReceiver;
let metricsPort: number;

beforeAll(async () => {
  p = await PetrelEnv.create();
  otlp = await OtlpReceiver.start();
  metricsPort = await freePort();
  writeConfig(p, { local: { regions: ['region-a', 'region-b'] }, metrics: { port: metricsPort, host: '127.0.0.1' } });
  // The worker `server start` spawns inherits this environment: it traces, the CLI does not yet.
  await p.ok(['server', 'start'], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_SERVICE_NAME: 'petrel-worker-test' } });
  prom = await Prometheus.start(fs.mkdtempSync(path.join(os.tmpdir(), 'prometheus-')), [`127.0.0.1:${metricsPort}`]);
});

afterAll(async () => {
  await prom?.stop();
  await p?.destroy();
  await otlp?.close();
});

describe('metrics', () => {
  it('a Prometheus scraping the worker sees the job RUNNING, its recovery after a preemption, then SUCCEEDED', async () => {
    await prom!.waitForValue('up{job="petrel-worker"}', 1, 30_000);
    // The SDK's own worker metrics come through the same endpoint.
    await prom!.waitForValue('count({__name__=~"temporal_.+", job="petrel-worker"}) > bool 0', 1, 30_000);

    const gate = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, ['-n', 'watched', '--infra', 'local', gatedJob(gate)]);
    await waitForJob(p, id, running, 'running');
    await prom!.waitForValue('sum(petrel_jobs{status="RUNNING", infra="local"})', 1);
    // The SDK reports its task slots once the worker has had tasks.
    await prom!.waitForValue('sum(temporal_worker_task_slots_available{job="petrel-worker"}) > bool 0', 1, 30_000);

    await p.ok(['debug', 'preempt', '--job', String(id)]);
    await waitForJob(p, id, (v) => running(v) && v.attempts.length === 2, 'running again after the preemption');
    await prom!.waitForValue('sum(petrel_job_recoveries_total{cause="preempted"})', 1);
    // The watcher noticed the loss: one detection, a short time after it last saw the node up.
    await prom!.waitForValue('sum(petrel_loss_detection_seconds_count)', 1);
    expect(await prom!.scalar('sum(petrel_loss_detection_seconds_sum)')).toBeLessThan(30);
    await prom!.waitForValue('sum(petrel_jobs{status="RUNNING"})', 1);
    // Two provisions on local, neither refused for capacity.
    await prom!.waitForValue('sum(petrel_provision_seconds_count{infra="local"})', 2);
    expect(await prom!.scalar('sum(petrel_capacity_errors_total)')).toBeUndefined();

    fs.writeFileSync(path.join(gate, 'go'), '');
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'SUCCEEDED');
    await prom!.waitForValue('sum(petrel_jobs{status="SUCCEEDED", infra="local"})', 1);
    await prom!.waitForValue('sum(petrel_jobs{status="RUNNING"})', 0);
    // A closed job's recovery still counts: the counter does not drop when the job ends.
    expect(await prom!.scalar('sum(petrel_job_recoveries_total)')).toBe(1);
  });

  it('capacity errors are counted by infra and region', async () => {
    writeConfig(p, { local: { regions: ['region-a', 'region-b'], unavailable_regions: ['region-a'] }, metrics: { port: metricsPort, host: '127.0.0.1' } });
    const id = await submitJob(p, ['--infra', 'local/region-a', 'true']);
    await waitForJob(p, id, (v) => v.status.startsWith('FAILED'), 'to fail for lack of capacity', 120_000);
    // One refusal per pass over the placement: how many does not matter, that they are counted does.
    await prom!.waitForValue('sum(petrel_capacity_errors_total{infra="local", region="region-a"}) > bool 0', 1, 30_000);
    expect(await prom!.scalar('sum(petrel_capacity_errors_total{region="region-b"})')).toBeUndefined();
    writeConfig(p, { local: { regions: ['region-a', 'region-b'] }, metrics: { port: metricsPort, host: '127.0.0.1' } });
  });
});

describe('configuration', () => {
  it('a worker of a team cluster refuses a bad metrics section, naming file, line and field', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-metrics-config-'));
    fs.writeFileSync(path.join(home, 'config.yaml'), 'local:\n  regions: [a]\nmetrics:\n  port: 99999\n');
    try {
      const r = await p.run(['worker'], { env: { PETREL_HOME: home, TEMPORAL_ADDRESS: p.address }, timeoutMs: 30_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${path.join(home, 'config.yaml')}:4:9: metrics.port: expected a TCP port (1-65535), got 99999`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('traces', () => {
  it('each launch is one trace: the workflow span with its provision, setup and run activities under it', async () => {
    const task = path.join(p.home, 'traced.yaml');
    fs.writeFileSync(task, 'name: traced\nsetup: echo setting up\nrun: echo hi\n');
    const id = await submitJob(p, ['--infra', 'local', task]);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'SUCCEEDED');
    const workflowSpan = (jobId: number) =>
      otlp.spans.find((s) => s.name === 'RunWorkflow:managedJobWorkflow' && otlp.spans.some((a) => a.traceId === s.traceId && a.attributes.temporalWorkflowId === `job/${jobId}`));
    const root = await waitFor('the workflow span of the launch', () => workflowSpan(id), 30_000, 200);
    const trace = otlp.spans.filter((s) => s.traceId === root.traceId);
    const names = trace.map((s) => s.name);
    expect(names).toContain('RunActivity:provisionCluster');
    expect(names).toContain('StartActivity:provisionCluster');
    // Its setup and its run (at least one phase activity each).
    expect(names.filter((n) => n === 'RunActivity:startPhase').length).toBeGreaterThanOrEqual(2);
    expect(names).toContain('RunActivity:terminateCluster');
    // Linked: every span of the trace hangs off another span of it, up to the workflow's.
    const ids = new Set(trace.map((s) => s.spanId));
    for (const s of trace) if (s !== root) expect(ids.has(s.parentSpanId ?? ''), `${s.name} has its parent in the trace`).toBe(true);
    expect(trace.every((s) => s.service === 'petrel-worker-test')).toBe(true);
    // The first test's job (preempted once) is a trace of its own, with both of its provisions.
    const first = workflowSpan(1);
    expect(first).toBeDefined();
    expect(first!.traceId).not.toBe(root.traceId);
    expect(otlp.spans.filter((s) => s.traceId === first!.traceId && s.name === 'RunActivity:provisionCluster')).toHaveLength(2);
    // One trace per launch: as many managed-job workflow traces as jobs launched that ended.
    const jobTraces = new Set(otlp.spans.filter((s) => s.name === 'RunWorkflow:managedJobWorkflow').map((s) => s.traceId));
    expect(jobTraces.size).toBe(3);
  });
});
