// The API clients of one kubeconfig context, and what the API server's refusals mean to Petrel.
// Credentials stay where the worker runs: a cluster handle records only the context's name.
import { CoreV1Api, AuthorizationV1Api, KubeConfig, ApiException } from '@kubernetes/client-node';
import { ProviderError } from '../types.js';

export interface ContextClients {
  context: string;
  /** `k8s/<context>`, for messages */
  where: string;
  kc: KubeConfig;
  core: CoreV1Api;
  authz: AuthorizationV1Api;
}

/** Clients of the merged kubeconfig (see readKubeconfig), pointed at `context`. */
export function clientsFor(merged: KubeConfig, context: string): ContextClients {
  if (!merged.getContextObject(context)) throw new ProviderError('config', `kubeconfig context '${context}' is not defined`);
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: merged.clusters, users: merged.users, contexts: merged.contexts, currentContext: context });
  return { context, where: `k8s/${context}`, kc, core: kc.makeApiClient(CoreV1Api), authz: kc.makeApiClient(AuthorizationV1Api) };
}

/** The HTTP status of a failed API call (0: no answer at all). */
export function statusOf(err: unknown): number {
  return err instanceof ApiException ? err.code : 0;
}

/** The API server's own message for a failed call. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const msg = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : undefined;
    return msg ?? `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/**
 * A failed API call as a typed error: refused credentials and RBAC denials are configuration
 * (retrying cannot fix them), an exceeded ResourceQuota is quota for this context, a rejected
 * object (a bad pod_config) is configuration, the rest is transient.
 */
export function apiFailure(where: string, what: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = statusOf(err);
  const msg = apiMessage(err);
  if (code === 401) return new ProviderError('config', `${where}: the API server refused the credentials (401 Unauthorized) while ${what}: ${msg}`);
  if (code === 403 && /exceeded quota|forbidden: exceeded/i.test(msg)) return new ProviderError('quota', `${where}: ${what}: ${msg}`, 'region');
  if (code === 403) return new ProviderError('config', `${where}: not allowed while ${what} (403 Forbidden): ${msg}`);
  if (code === 422 || code === 400) return new ProviderError('config', `${where}: the API server rejected ${what}: ${msg}`);
  return new ProviderError('transient', `${where}: ${what} failed: ${msg}`);
}

/** `fn`, with an API failure turned into a typed error. */
export async function call<T>(where: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw apiFailure(where, what, err);
  }
}

/** `fn`, or undefined when the object is not there (404). */
export async function orMissing<T>(where: string, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw apiFailure(where, what, err);
  }
}
