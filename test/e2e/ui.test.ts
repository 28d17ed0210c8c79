// `petrel ui` and what the Temporal UI shows of a managed job, in a real browser (headless
// Chromium, driven as in team-security.test.ts): the job's summary from its start, and the
// attempts table its workflow keeps in current details, updated after a preemption.
// With PETREL_UI_SCREENSHOTS=DIR it also saves ui-workflows.png and ui-job.png there (docs/).
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../support/client.js';
import { gatedJob, running, submitJob, THREE_REGIONS, waitForJob, writeConfig } from '../support/jobs.js';
import { PetrelEnv } from '../support/petrel.js';

const chromium = '/usr/bin/chromium';
const screenshots = process.env.PETREL_UI_SCREENSHOTS;

let p: PetrelEnv;
let browser: Browser | undefined;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await browser?.close();
  await p?.destroy();
});

const uiBase = () => `http://127.0.0.1:${(JSON.parse(fs.readFileSync(path.join(p.home, 'run', 'server.json'), 'utf8')) as { uiPort: number }).uiPort}`;

async function newPage(): Promise<Page> {
  if (!browser) {
    expect(fs.existsSync(chromium), 'Debian chromium is needed (apt-get install chromium; .ci/run installs it)').toBe(true);
    const { chromium: pw } = await import('playwright-core');
    browser = await pw.launch({
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }
  return browser.newPage({ viewport: { width: 1400, height: 900 } });
}

/** The text of the page and of its frames (the UI renders Markdown in an iframe). */
async function allText(page: Page): Promise<string> {
  const texts = await Promise.all(page.frames().map((f) => f.evaluate(() => document.body?.innerText ?? '').catch(() => '')));
  return texts.join('\n');
}

async function waitForText(page: Page, what: string, ok: (text: string) => boolean, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await allText(page);
    if (ok(text)) return text;
    if (Date.now() > deadline) throw new Error(`the page never showed ${what}; it shows:\n${text.slice(0, 3000)}`);
    await page.waitForTimeout(500);
  }
}

describe('petrel ui', () => {
  it('prints the workflow list, a job and a cluster in the UI the embedded server runs', async () => {
    const ui = uiBase();
    expect((await p.ok(['ui'])).stdout).toBe(`${ui}/namespaces/default/workflows\n`);
    expect((await p.ok(['ui', '12'])).stdout).toBe(`${ui}/namespaces/default/workflows/job%2F12\n`);
    expect((await p.ok(['ui', 'train-box'])).stdout).toBe(`${ui}/namespaces/default/workflows/cluster%2Ftrain-box\n`);
    const bad = await p.run(['ui', 'Not_A_Name']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("'Not_A_Name' is neither a job id (a number) nor a cluster name");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('says the UI is unknown for a remote TEMPORAL_ADDRESS unless PETREL_UI_URL names it', async () => {
    const remote = await p.run(['ui', '3'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1', PETREL_UI_URL: '' } });
    expect(remote.code).toBe(1);
    expect(remote.stderr).toContain('the Temporal UI address is unknown for TEMPORAL_ADDRESS=127.0.0.1:1: set PETREL_UI_URL');
    const named = await p.ok(['ui', '3'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1', PETREL_UI_URL: 'https://temporal.example.com/' } });
    expect(named.stdout).toBe('https://temporal.example.com/namespaces/default/workflows/job%2F3\n');
  });
});

describe('a cluster in the Temporal UI', () => {
  it('launch names the UI page; the cluster is summarised at start and its current details follow its jobs', async () => {
    const r = await p.ok(['launch', '-y', '--cluster', 'ui-box', 'echo hi']);
    expect(r.stderr).toContain(`View in the Temporal UI: ${uiBase()}/namespaces/default/workflows/cluster%2Fui-box\n`);
    const { summary, details } = await withClient(p, async (c) => {
      const handle = c.workflow.getHandle('cluster/ui-box');
      const [described, metadata] = await Promise.all([handle.describe(), handle.query<{ currentDetails: string }>('__temporal_workflow_metadata')]);
      return { summary: await described.staticSummary(), details: metadata.currentDetails };
    });
    expect(summary).toBe('cluster ui-box · any machine · local');
    expect(details).toContain('**UP**');
    expect(details).toContain('- jobs: 1; last: 1 SUCCEEDED');
    await p.ok(['down', '-y', 'ui-box']);
  });
});

describe('the Temporal UI shows a managed job as Petrel sees it', () => {
  it("lists the job, shows its summary and, after a preemption, its attempts table", async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    try {
      await showsJob(dir);
    } finally {
      // the job finishes (and its node processes end) whatever was asserted
      fs.writeFileSync(path.join(dir, 'go'), '');
    }
  });
});

describe('user metadata never stands in the way of a start', () => {
  it('a job with a very long name is submitted, its summary cut to what the server accepts', async () => {
    const id = await submitJob(p, ['-n', `long-${'a'.repeat(400)}`, 'true']);
    const summary = await withClient(p, async (c) => (await c.workflow.getHandle(`job/${id}`).describe()).staticSummary());
    expect(summary).toMatch(/^long-a+…$/);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
  });
});

async function showsJob(dir: string): Promise<void> {
  const launched = await p.ok(['jobs', 'launch', '-d', '-y', '-n', 'ui-train', gatedJob(dir)]);
  const id = Number(launched.stdout.trim());
  const jobUrl = `${uiBase()}/namespaces/default/workflows/${encodeURIComponent(`job/${id}`)}`;
  expect(launched.stderr).toContain(`View in the Temporal UI: ${jobUrl}\n`);
  await waitForJob(p, id, running, 'running');
  const summary = await withClient(p, async (c) => (await c.workflow.getHandle(`job/${id}`).describe()).staticSummary());
  expect(summary).toBe('ui-train · any machine · any infra');

  await p.ok(['debug', 'preempt', '--job', String(id)]);
  await waitForJob(p, id, (v) => running(v) && v.attempts.length === 2, 'running again after the preemption');
  const described = await p.ok(['jobs', 'describe', String(id)]);
  expect(described.stderr).toContain(`View in the Temporal UI: ${jobUrl}`);

  const list = await newPage();
  await list.goto((await p.ok(['ui'])).stdout.trim());
  await waitForText(list, `the row of job/${id}`, (t) => t.includes(`job/${id}`) && t.includes('managedJobWorkflow'));
  if (screenshots) await list.screenshot({ path: path.join(screenshots, 'ui-workflows.png') });

  const page = await newPage();
  await page.goto((await p.ok(['ui', String(id)])).stdout.trim());
  // the UI sends a run-less link to the latest run; its User Metadata tab shows summary and details
  await page.waitForURL(/\/workflows\/job%2F\d+\/[0-9a-f-]{36}\//, { timeout: 60_000 });
  await page.goto(page.url().replace(/\/[^/]*$/, '/user-metadata'));
  const text = await waitForText(page, 'the summary and the two attempts', (t) => t.includes(summary!) && /\n2\s+local\s/.test(t) && t.includes('preempted'));
  expect(text).toContain('Managed job');
  expect(text).toContain('recovery: EAGER_NEXT_REGION');
  expect(text).toContain('RUNNING');
  expect(text).toContain('recoveries: 1');
  expect(text).toMatch(/runs on: local\/region-\w+ \(cluster job-\d+-2\)/);
  expect(text).toMatch(/\n1\s+local\s+region-\w+[\s\S]*preempted/);
  expect(text).toMatch(/so far\s+running/);
  // what is on the node is the job's business, not the UI's: no run script in the metadata
  expect(text.split('Current Details')[0]).not.toContain('while [ ! -f');
  if (screenshots) await page.screenshot({ path: path.join(screenshots, 'ui-job.png') });

  fs.writeFileSync(path.join(dir, 'go'), '');
  await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
}
