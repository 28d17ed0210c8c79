// GCP credentials, found the usual way but always turned into an explicit auth client: a
// client library left to Application Default Credentials on its own falls back to the GCE
// metadata server (169.254.169.254) when nothing else is found, which on a machine that is not
// a GCE VM is a probe of the network. So, in order:
//
// 1. GOOGLE_OAUTH_ACCESS_TOKEN: a ready access token (as Terraform's Google provider reads it),
//    used as it is — an OAuth2Client that never refreshes.
// 2. GOOGLE_APPLICATION_CREDENTIALS: a service-account key, authorized-user or external-account
//    JSON file.
// 3. gcloud's application default credentials: $CLOUDSDK_CONFIG (default ~/.config/gcloud)
//    /application_default_credentials.json, written by `gcloud auth application-default login`.
//
// None of these: no credentials (check() says so; nothing is contacted).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GoogleAuth, OAuth2Client, type AuthClient, type JWTInput } from 'google-auth-library';
import { ProviderError } from '../types.js';

export interface GcpCredentials {
  client: AuthClient;
  /** where they came from, for messages (never the secret) */
  source: string;
  /** the project the credentials file names, if any */
  projectId?: string;
  /** identity of the credentials, for caching clients (a file's path and mtime, or a token's hash) */
  stamp: string;
}

export function adcPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.CLOUDSDK_CONFIG || path.join(env.HOME || os.homedir(), '.config', 'gcloud');
  return path.join(dir, 'application_default_credentials.json');
}

let cached: { key: string; creds: GcpCredentials } | undefined;

/** The credentials, or undefined when there are none (never a network call). */
export function findCredentials(env: NodeJS.ProcessEnv = process.env): GcpCredentials | undefined {
  const token = env.GOOGLE_OAUTH_ACCESS_TOKEN;
  if (token) {
    const key = `token:${token}`;
    if (cached?.key === key) return cached.creds;
    const client = new OAuth2Client();
    // No expiry and no refresh token: the token is used until the API refuses it (401 → config).
    client.setCredentials({ access_token: token });
    const creds: GcpCredentials = { client, source: 'the access token in GOOGLE_OAUTH_ACCESS_TOKEN', stamp: key };
    cached = { key, creds };
    return creds;
  }
  const fromEnv = env.GOOGLE_APPLICATION_CREDENTIALS;
  const file = fromEnv || adcPath(env);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    if (fromEnv) throw new ProviderError('config', `GOOGLE_APPLICATION_CREDENTIALS names ${file}, which does not exist`, 'cloud');
    return undefined;
  }
  const key = `file:${file}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  if (cached?.key === key) return cached.creds;
  let json: JWTInput & { project_id?: string; quota_project_id?: string };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof json;
  } catch (err) {
    throw new ProviderError('config', `${file}: not a GCP credentials file: ${(err as Error).message}`, 'cloud');
  }
  let client: AuthClient;
  try {
    // fromJSON builds the client the file describes (JWT, UserRefreshClient, external account)
    // without asking anything; only its first token request goes to Google's token endpoint.
    client = new GoogleAuth().fromJSON(json);
  } catch (err) {
    throw new ProviderError('config', `${file}: cannot use these credentials (type ${String(json.type ?? 'missing')}): ${(err as Error).message}`, 'cloud');
  }
  const projectId = json.project_id ?? json.quota_project_id;
  const creds: GcpCredentials = {
    client,
    source: fromEnv ? `GOOGLE_APPLICATION_CREDENTIALS (${file})` : `gcloud's application default credentials (${file})`,
    ...(projectId ? { projectId } : {}),
    stamp: key,
  };
  cached = { key, creds };
  return creds;
}

/** How to get credentials, for check() and errors. */
export const NO_CREDENTIALS_HINT =
  'no GCP credentials: run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or set GOOGLE_OAUTH_ACCESS_TOKEN';
