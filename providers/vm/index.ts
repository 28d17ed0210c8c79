// What cloud VM providers (providers/aws, providers/gcp) share: SSH access settings from
// config.yaml, Petrel's cloud key pair, node handles, reaching nodes, batched status, and the
// spot-interruption watcher.
export { readVmAccess, proxyCommandFor, VM_ACCESS_KEYS, type VmAccessSettings } from './settings.js';
export { ensureCloudKey, cloudKeyPath, publicKeyDigest, type CloudKey } from './ssh-key.js';
export { vmNodeHandle, vmTarget, vmAddress, expandProxyCommand, type VmInstance, type VmNodeAccess } from './nodes.js';
export { VmAccess, type InstanceState, type InstanceStates } from './access.js';
export { startInterruptionWatcher, metadataUrlFor, DEFAULT_METADATA_URL, INTERRUPTED_MARKER, WATCHER_SCRIPT, type InterruptionEndpoint, type MetadataKind } from './interruption.js';
