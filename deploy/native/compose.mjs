#!/usr/bin/env node
// Reads docker-compose.yml for deploy/native/up.sh, so the native stack takes its settings from
// the same file as compose and the two cannot drift:
//   node deploy/native/compose.mjs env SERVICE    # the service's environment, as `export K='v'` lines
//   node deploy/native/compose.mjs command SERVICE # its command, one argument per line
// `${VAR:-default}` is resolved as compose resolves it (the variable if set and non-empty,
// else the default). A value under a bind mount's target inside the container (e.g. the
// dynamic config path) becomes the mount's source in this checkout. Needs the `yaml` package
// Petrel depends on (`npm ci`).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [what, name] = process.argv.slice(2);
const fail = (msg) => {
  console.error(`deploy/native/compose.mjs: ${msg}`);
  process.exit(2);
};
if (!['env', 'command'].includes(what) || !name) fail('usage: compose.mjs env|command SERVICE');

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));
const service = compose.services?.[name];
if (!service) fail(`docker-compose.yml has no service ${name}`);

const interpolate = (value) =>
  String(value).replace(/(\$?)\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (all, escaped, variable, fallback) => {
    if (escaped) return all.slice(1); // $${X}: left for the container's shell
    const set = process.env[variable];
    return set !== undefined && set !== '' ? set : (fallback ?? '');
  });

// container path -> path in this checkout, for the read-only bind mounts of the service
const mounts = (service.volumes ?? [])
  .map((v) => String(v).split(':'))
  .filter(([source]) => source.startsWith('.') || source.startsWith('/'))
  .map(([source, target]) => ({ source: resolve(root, source), target }));
const onHost = (value) => {
  for (const { source, target } of mounts) {
    if (value === target || value.startsWith(`${target}/`)) return source + value.slice(target.length);
  }
  return value;
};

const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
if (what === 'env') {
  const env = service.environment ?? {};
  const entries = Array.isArray(env) ? env.map((e) => String(e).split(/=(.*)/s).slice(0, 2)) : Object.entries(env);
  for (const [key, value] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) fail(`${name}: environment key ${key} is not a shell name`);
    console.log(`export ${key}=${quote(onHost(interpolate(value ?? '')))}`);
  }
} else {
  for (const arg of [service.command ?? []].flat()) console.log(interpolate(arg));
}
