// The subset of .gitignore that workdir sync honours: the top-level file of the uploaded
// directory only, with names (`build`), directory-only patterns (`dist/`), globs (`*.log`,
// `data?`, `**/tmp`), anchored patterns (`/out`, `docs/gen`), negation (`!keep.log`) and
// comments. Like git, nothing inside an ignored directory can be re-included.
import fs from 'node:fs';
import path from 'node:path';

interface Rule {
  negate: boolean;
  dirOnly: boolean;
  /** matched against the path relative to the root (anchored) or against the basename */
  anchored: boolean;
  re: RegExp;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches any number of directories, a trailing `**` everything below
        if (glob[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end > i + 1) {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      } else {
        re += '\\[';
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      re += glob[i + 1]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i += 1;
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export function parseGitignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.replace(/(?<!\\)\s+$/, '');
    if (!line || line.startsWith('#')) continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
      line = line.slice(1);
    }
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.replace(/\/+$/, '');
    }
    if (!line) continue;
    let anchored = line.includes('/');
    if (line.startsWith('/')) line = line.replace(/^\/+/, '');
    if (line.startsWith('**/')) {
      // `**/x` is the same as an unanchored `x` when x has no further slash
      const rest = line.slice(3);
      if (!rest.includes('/')) {
        line = rest;
        anchored = false;
      }
    }
    rules.push({ negate, dirOnly, anchored, re: globToRegExp(line) });
  }
  return rules;
}

export class IgnoreMatcher {
  constructor(private readonly rules: Rule[]) {}

  static forDirectory(root: string): IgnoreMatcher {
    let text = '';
    try {
      text = fs.readFileSync(path.join(root, '.gitignore'), 'utf8');
    } catch {
      // no .gitignore: nothing extra is ignored
    }
    return new IgnoreMatcher(parseGitignore(text));
  }

  /** `rel` is a POSIX path relative to the root. */
  ignores(rel: string, isDir: boolean): boolean {
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    let ignored = false;
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(r.anchored ? rel : base)) ignored = !r.negate;
    }
    return ignored;
  }
}
