// Maps a problem's path back to the YAML node it came from, so every error can say file:line:col.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { SpecError } from './errors.js';
import { fieldPath, type PathSegment, type Problem } from './problems.js';

interface Ranged {
  range?: readonly [number, number, number] | null;
}

function start(n: unknown): number | undefined {
  const r = (n as Ranged | null | undefined)?.range;
  return r ? r[0] : undefined;
}

function keyMatches(key: unknown, seg: PathSegment): boolean {
  return isScalar(key) && String(key.value) === String(seg);
}

function isEmptyValue(n: unknown): boolean {
  return n === null || n === undefined || (isScalar(n) && n.value === null && !n.source);
}

/**
 * Offset of the node at `path`. `at: 'key'` points at the mapping key (unknown fields, env names).
 * When the path runs past what the document holds (a missing required field, or a key that came
 * from a `<<` merge) the error points at the nearest parent key instead.
 */
export function locate(doc: Document, path: readonly PathSegment[], at: 'key' | 'value' = 'value'): number {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  const fallback = () => start(keyNode) ?? start(node) ?? start(doc.contents) ?? doc.range?.[0] ?? 0;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => keyMatches(p.key, seg));
      if (!pair) return fallback();
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      keyNode = node;
    } else {
      return fallback();
    }
  }
  if (at === 'key' || isEmptyValue(node)) return start(keyNode) ?? fallback();
  return start(node) ?? fallback();
}

export function lineColumn(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** A config file's problems, collected as `file:line:col: field: message` errors. */
export class YamlProblems {
  readonly list: SpecError[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  problem(p: Problem): void {
    const where = lineColumn(this.lines, locate(this.doc, p.path, p.at));
    this.list.push({ file: this.file, ...where, field: fieldPath(p.path), message: p.message });
  }

  /** a problem with no field: a YAML syntax error at `offset` */
  raw(offset: number, message: string): void {
    this.list.push({ file: this.file, ...lineColumn(this.lines, offset), field: '', message });
  }
}
