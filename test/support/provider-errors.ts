// The typed error a provider call fails with (and that it fails at all).
import { expect } from 'vitest';
import { ProviderError } from '../../providers/types.js';

export async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to fail with a ProviderError').toBeInstanceOf(ProviderError);
  return err as ProviderError;
}
