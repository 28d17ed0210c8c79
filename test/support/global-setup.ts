// Runs once before all tests: makes sure a Temporal CLI exists (installing the pinned one
// the same way users get it) and hands its path to every test through PETREL_TEMPORAL_BIN.
// Likewise the Kubernetes test binaries (test/support/k8s/build.sh: about 12 minutes the
// first time on a machine, then cached) through PETREL_K8S_BIN, for test/support/k8s.ts, and
// the pinned moto for the AWS tests (test/support/moto/install.sh: about 20 s the first time)
// through PETREL_MOTO_PYTHON, for test/support/moto.ts.
//
// It also marks everything the run starts (see test/support/leftovers.ts): a run id in
// PETREL_TEST_RUN and a per-run temp root that TMPDIR points to, so every PETREL_HOME, sshd
// scratch dir and test home lies under it (test/support/file-scope.ts adds one directory per
// test file). The teardown fails the run if any process of the run outlives it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTemporalBinary } from '../../cli/embedded/temporal-binary.js';
import { assertNoLeftovers, RUN_ID_ENV, RUN_ROOT_ENV, type RunMarks } from './leftovers.js';
import { buildNativeTemporal } from './team-stack.js';

export default function setup({ provide }: { provide: (key: string, value: string) => void }): () => Promise<void> {
  const shared = path.resolve('.petrel-test', 'shared');
  const binary = process.env.PETREL_TEMPORAL_BIN ?? ensureTemporalBinary(shared, (l) => console.log(l));
  process.env.PETREL_TEMPORAL_BIN = binary;
  provide('temporalBin', binary);

  // The team stack's Temporal server, schema tool and UI (deploy/native/build.sh: cached, else about 5 minutes).
  buildNativeTemporal();

  const k8sBin = process.env.PETREL_K8S_BIN ?? buildK8sBinaries();
  process.env.PETREL_K8S_BIN = k8sBin;
  provide('k8sBin', k8sBin);

  const motoPython = process.env.PETREL_MOTO_PYTHON ?? installMoto();
  process.env.PETREL_MOTO_PYTHON = motoPython;
  provide('motoPython', motoPython);

  scrubCloudCredentials();

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-run-'));
  // The sshd test users must be able to walk down to their homes under it.
  fs.chmodSync(root, 0o755);
  const run: RunMarks = { id: path.basename(root).slice('petrel-run-'.length), root };
  // Test workers are forked after this with a copy of process.env, and pass it on to all they start.
  process.env[RUN_ID_ENV] = run.id;
  process.env[RUN_ROOT_ENV] = root;
  process.env.TMPDIR = root;

  return async () => {
    try {
      await assertNoLeftovers(run);
    } catch (err) {
      // vitest only logs a teardown error: make sure the run still exits non-zero.
      process.exitCode = 1;
      throw err;
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
}

/** Runs build.sh (returns at once when cached; its progress goes to stderr) and returns the bin directory it prints last. */
function buildK8sBinaries(): string {
  const script = path.join(import.meta.dirname, 'k8s', 'build.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').pop() ?? '';
  if (!dir || !fs.existsSync(path.join(dir, 'kube-apiserver'))) throw new Error(`${script} printed no bin directory: ${out}`);
  return dir;
}

/**
 * No test may reach a real cloud: a worker plans every managed job over the clouds its
 * credentials enable, so a developer's own AWS/GCP credentials would send it to the real APIs.
 * Workers inherit this environment; the cloud tests set their doubles' credentials and endpoints
 * explicitly. No metadata-server probes either.
 */
function scrubCloudCredentials(): void {
  for (const name of Object.keys(process.env)) {
    if (/^(AWS_|GOOGLE_|GCLOUD_|CLOUDSDK_)/.test(name)) delete process.env[name];
  }
  Object.assign(process.env, {
    AWS_EC2_METADATA_DISABLED: 'true',
    METADATA_SERVER_DETECTION: 'none',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/petrel-test/aws-credentials',
    AWS_CONFIG_FILE: '/nonexistent/petrel-test/aws-config',
    CLOUDSDK_CONFIG: '/nonexistent/petrel-test/gcloud',
  });
}

/** Runs install.sh (at once when cached) and returns the venv's python it prints last. */
function installMoto(): string {
  const script = path.join(import.meta.dirname, 'moto', 'install.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const python = out.trim().split('\n').pop() ?? '';
  if (!python || !fs.existsSync(python)) throw new Error(`${script} printed no python: ${out}`);
  return python;
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalBin: string;
    k8sBin: string;
    motoPython: string;
  }
}
