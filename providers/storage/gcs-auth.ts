// GCS credentials, found exactly as providers/gcp/credentials.ts finds them (access token in
// GOOGLE_OAUTH_ACCESS_TOKEN, then GOOGLE_APPLICATION_CREDENTIALS, then gcloud's ADC file) and
// always handed to the client explicitly, so the library never falls back to the GCE metadata
// server. The client is built with the google-auth-library that @google-cloud/storage itself
// depends on (resolved from the storage package): the storage library copies
// `getRequestHeaders()` into a plain object and reads `response.headers.location`, which the
// newer google-auth-library the compute provider uses answers with a Headers object instead.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { StorageOptions } from '@google-cloud/storage';
import { adcPath, NO_CREDENTIALS_HINT } from '../gcp/credentials.js';
import { StoreError } from './types.js';

type AuthLibrary = typeof import('google-auth-library');

const here = createRequire(import.meta.url);
const storageAuth = createRequire(here.resolve('@google-cloud/storage'))('google-auth-library') as AuthLibrary;

export interface GcsCredentials {
  client: NonNullable<StorageOptions['authClient']>;
  /** where they came from, for messages (never the secret) */
  source: string;
  projectId?: string;
  stamp: string;
}

let cached: GcsCredentials | undefined;

/** The credentials; StoreError('auth') when there are none or they cannot be read (never a network call). */
export function gcsCredentials(env: NodeJS.ProcessEnv = process.env): GcsCredentials {
  const token = env.GOOGLE_OAUTH_ACCESS_TOKEN;
  if (token) {
    const stamp = `token:${token}`;
    if (cached?.stamp === stamp) return cached;
    const client = new storageAuth.OAuth2Client();
    // No expiry and no refresh token: used until the API refuses it (401 → auth).
    client.setCredentials({ access_token: token });
    return (cached = { client: client as never, source: 'the access token in GOOGLE_OAUTH_ACCESS_TOKEN', stamp });
  }
  const fromEnv = env.GOOGLE_APPLICATION_CREDENTIALS;
  const file = fromEnv || adcPath(env);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    if (fromEnv) throw new StoreError('auth', `GOOGLE_APPLICATION_CREDENTIALS names ${file}, which does not exist`);
    throw new StoreError('auth', NO_CREDENTIALS_HINT);
  }
  const stamp = `file:${file}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  if (cached?.stamp === stamp) return cached;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new StoreError('auth', `${file}: not a GCP credentials file: ${(err as Error).message}`);
  }
  let client: unknown;
  try {
    // Builds the client the file describes without asking anything.
    client = new storageAuth.GoogleAuth().fromJSON(json as never);
  } catch (err) {
    throw new StoreError('auth', `${file}: cannot use these credentials (type ${String(json.type ?? 'missing')}): ${(err as Error).message}`);
  }
  const projectId = (json.project_id ?? json.quota_project_id) as string | undefined;
  return (cached = {
    client: client as never,
    source: fromEnv ? `GOOGLE_APPLICATION_CREDENTIALS (${file})` : `gcloud's application default credentials (${file})`,
    ...(projectId ? { projectId } : {}),
    stamp,
  });
}
