// Static checks of the deployment files, for machines without a Docker engine:
//   node deploy/check.mjs        (after `npm ci`; uses the `yaml` package Petrel depends on)
// It parses docker-compose.yml and checks that every reference resolves: depends_on targets
// and conditions, named volumes, bind-mounted paths, the build context, env defaults. It
// also checks that deploy/temporal/init-namespace.sh registers exactly the search attributes
// in core/search-attributes.ts, that deploy/native/up.sh finds what it reads in the compose file,
// and, when deploy/native/build.sh has built the pinned Temporal server here, that the server
// accepts the dynamic config without a warning. It does not replace `docker compose config`;
// the real check is running the same services natively (test/e2e/team-stack.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (p) => readFileSync(join(root, p), 'utf8');
let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else {
    failed++;
    console.error(`FAIL ${what}`);
  }
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText);
const services = compose.services ?? {};
const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
const conditions = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);

for (const [name, svc] of Object.entries(services)) {
  check(svc.image || svc.build, `${name}: has an image or a build`);
  if (svc.image && !svc.build) {
    check(/:[^/]+$/.test(svc.image) && !/:latest$/.test(svc.image), `${name}: image ${svc.image} is pinned`);
  }
  check(!svc.container_name, `${name}: no container_name (keeps --scale and project names working)`);
  for (const [dep, spec] of Object.entries(svc.depends_on ?? {})) {
    const target = services[dep];
    check(target, `${name}: depends_on ${dep} exists`);
    check(conditions.has(spec?.condition), `${name}: depends_on ${dep} has a valid condition`);
    if (spec?.condition === 'service_healthy') check(target?.healthcheck?.test, `${name}: ${dep} has a healthcheck`);
    if (spec?.condition === 'service_completed_successfully') {
      check(target?.restart === 'no', `${name}: one-shot ${dep} is not restarted`);
    }
  }
  for (const vol of svc.volumes ?? []) {
    const source = String(vol).split(':')[0];
    if (source.startsWith('.') || source.startsWith('/')) {
      check(existsSync(join(root, source)), `${name}: bind mount ${source} exists`);
    } else {
      check(declaredVolumes.has(source), `${name}: volume ${source} is declared`);
    }
  }
  for (const port of svc.ports ?? []) {
    check(/^\$\{PETREL_BIND_ADDRESS:-127\.0\.0\.1\}:/.test(String(port)), `${name}: port ${port} binds to PETREL_BIND_ADDRESS`);
  }
  if (svc.build) {
    const ctx = svc.build.context ?? '.';
    check(existsSync(join(root, ctx, svc.build.dockerfile ?? 'Dockerfile')), `${name}: Dockerfile exists`);
  }
  // Scripts run from the /petrel-deploy mount must exist in deploy/temporal.
  for (const arg of [svc.entrypoint ?? [], svc.command ?? []].flat()) {
    const m = /^\/petrel-deploy\/(.+)$/.exec(String(arg));
    if (m) check(existsSync(join(root, 'deploy/temporal', m[1])), `${name}: script ${m[1]} exists`);
  }
}
for (const v of declaredVolumes) {
  const used = Object.values(services).some((s) => (s.volumes ?? []).some((x) => String(x).split(':')[0] === v));
  check(used, `volume ${v} is used`);
}
check(services['petrel-worker']?.environment?.TEMPORAL_ADDRESS === 'temporal:7233', 'worker points at the temporal service');

// Every ${VAR} has a default, so `docker compose up` works without a .env. Every variable is
// listed in deploy/env.example with that same default. `$${VAR}` is escaped (expanded inside
// the container, not by compose) and is skipped.
const envExample = new Map(
  read('deploy/env.example')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
for (const m of composeText.matchAll(/(?<!\$)\$\{([A-Z0-9_]+)([^}]*)\}/g)) {
  const [, name, rest] = m;
  check(rest.startsWith(':-'), `\${${name}} has a default`);
  check(envExample.get(name) === rest.slice(2), `\${${name}} is in deploy/env.example with default ${rest.slice(2)}`);
}

// Search attributes: the init job's list must equal core/search-attributes.ts.
const core = read('core/search-attributes.ts');
const block = /PETREL_SEARCH_ATTRIBUTES\s*=\s*\{([\s\S]*?)\}/.exec(core)?.[1] ?? '';
const want = [...block.matchAll(/(\w+)\s*:\s*'(\w+)'/g)].map((m) => `${m[1]}=${m[2]}`).sort();
const init = read('deploy/temporal/init-namespace.sh');
const got = [...(/search_attributes="([\s\S]*?)"/.exec(init)?.[1] ?? '').matchAll(/^(\w+=\w+)$/gm)].map((m) => m[1]).sort();
check(want.length > 0, 'found the search attributes in core/search-attributes.ts');
check(JSON.stringify(got) === JSON.stringify(want), `init-namespace.sh registers ${want.join(' ')} (has ${got.join(' ')})`);

// deploy/native/up.sh runs these services from this file: it takes each one's environment and
// changes only addresses and ports, so the variables it overrides must be the ones compose sets.
const nativeUp = read('deploy/native/up.sh');
for (const name of ['postgres', 'temporal-schema', 'temporal', 'temporal-init', 'temporal-ui', 'petrel-codec', 'petrel-worker']) {
  check(services[name], `deploy/native/up.sh: service ${name} is in docker-compose.yml`);
  check(nativeUp.includes(name), `deploy/native/up.sh starts ${name}`);
}
for (const key of ['DB', 'DB_PORT', 'POSTGRES_SEEDS', 'BIND_ON_IP', 'PROMETHEUS_ENDPOINT', 'DYNAMIC_CONFIG_FILE_PATH', 'NUM_HISTORY_SHARDS']) {
  check(key in (services.temporal?.environment ?? {}), `temporal: environment sets ${key} (the image's config template reads it)`);
}
const codecCommand = (services['petrel-codec']?.command ?? []).map(String);
check(codecCommand.includes('--host') && codecCommand.includes('--port'), 'petrel-codec: command names --host and --port (up.sh moves them to loopback)');
check(/TEMPORAL_SCHEMA_DIR/.test(read('deploy/temporal/setup-schema.sh')), 'setup-schema.sh takes the schema directory from TEMPORAL_SCHEMA_DIR (up.sh runs it natively)');

// The dynamic config against the pinned server itself, when deploy/native/build.sh has built
// it here: a key the server no longer knows is only a warning in its log, so fail on it here.
const temporalVersion = /\$\{TEMPORAL_VERSION:-([^}]+)\}/.exec(composeText)?.[1];
const uiVersion = /\$\{TEMPORAL_UI_VERSION:-([^}]+)\}/.exec(composeText)?.[1];
const nativeBin = join(process.env.PETREL_TEMPORAL_NATIVE_CACHE ?? join(homedir(), '.cache', 'petrel-temporal-native'), `server-${temporalVersion}-ui-${uiVersion}`);
if (existsSync(join(nativeBin, 'COMPLETE'))) {
  for (const file of readdirSync(join(root, 'deploy/temporal/dynamicconfig')).filter((f) => f.endsWith('.yaml'))) {
    const path = join(root, 'deploy/temporal/dynamicconfig', file);
    const r = spawnSync(join(nativeBin, 'temporal-server'), ['validate-dynamic-config', path], { encoding: 'utf8' });
    // It names each file it reads, then what it found wrong in it.
    const said = `${r.stdout}${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l && l !== path).join('; ');
    check(r.status === 0 && !/warn|unregistered|error/i.test(said), `dynamicconfig/${file} is valid for temporal-server ${temporalVersion} with no warning${said ? `: ${said}` : ''}`);
  }
} else {
  console.log(`(dynamic config not checked against temporal-server ${temporalVersion}: run deploy/native/build.sh to build it)`);
}

// Dockerfile basics, and that .dockerignore keeps what the Dockerfile copies.
const dockerfile = read('Dockerfile');
check(/^USER petrel$/m.test(dockerfile), 'Dockerfile runs as a non-root user');
check(dockerfile.includes('CMD ["node", "dist/workers/main.js"]'), 'Dockerfile starts the worker');
check(/npm ci --omit=dev/.test(dockerfile), 'runtime stage installs production dependencies only');
const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
for (const needed of ['package.json', 'package-lock.json', 'bin', 'core', 'workers', 'tsconfig.json']) {
  check(!ignored.includes(needed), `.dockerignore keeps ${needed}`);
}

console.log(`deploy checks: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
