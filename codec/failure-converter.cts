// Failure messages and stack traces travel as encoded attributes, so the payload codec
// encrypts them like every other payload (they can quote commands, paths and hosts).
// A CommonJS module of its own: workers and clients load it by path (with require), and
// workers bundle it into the workflow sandbox.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
