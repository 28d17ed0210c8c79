// EC2 errors as the failover loop needs them (after SkyPilot's AWS handling and EC2's error
// codes), classified by the SDK's `name` (EC2's error code), never by HTTP status alone: EC2
// documents InsufficientInstanceCapacity as a server error. The cloud's own code and message
// stay in the text.
import { ProviderError } from '../types.js';

/** No capacity for this type here now: another zone may have it. */
const CAPACITY_ZONE = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientCapacityOnHost',
  'InsufficientFreeAddressesInSubnet',
  'SpotMaxPriceTooLow',
  // the type is not offered in this zone
  'Unsupported',
]);

/** Account limits, which AWS counts per region. */
const QUOTA_REGION = new Set(['VcpuLimitExceeded', 'InstanceLimitExceeded', 'MaxSpotInstanceCountExceeded', 'SpotInstanceLimitExceeded']);

/** The credentials or account cannot be used at all: no region of AWS will do better. */
const AUTH = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'InvalidClientTokenId',
  'OptInRequired',
  'SignatureDoesNotMatch',
  'Blocked',
  'PendingVerification',
  'ExpiredToken',
  'RequestExpired',
  'UnrecognizedClientException',
  'CredentialsProviderError',
]);

/** Retrying later can help. */
const TRANSIENT = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'ServiceUnavailable', 'Unavailable', 'InternalError', 'InternalFailure', 'TimeoutError', 'RequestTimeout']);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

export interface AwsErrorInfo {
  name: string;
  message: string;
  status?: number;
}

export function errorInfo(err: unknown): AwsErrorInfo {
  const e = err as { name?: string; Code?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return { name: e?.Code ?? e?.name ?? 'Error', message: e?.message ?? String(err), ...(status !== undefined ? { status } : {}) };
}

export function isAwsError(err: unknown, ...names: string[]): boolean {
  const { name } = errorInfo(err);
  return names.some((n) => name === n || name.startsWith(`${n}.`));
}

/** `where` names the call and place for the message: "aws us-east-1/us-east-1a: RunInstances p4d.24xlarge". */
export function classifyAwsError(err: unknown, where: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const { name, message, status } = errorInfo(err);
  const text = `${where}: ${name}: ${message}`;
  const code = (err as { code?: string })?.code;
  if (CAPACITY_ZONE.has(name)) return new ProviderError('capacity', text, 'zone');
  if (QUOTA_REGION.has(name)) return new ProviderError('quota', text, 'region');
  if (AUTH.has(name)) return new ProviderError('config', `${text} (the AWS credentials or account cannot be used; check them with 'petrel check aws')`, 'cloud');
  if (name.startsWith('InvalidAMIID')) return new ProviderError('config', `${text} (image_id)`, 'region');
  if (TRANSIENT.has(name) || (code !== undefined && NETWORK_CODES.has(code))) return new ProviderError('transient', text);
  if (status !== undefined && status >= 500) return new ProviderError('transient', text);
  // An answer that is not EC2's (a proxy's error page, a cut connection): worth another try.
  if (status === undefined || /XML|Deserialization|parse/i.test(name)) return new ProviderError('transient', text);
  return new ProviderError('config', text);
}
