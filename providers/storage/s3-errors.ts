// S3 errors as StoreError kinds, by S3's error code first (the SDK's `name`) and HTTP status
// second: a HEAD has no body, so a missing object there is only a 404, and a response that is
// not S3's (a proxy's page, a cut connection) is worth another try.
import { StoreError, type StoreErrorKind } from './types.js';

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchVersion']);
const NO_BUCKET = new Set(['NoSuchBucket']);
const AUTH = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'CredentialsProviderError',
  'Forbidden',
]);
const TRANSIENT = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestAbortedError',
  'OperationAborted',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export function s3ErrorKind(err: unknown): StoreErrorKind {
  const e = (err ?? {}) as SdkError;
  const name = e.Code ?? e.name ?? '';
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  if (NO_BUCKET.has(name)) return 'no_bucket';
  if (NOT_FOUND.has(name)) return 'not_found';
  if (AUTH.has(name)) return 'auth';
  if (TRANSIENT.has(name) || (e.code !== undefined && NETWORK_CODES.has(e.code))) return 'transient';
  if (status === 404) return 'not_found';
  if (status === 401 || status === 403) return 'auth';
  if (status === 429 || (status !== undefined && status >= 500)) return 'transient';
  if (status === undefined) return 'transient';
  return 'config';
}

/** `where` is the object or bucket URL and the call: "s3://b/k: GetObject". */
export function mapS3Error(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as SdkError;
  const kind = s3ErrorKind(err);
  const name = e.Code ?? e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  // A HEAD's 404 or 403 carries no message: say what it means.
  const message = e.message && e.message !== 'UnknownError' ? e.message : `HTTP ${status ?? '?'}`;
  const hint = kind === 'auth' ? " (the AWS credentials cannot be used for this bucket; check them with 'petrel check aws')" : '';
  return new StoreError(kind, `${where}: ${name}: ${message}${hint}`);
}
