// What GCE's refusals mean to Petrel, after SkyPilot's FailoverCloudErrorHandlerV2 for GCP
// (reference/skypilot.md §4.4). Three forms carry them and all are read:
// - a synchronous HTTP error. @google-cloud/compute 6.x raises a GaxiosError whose .code is the
//   HTTP status and whose .message is the raw JSON body: legacy `error.errors[].reason`, or
//   AIP-193 `error.details[]` ErrorInfo `.reason` (7.x raises a GoogleError with .reason);
// - an operation that ends DONE with `error.errors[].code`;
// - a network failure (no HTTP answer at all).
import { ProviderError } from '../types.js';

export interface GceFailure {
  /** HTTP status; undefined for an operation error or no answer */
  status?: number;
  /** the reason codes, in the order found */
  reasons: string[];
  /** the API's message(s) */
  message: string;
}

const ZONE_CAPACITY = new Set([
  'ZONE_RESOURCE_POOL_EXHAUSTED',
  'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
  'UNSUPPORTED_OPERATION', // "preempted during create" and the like
  'resourcePoolExhausted',
  'insufficientCapacity',
  'INSUFFICIENT_CAPACITY',
  'RESOURCE_NOT_READY',
  'RESOURCE_OPERATION_RATE_EXCEEDED',
  'RESOURCE_NOT_FOUND',
  'STOCKOUT',
]);
const QUOTA = new Set(['QUOTA_EXCEEDED', 'quotaExceeded', 'RESOURCE_EXHAUSTED_QUOTA']);
const PERMISSION = new Set([
  'PERMISSION_DENIED',
  'IAM_PERMISSION_DENIED',
  'forbidden',
  'insufficientPermissions',
  'accessNotConfigured',
  'SERVICE_DISABLED',
  'ACCESS_TOKEN_EXPIRED',
  'ACCESS_TOKEN_TYPE_UNSUPPORTED',
  'CREDENTIALS_MISSING',
  'authError',
  'required',
  'VPC_NOT_FOUND',
  'projectNotFound',
  'billingNotEnabled',
  'accountDisabled',
]);
const THROTTLE = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED', 'backendError', 'internalError']);

interface ErrorBody {
  error?: { code?: number; message?: string; status?: string; errors?: Array<{ reason?: string; message?: string }>; details?: Array<{ reason?: string; metadata?: Record<string, string> }> };
}

/** The failure a rejected SDK call carries, whatever its form. */
export function failureOf(err: unknown): GceFailure {
  const e = err as { code?: unknown; status?: unknown; reason?: unknown; message?: unknown; httpStatusCode?: unknown; response?: { status?: unknown; data?: unknown } } | null;
  const reasons: string[] = [];
  if (typeof e?.reason === 'string') reasons.push(e.reason);
  let status: number | undefined;
  if (typeof e?.httpStatusCode === 'number') status = e.httpStatusCode;
  else if (typeof e?.response?.status === 'number') status = e.response.status;
  else if (typeof e?.status === 'number') status = e.status;
  else if (typeof e?.code === 'number' && e.code >= 100) status = e.code;
  let message = typeof e?.message === 'string' ? e.message : String(err);
  const body = parseBody(e?.message) ?? parseBody(e?.response?.data);
  if (body?.error) {
    for (const x of body.error.errors ?? []) if (x.reason) reasons.push(x.reason);
    for (const d of body.error.details ?? []) {
      if (d.reason) reasons.push(d.reason);
      // Quota ErrorInfo names the limit in its metadata (quota_limit / quota_metric).
      for (const v of Object.values(d.metadata ?? {})) if (/GPUS_ALL_REGIONS/.test(v)) reasons.push('GPUS_ALL_REGIONS');
    }
    if (body.error.status) reasons.push(body.error.status);
    if (typeof body.error.code === 'number') status ??= body.error.code;
    message = body.error.message ?? message;
  }
  return { ...(status !== undefined ? { status } : {}), reasons: [...new Set(reasons)], message };
}

function parseBody(v: unknown): ErrorBody | undefined {
  if (v && typeof v === 'object') return v as ErrorBody;
  if (typeof v !== 'string' || !v.trimStart().startsWith('{')) return undefined;
  try {
    return JSON.parse(v) as ErrorBody;
  } catch {
    return undefined;
  }
}

/** The failure a DONE operation with errors carries, or undefined when it succeeded. */
export function operationFailure(op: { error?: { errors?: Array<{ code?: string | null; message?: string | null }> | null } | null; httpErrorStatusCode?: number | null; httpErrorMessage?: string | null }): GceFailure | undefined {
  const errs = op.error?.errors ?? [];
  if (errs.length === 0) return undefined;
  return {
    ...(op.httpErrorStatusCode ? { status: op.httpErrorStatusCode } : {}),
    reasons: errs.map((x) => x.code ?? '').filter(Boolean),
    message: errs.map((x) => x.message ?? x.code ?? '').join('; '),
  };
}

/**
 * A failure as a typed error. `fromOperation`: an insert's operation failed (SkyPilot blocks the
 * zone for anything it cannot parse there: the request was valid, the zone could not serve it).
 */
export function classify(where: string, what: string, f: GceFailure, fromOperation = false): ProviderError {
  const codes = f.reasons.length ? ` [${f.reasons.join(', ')}]` : '';
  const text = `${where}: ${what}: ${f.message}${codes}`;
  const has = (set: Set<string>) => f.reasons.some((r) => set.has(r));
  if (has(ZONE_CAPACITY) || /ZONE_RESOURCE_POOL_EXHAUSTED|does not have enough resources available/i.test(f.message)) {
    return new ProviderError('capacity', text, 'zone');
  }
  if (has(QUOTA) || /Quota '[A-Z0-9_]+' exceeded/i.test(f.message)) {
    const global = f.reasons.includes('GPUS_ALL_REGIONS') || /GPUS_ALL_REGIONS/.test(f.message);
    return new ProviderError('quota', text, global ? 'cloud' : 'region');
  }
  if (f.status === 401 || f.status === 403 || has(PERMISSION)) return new ProviderError('config', text, 'cloud');
  if (f.status === 429 || (f.status !== undefined && f.status >= 500) || has(THROTTLE)) return new ProviderError('transient', text);
  if (f.status === 400 && /machineType|acceleratorType|does not exist in zone|not available in zone/i.test(f.message)) {
    return new ProviderError('capacity', text, 'zone');
  }
  if (f.status === 400 || f.status === 404 || f.status === 409) return new ProviderError('config', text);
  if (fromOperation) return new ProviderError('capacity', text, 'zone');
  return new ProviderError('transient', text);
}

/** A rejected SDK call as a typed error (ProviderErrors pass through). */
export function gceFailure(where: string, what: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  return classify(where, what, failureOf(err));
}

export function statusOf(err: unknown): number | undefined {
  return failureOf(err).status;
}

export function isNotFound(err: unknown): boolean {
  const f = failureOf(err);
  return f.status === 404 || f.reasons.includes('notFound') || f.reasons.includes('NOT_FOUND');
}

export function isAlreadyExists(err: unknown): boolean {
  const f = failureOf(err);
  return f.status === 409 || f.reasons.includes('alreadyExists') || f.reasons.includes('ALREADY_EXISTS');
}
