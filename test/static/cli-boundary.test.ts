// The CLI talks only to Temporal (client + payload codec) and pure core/: no file under cli/
// imports providers/ or activities/ (not even for a type), and nothing the CLI loads at run
// time reaches them through another module either — except `petrel worker`, which runs the
// worker itself (workers/worker.ts) in the foreground.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..');

function filesUnder(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p, ext) : ext.test(e.name) ? [p] : [];
  });
}

/** Every module specifier a file names: static imports and re-exports, and dynamic import(). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of source.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** `petrel worker` is the worker: it may load what workers load. */
const WORKER_ENTRY = path.join('workers', 'worker.js');

const forbidden = (file: string) => /^(providers|activities)\//.test(path.relative(repo, file).replace(/^dist\//, ''));

describe('the CLI imports nothing from providers/ or activities/', () => {
  it('no source file under cli/ names them', () => {
    const offenders = filesUnder(path.join(repo, 'cli'), /\.ts$/).flatMap((file) =>
      specifiers(fs.readFileSync(file, 'utf8'))
        .filter((s) => s.startsWith('.') && forbidden(path.resolve(path.dirname(file), s)))
        .map((s) => `${path.relative(repo, file)} imports ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('nor does anything the built CLI loads, transitively (type-only imports are gone from the build)', () => {
    const dist = path.join(repo, 'dist');
    const seen = new Set<string>();
    const offenders: string[] = [];
    const visit = (file: string, from: string) => {
      if (seen.has(file) || path.relative(dist, file) === WORKER_ENTRY) return;
      seen.add(file);
      if (forbidden(file)) {
        offenders.push(`${path.relative(dist, from)} → ${path.relative(dist, file)}`);
        return;
      }
      for (const s of specifiers(fs.readFileSync(file, 'utf8'))) {
        if (!s.startsWith('.')) continue;
        const target = path.resolve(path.dirname(file), s);
        if (fs.existsSync(target)) visit(target, file);
      }
    };
    const entries = filesUnder(path.join(dist, 'cli'), /\.js$/);
    expect(entries.length).toBeGreaterThan(10);
    for (const f of entries) visit(f, f);
    expect(offenders).toEqual([]);
  });

  it('nor does the bundled CLI that bin/petrel.js runs (the inputs cli/build-bundle.ts recorded)', () => {
    const inputs = JSON.parse(fs.readFileSync(path.join(repo, 'dist', 'cli', 'bundle-inputs.json'), 'utf8')) as string[];
    expect(inputs).toContain(path.join('cli', 'main.js'));
    expect(inputs.filter((f) => /^(providers|activities)\//.test(f) || f === WORKER_ENTRY)).toEqual([]);
  });
});
