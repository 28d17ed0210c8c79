// Quoting for the shell text providers build (local wrappers, remote scripts).

/** One single-quoted shell word that stands for exactly `s`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
