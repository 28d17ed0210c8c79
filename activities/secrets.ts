// A job's secrets travel sealed; only the activity that starts its processes opens them.
import { loadKeyring } from '../codec/keys.js';
import { openAll } from '../codec/secret-box.js';
import { ProviderError } from '../providers/types.js';

/** A secret this worker cannot open will not open on a retry either: a config failure. */
export function openSecrets(home: string, sealed: Record<string, string>): Record<string, string> {
  try {
    return openAll(loadKeyring(home), sealed);
  } catch (err) {
    throw new ProviderError('config', `cannot open the job's secrets: ${(err as Error).message}`);
  }
}
