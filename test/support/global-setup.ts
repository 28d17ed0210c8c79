// Runs once before all tests: makes sure a Temporal CLI exists (installing the pinned one
// the same way users get it) and hands its path to every test through PETREL_TEMPORAL_BIN.
import path from 'node:path';
import { ensureTemporalBinary } from '../../cli/embedded/temporal-binary.js';

export default function setup({ provide }: { provide: (key: string, value: string) => void }): void {
  const shared = path.resolve('.petrel-test', 'shared');
  const binary = process.env.PETREL_TEMPORAL_BIN ?? ensureTemporalBinary(shared, (l) => console.log(l));
  process.env.PETREL_TEMPORAL_BIN = binary;
  provide('temporalBin', binary);
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalBin: string;
  }
}
