// A real Prometheus (Debian's `prometheus` package, /usr/bin/prometheus) for tests: started on
// loopback with a temporary config and storage, scraping the given targets every second, and
// stopped by its pid. Queries go through its HTTP API, as a dashboard's would.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './petrel.js';

export const PROMETHEUS_BIN = process.env.PETREL_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export class Prometheus {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly dir: string,
    private readonly log: () => string,
  ) {}

  /** Starts one scraping `targets` (host:port, path /metrics) as job `job`, and waits until it is ready. */
  static async start(dir: string, targets: string[], job = 'petrel-worker'): Promise<Prometheus> {
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        `  - job_name: ${job}`,
        '    scrape_interval: 1s',
        '    scrape_timeout: 1s',
        '    static_configs:',
        `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let output = '';
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // Samples are read back within the second they are scraped.
        '--query.lookback-delta=10s',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)));
    child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)));
    const prom = new Prometheus(child, url, dir, () => output);
    try {
      await waitFor(
        'Prometheus to be ready',
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${output.slice(-2000)}`);
          const r = await fetch(`${url}/-/ready`).catch(() => undefined);
          return r?.ok || undefined;
        },
        30_000,
        100,
      );
    } catch (err) {
      await prom.stop();
      throw err;
    }
    return prom;
  }

  /** An instant PromQL query's vector. */
  async query(promql: string): Promise<PromSample[]> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error ?? r.status}`);
    return body.data!.result;
  }

  /** The value of a query whose answer is one sample (undefined when it has none). */
  async scalar(promql: string): Promise<number | undefined> {
    const result = await this.query(promql);
    if (result.length > 1) throw new Error(`PromQL ${promql}: ${result.length} series, expected one`);
    return result[0] ? Number(result[0].value[1]) : undefined;
  }

  /** Waits until `promql` returns exactly `expected`, showing the last answer when it never does. */
  async waitForValue(promql: string, expected: number, timeoutMs = 60_000): Promise<void> {
    let last: number | undefined | string;
    await waitFor(
      `PromQL ${promql} == ${expected} (last: ${String(last)})`,
      async () => {
        last = await this.scalar(promql).catch((err: Error) => err.message);
        return last === expected || undefined;
      },
      timeoutMs,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last answer: ${String(last)}`);
    });
  }

  async targetsUp(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string }>> {
    const r = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string }> } };
    return r.data.activeTargets;
  }

  get output(): string {
    return this.log();
  }

  /** SIGTERM by pid, SIGKILL after 10 s; removes its storage. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
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
