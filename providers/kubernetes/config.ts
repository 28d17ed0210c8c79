// Which Kubernetes contexts Petrel may use, and how. Two sources, both read on every call so an
// edit takes effect without restarting anything:
//
// 1. The kubeconfig: the files of $KUBECONFIG (several, separated by ':'), else ~/.kube/config.
//    Merged as kubectl and SkyPilot's Python client merge them: a missing file is skipped, the
//    first file to define a cluster, user or context wins, and the first file that sets
//    current-context sets it. Neither file existing means no contexts (never an in-cluster
//    fallback). Each context is a region of Petrel's `k8s` infra.
//
// 2. The `kubernetes:` section of $PETREL_HOME/config.yaml, with SkyPilot's key names:
//
//      kubernetes:
//        allowed_contexts: [alpha, beta]  # or 'all'; default: the kubeconfig's current-context only
//        namespace: ml                    # default: the context's namespace, else 'default'
//        provision_timeout: 10            # seconds a pod may stay unschedulable before it counts
//                                         # as no capacity (alias: provision_timeout_seconds)
//        pod_config: {metadata: {...}, spec: {...}}  # merged into every pod (mergePodConfig)
//        labels: {team: ml}               # on every pod and service
//        custom_metadata: {labels: {...}, annotations: {...}}
//        image: python:3.11-slim          # when the task names no image_id
//        autoscaler: gke                  # or karpenter, coreweave, generic: the default
//                                         # provision_timeout becomes 600
//        context_configs:                 # per-context overrides of everything but allowed_contexts
//          beta: {namespace: research, provision_timeout: 30}
//
//    A context's settings are its context_configs entry over the section's: pod_config and
//    custom_metadata merge (as SkyPilot's merge_k8s_configs), labels merge key by key, the
//    rest replaces.
//
// Every problem of both is reported at once, as `file:line:col: field: message`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatSpecError, type SpecError } from '../../core/spec/errors.js';
import { issueProblems } from '../../core/spec/issues.js';
import { fail, fieldPath, hasOwn, isPlainObject, ok, showValue, type Parsed, type PathSegment, type Problem } from '../../core/spec/problems.js';
import { parseEnum, parseInteger, parseString } from '../../core/spec/scalars.js';
import { didYouMean } from '../../core/spec/suggest.js';
import { readConfigSection } from '../../core/spec/config-section.js';
import { lineColumn, locate, YamlProblems } from '../../core/spec/yaml-locations.js';
import { field, strictShape, unknownKeyMessage } from '../../core/spec/zod-kit.js';
import { configPath } from '../ssh/config.js';
import { ProviderError } from '../types.js';

export const KUBERNETES_KEY = 'kubernetes';

export const DEFAULT_IMAGE = 'python:3.11-slim';

/** SkyPilot's default: a pod still unschedulable after this long means no capacity in the context. */
export const DEFAULT_PROVISION_TIMEOUT_SECONDS = 10;

/** With an autoscaler a pending pod may be waiting for a node to be added (SkyPilot's advice). */
export const AUTOSCALER_PROVISION_TIMEOUT_SECONDS = 600;

export const AUTOSCALERS = ['gke', 'karpenter', 'coreweave', 'generic'] as const;
export type Autoscaler = (typeof AUTOSCALERS)[number];

export interface KubeContextConfig {
  /** the context name (= Petrel's region for k8s) */
  name: string;
  /** the cluster's server URL (for messages) */
  server: string;
  /** the kubeconfig user of the context, if it names one (for messages) */
  user?: string;
  namespace: string;
  provisionTimeoutSeconds: number;
  /** a partial Pod to merge into every pod Petrel creates (mergePodConfig); {} when none */
  podConfig: Record<string, unknown>;
  /** custom_metadata.labels and labels */
  labels: Record<string, string>;
  /** custom_metadata.annotations */
  annotations: Record<string, string>;
  image: string;
  autoscaler?: Autoscaler;
}

export interface KubernetesConfig {
  /** the files read (for messages), existing or not */
  files: { kubeconfig: string[]; petrelConfig: string };
  /** the kubeconfig files merged (kubectl's rules), for API clients */
  kubeConfig: KubeConfig;
  /** allowed contexts in order: allowed_contexts' order ('all': the kubeconfig's), else the current context only */
  contexts: Map<string, KubeContextConfig>;
  /** contexts of the kubeconfig left out by allowed_contexts (for `petrel check` to mention) */
  disallowed: string[];
  currentContext?: string;
}

export function readKubernetesConfig(home: string, env: NodeJS.ProcessEnv = process.env): KubernetesConfig {
  const kube = readKubeconfig(env);
  const petrelConfig = configPath(home);
  let text = '';
  const readProblems: SpecError[] = [];
  try {
    text = fs.readFileSync(petrelConfig, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      readProblems.push({ file: petrelConfig, line: 0, column: 0, field: '', message: `cannot read it: ${(err as Error).message}` });
    }
  }
  const section = parseKubernetesSection(text, petrelConfig, kube);
  const problems = [...readProblems, ...section.problems];
  if (problems.length) throw new ProviderError('config', problems.map(formatSpecError).join('\n'));
  return { files: { kubeconfig: kube.files, petrelConfig }, ...section.config, kubeConfig: kube.kubeConfig };
}

// ---- the kubeconfig ---------------------------------------------------------------------------

export interface KubeconfigContext {
  name: string;
  /** the server URL of the context's cluster; '' when no file defines that cluster */
  server: string;
  namespace?: string;
  user?: string;
  /** the cluster's name in the kubeconfig */
  cluster?: string;
  /** the file that defines the context */
  file?: string;
}

/** What parseKubernetesSection needs of the kubeconfig (readKubeconfig's result, or made up by tests). */
export interface KubeconfigContexts {
  /** the files looked at, existing or not */
  files: string[];
  /** in the order of the files, then of each file */
  contexts: KubeconfigContext[];
  currentContext?: string;
  /** the file that set current-context */
  currentContextFile?: string;
  /** the kubeconfig files' own problems */
  problems?: SpecError[];
}

export interface Kubeconfig extends KubeconfigContexts {
  problems: SpecError[];
  /** every file merged, for API clients: `kubeConfig.setCurrentContext(name)` then makeApiClient */
  kubeConfig: KubeConfig;
}

/** $KUBECONFIG's files (empty entries and repeats dropped), else ~/.kube/config; absolute. */
export function kubeconfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (list.length) return [...new Set(list.map((f) => path.resolve(f)))];
  return [path.join(env.HOME || os.homedir(), '.kube', 'config')];
}

/**
 * Reads and merges the kubeconfig files with client-node's KubeConfig, one file at a time (as
 * client-node's loadFromDefault, but with kubectl's merge rules: a repeated name is not an
 * error, the first definition wins, and a missing file is skipped).
 */
export function readKubeconfig(env: NodeJS.ProcessEnv = process.env): Kubeconfig {
  const files = kubeconfigFiles(env);
  const problems: SpecError[] = [];
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, { context: Context; file: string }>();
  let currentContext: string | undefined;
  let currentContextFile: string | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        problems.push({ file, line: 0, column: 0, field: '', message: `cannot read it: ${(err as Error).message}` });
      }
      continue;
    }
    const kc = loadKubeconfigFile(text, file, problems);
    if (!kc) continue;
    for (const c of kc.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of kc.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of kc.contexts) if (!contexts.has(c.name)) contexts.set(c.name, { context: c, file });
    if (currentContext === undefined && kc.currentContext) {
      currentContext = kc.currentContext;
      currentContextFile = file;
    }
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()].map((c) => c.context),
    currentContext,
  });
  return {
    files,
    contexts: [...contexts.values()].map(({ context: c, file }) => ({
      name: c.name,
      server: clusters.get(c.cluster)?.server ?? '',
      cluster: c.cluster,
      file,
      ...(c.namespace ? { namespace: c.namespace } : {}),
      ...(c.user ? { user: c.user } : {}),
    })),
    ...(currentContext !== undefined ? { currentContext, currentContextFile } : {}),
    problems,
    kubeConfig,
  };
}

/** One file, as client-node reads it; undefined when empty (as kubectl: no error) or broken (reported). */
function loadKubeconfigFile(text: string, file: string, problems: SpecError[]): KubeConfig | undefined {
  // client-node (js-yaml) fails on an empty file and says little about a broken one: look first.
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent' });
  const errors = new YamlProblems(file, doc, lines);
  if (doc.errors.length) {
    for (const e of doc.errors) errors.raw(e.pos[0], `YAML syntax error: ${e.message}`);
    problems.push(...errors.list);
    return undefined;
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return undefined;
  if (!isMap(doc.contents)) {
    errors.raw(doc.contents.range?.[0] ?? 0, `expected a kubeconfig (a mapping with clusters, contexts and users), got ${showValue(doc.toJS())}`);
    problems.push(...errors.list);
    return undefined;
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
    kc.makePathsAbsolute(path.dirname(file));
    return kc;
  } catch (err) {
    const message = (err as Error).message;
    // client-node's own checks: `contexts[0].context.cluster is missing`
    const missing = /^(clusters|contexts|users)\[(\d+)\]\.([\w.-]+) is missing$/.exec(message);
    const mark = (err as { mark?: { line?: number; column?: number } }).mark;
    if (missing) {
      // locate() points at the nearest parent that exists; the field names the missing one.
      const where: PathSegment[] = [missing[1]!, Number(missing[2]), ...missing[3]!.split('.')];
      problems.push({ file, ...lineColumn(lines, locate(doc, where)), field: fieldPath(where), message: 'missing; client-node cannot load the kubeconfig without it' });
    } else if (mark && typeof mark.line === 'number') {
      const reason = (err as { reason?: string }).reason ?? message.split('\n')[0]!;
      problems.push({ file, line: mark.line + 1, column: (mark.column ?? 0) + 1, field: '', message: `cannot load it: ${reason}` });
    } else {
      problems.push({ file, line: 0, column: 0, field: '', message: `cannot load it: ${message.split('\n')[0]}` });
    }
    return undefined;
  }
}

// ---- pod_config merging -----------------------------------------------------------------------

/**
 * Lists of a Pod that Kubernetes merges by a key (patch strategy "merge"), as SkyPilot's
 * merge_k8s_configs does; containers and imagePullSecrets are left out on purpose (SkyPilot
 * merges those by position: Petrel's pods have one container).
 */
const PATCH_MERGE_KEYS: Record<string, string> = {
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  volumeMounts: 'name',
  resourceClaims: 'name',
  env: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  ports: 'containerPort',
  volumeDevices: 'devicePath',
};

const MERGED_BY_INDEX = new Set(['containers', 'imagePullSecrets']);

/**
 * `overlay` merged into `base`, as SkyPilot's merge_k8s_configs merges pod_config into its pod:
 * mappings merge recursively; `containers` (and `imagePullSecrets`) merge item by item into the
 * item at the same index (Petrel's pods have one container: a pod_config container merges into
 * it); lists Kubernetes merges by key (env and volumeMounts by name, ports by containerPort, …)
 * merge the item with the same key or append it; every other list (tolerations, …) is appended
 * to; anything else replaces. Pure: neither argument is changed.
 */
export function mergePodConfig(base: Record<string, unknown>, overlay: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(base);
  mergeInto(out, overlay);
  return out;
}

function mergeInto(target: Record<string, unknown>, overlay: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(overlay)) {
    // own properties only: target['__proto__'] would be Object.prototype, merged into for everyone
    const current = hasOwn(target, key) ? target[key] : undefined;
    if (isPlainObject(value) && isPlainObject(current)) mergeInto(current, value);
    else if (Array.isArray(value) && Array.isArray(current)) mergeList(key, current, value);
    else setOwn(target, key, structuredClone(value));
  }
}

/** `target[key] = value`, also for a key named `__proto__` (YAML allows it; plain assignment would change the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function mergeList(key: string, target: unknown[], items: unknown[]): void {
  if (MERGED_BY_INDEX.has(key)) {
    items.forEach((item, i) => {
      const current = target[i];
      if (isPlainObject(current) && isPlainObject(item)) mergeInto(current, item);
      else if (i < target.length) target[i] = structuredClone(item);
      else target.push(structuredClone(item));
    });
    return;
  }
  const mergeKey = hasOwn(PATCH_MERGE_KEYS, key) ? PATCH_MERGE_KEYS[key] : undefined;
  for (const item of items) {
    const id = mergeKey !== undefined && isPlainObject(item) ? item[mergeKey] : undefined;
    const same = id === undefined || id === null ? undefined : target.find((t) => isPlainObject(t) && t[mergeKey!] === id);
    if (isPlainObject(same) && isPlainObject(item)) mergeInto(same, item);
    else target.push(structuredClone(item));
  }
}

// ---- validators -------------------------------------------------------------------------------

const parseTimeout = (v: unknown) => parseInteger(v, { min: 1, what: 'a positive whole number of seconds' });

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const NAME_RULE = "at most 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit";

/** Keys Petrel puts on its pods and services itself (providers/kubernetes/pods.ts). */
const PETREL_PREFIX = 'petrel.dev/';
const PETREL_KEYS = ['app.kubernetes.io/managed-by'];

function parseNamespace(v: unknown): Parsed<string> {
  const s = parseString(v, 'a namespace name');
  if (!s.ok) return s;
  if (!DNS_LABEL.test(s.value)) {
    return fail(`${showValue(s.value)} is not a namespace name: at most 63 lowercase letters, digits and '-', beginning and ending with a letter or digit`);
  }
  return ok(s.value);
}

function parseImage(v: unknown): Parsed<string> {
  const what = `a container image such as ${DEFAULT_IMAGE}`;
  const s = parseString(v, what);
  if (!s.ok) return s;
  if (/\s/.test(s.value)) return fail(`${showValue(s.value)} contains whitespace; expected ${what}`);
  return ok(s.value);
}

/** Why `key` cannot be a label or annotation key, or undefined when it can (Kubernetes' qualified names). */
function metadataKeyProblem(key: string, kind: 'label' | 'annotation'): string | undefined {
  const parts = key.split('/');
  const name = parts[parts.length - 1]!;
  const prefix = parts.length === 2 ? parts[0]! : undefined;
  const shape = `[prefix/]name, the prefix a DNS subdomain, the name ${NAME_RULE}`;
  if (parts.length > 2) return `${showValue(key)} is not a valid ${kind} key: it holds more than one '/' (expected ${shape})`;
  if (prefix !== undefined && (prefix === '' || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `${showValue(key)} is not a valid ${kind} key: its prefix ${showValue(prefix)} is not a DNS subdomain (lowercase letters, digits, '-' and '.')`;
  }
  if (!QUALIFIED_NAME.test(name)) return `${showValue(key)} is not a valid ${kind} key: expected ${shape}`;
  if (key.startsWith(PETREL_PREFIX) || PETREL_KEYS.includes(key)) return `${showValue(key)} is Petrel's own ${kind}; choose another key`;
  return undefined;
}

function labelValueProblem(value: string): string | undefined {
  if (value === '' || QUALIFIED_NAME.test(value)) return undefined;
  return `${showValue(value)} is not a valid label value: expected ${NAME_RULE} (or '')`;
}

/** A mapping of label or annotation keys to string values, each checked. */
function parseMetadataMap(kind: 'label' | 'annotation') {
  return (v: unknown): Parsed<Record<string, string>> => {
    if (!isPlainObject(v)) return fail(`expected a mapping of ${kind} keys to values, got ${showValue(v)}`);
    const problems: Problem[] = [];
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(v)) {
      const keyProblem = metadataKeyProblem(key, kind);
      if (keyProblem) problems.push({ path: [key], at: 'key', message: keyProblem });
      if (typeof value !== 'string') {
        const hint =
          typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: '${String(value)}')` : value === null ? " (write '' for an empty value)" : '';
        problems.push({ path: [key], message: `expected a string ${kind} value, got ${showValue(value)}${hint}` });
        continue;
      }
      const valueProblem = kind === 'label' ? labelValueProblem(value) : undefined;
      if (valueProblem) problems.push({ path: [key], message: valueProblem });
      out[key] = value;
    }
    return problems.length ? { ok: false, problems } : ok(out);
  };
}

const parseLabels = parseMetadataMap('label');
const parseAnnotations = parseMetadataMap('annotation');

interface Metadata {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Metadata fields Petrel sets itself: refused in custom_metadata and pod_config.metadata. */
const OWN_METADATA: Record<string, string> = {
  name: 'cannot be set: Petrel names its pods and services after the cluster',
  generateName: 'cannot be set: Petrel names its pods and services after the cluster',
  namespace: "cannot be set here; use the 'namespace' setting",
};

/** labels and annotations of a metadata mapping; other keys go to `other` (reported by the caller or kept). */
function parseMetadataFields(v: Record<string, unknown>, problems: Problem[], other: (key: string) => void): Metadata {
  const out: Metadata = { labels: {}, annotations: {} };
  for (const [key, value] of Object.entries(v)) {
    if (hasOwn(OWN_METADATA, key)) {
      problems.push({ path: [key], at: 'key', message: `'${key}' ${OWN_METADATA[key]}` });
    } else if (key === 'labels' || key === 'annotations') {
      if (value === null || value === undefined) continue;
      const r = (key === 'labels' ? parseLabels : parseAnnotations)(value);
      if (r.ok) out[key] = r.value;
      else problems.push(...r.problems.map((p) => ({ ...p, path: [key, ...p.path] })));
    } else {
      other(key);
    }
  }
  return out;
}

function parseCustomMetadata(v: unknown): Parsed<Metadata> {
  if (!isPlainObject(v)) return fail(`expected a mapping with labels and/or annotations, got ${showValue(v)}`);
  const problems: Problem[] = [];
  const info = { what: 'custom_metadata fields', allowed: ['labels', 'annotations'] };
  const out = parseMetadataFields(v, problems, (key) =>
    problems.push({ path: [key], at: 'key', message: `${unknownKeyMessage(key, info)} (other metadata goes under pod_config.metadata)` }),
  );
  return problems.length ? { ok: false, problems } : ok(out);
}

/** Fields of a Pod's spec that are often written one level too high. */
const SPEC_FIELDS = [
  'containers',
  'initContainers',
  'volumes',
  'tolerations',
  'nodeSelector',
  'affinity',
  'imagePullSecrets',
  'serviceAccountName',
  'runtimeClassName',
  'securityContext',
  'priorityClassName',
  'hostNetwork',
  'hostIPC',
  'dnsPolicy',
  'schedulerName',
  'topologySpreadConstraints',
  'shareProcessNamespace',
];

const POD_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'];

/**
 * A (partial) Pod, as SkyPilot's pod_config. The API server judges most of it when Petrel
 * creates a pod; this checks what would otherwise surprise later: the shape, metadata keys, and
 * one container at most.
 */
function parsePodConfig(v: unknown): Parsed<Record<string, unknown>> {
  if (!isPlainObject(v)) return fail(`expected a (partial) Pod: a mapping with metadata and/or spec, got ${showValue(v)}`);
  const problems: Problem[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v)) {
    if (value === null || value === undefined) continue;
    switch (key) {
      case 'apiVersion':
        if (value !== 'v1') problems.push({ path: [key], message: `expected 'v1' (a Pod's apiVersion), got ${showValue(value)}` });
        break;
      case 'kind':
        if (value !== 'Pod') problems.push({ path: [key], message: `expected 'Pod', got ${showValue(value)}` });
        break;
      case 'metadata': {
        if (!isPlainObject(value)) {
          problems.push({ path: [key], message: `expected a mapping of Pod metadata (labels, annotations, …), got ${showValue(value)}` });
          break;
        }
        const before = problems.length;
        const meta: Problem[] = [];
        parseMetadataFields(value, meta, () => undefined);
        problems.push(...meta.map((p) => ({ ...p, path: [key, ...p.path] })));
        if (problems.length === before) out[key] = value;
        break;
      }
      case 'spec': {
        if (!isPlainObject(value)) {
          problems.push({ path: [key], message: `expected a mapping of Pod spec fields (containers, tolerations, …), got ${showValue(value)}` });
          break;
        }
        const containers = value.containers;
        if (containers !== undefined && containers !== null) {
          if (!Array.isArray(containers) || !containers.every(isPlainObject)) {
            problems.push({ path: [key, 'containers'], message: `expected a list of one container (a mapping), got ${showValue(containers)}` });
          } else if (containers.length > 1) {
            problems.push({
              path: [key, 'containers', 1],
              message: "Petrel's pods have one container, which pod_config.spec.containers[0] is merged into; give one entry",
            });
          }
        }
        out[key] = value;
        break;
      }
      default: {
        const message = SPEC_FIELDS.includes(key)
          ? `'${key}' is a field of the Pod's spec; move it under pod_config.spec`
          : key === 'labels' || key === 'annotations'
            ? `'${key}' is a field of the Pod's metadata; move it under pod_config.metadata`
            : unknownKeyMessage(key, { what: 'Pod fields', allowed: POD_FIELDS });
        problems.push({ path: [key], at: 'key', message });
      }
    }
  }
  return problems.length ? { ok: false, problems } : ok(out);
}

// ---- config.yaml's kubernetes: section ---------------------------------------------------------

/** SkyPilot settings Petrel does not act on: refused rather than silently ignored. */
const UNSUPPORTED: Record<string, string> = Object.fromEntries(
  ['networking', 'ports', 'high_availability', 'kueue', 'dws', 'remote_identity', 'post_provision_runcmd', 'set_pod_resource_limits'].map((k) => [
    k,
    'is a SkyPilot setting that Petrel does not support; remove it',
  ]),
);

const settingFields = {
  namespace: field(parseNamespace),
  provision_timeout: field(parseTimeout),
  provision_timeout_seconds: field(parseTimeout),
  pod_config: field(parsePodConfig),
  labels: field(parseLabels),
  custom_metadata: field(parseCustomMetadata),
  image: field(parseImage),
  autoscaler: field((v) => parseEnum(v, AUTOSCALERS)),
};

/** Checked on their own (they name contexts of the kubeconfig); accepted as they are here. */
const passThrough = field((v) => ok(v));

const sectionShape = strictShape(
  { allowed_contexts: passThrough, ...settingFields, context_configs: passThrough },
  { what: 'Kubernetes settings', misplaced: UNSUPPORTED },
);

const contextShape = strictShape(settingFields, {
  what: 'per-context Kubernetes settings',
  misplaced: {
    ...UNSUPPORTED,
    allowed_contexts: `applies to every context; set it in ${KUBERNETES_KEY}.allowed_contexts`,
    context_configs: 'cannot be nested in a context',
  },
});

type Settings = z.infer<typeof contextShape>;

function parseAllowed(v: unknown): Parsed<'all' | string[]> {
  if (v === 'all') return ok('all');
  if (!Array.isArray(v)) {
    return fail(`expected a list of context names or 'all', got ${showValue(v)}${typeof v === 'string' ? ` (write [${v}])` : ''}`);
  }
  const problems: Problem[] = [];
  const out: string[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') return problems.push({ path: [i], message: `expected a context name, got ${showValue(item)}` });
    const first = out.indexOf(item);
    if (first >= 0) return problems.push({ path: [i], message: `${showValue(item)} is listed twice (also allowed_contexts[${first}])` });
    out.push(item);
  });
  return problems.length ? { ok: false, problems } : ok(out);
}

export interface KubernetesSection {
  config: Omit<KubernetesConfig, 'files' | 'kubeConfig'>;
  /** the kubeconfig's problems, then config.yaml's (sorted) */
  problems: SpecError[];
}

/**
 * config.yaml's `kubernetes:` section (`text` may be '' for a missing file), joined with the
 * contexts of the kubeconfig. Pure: `kube` is readKubeconfig's result or made up by a test.
 * `config` holds what could be worked out even when there are problems.
 */
export function parseKubernetesSection(text: string, file: string, kube: KubeconfigContexts): KubernetesSection {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const errors = new YamlProblems(file, doc, lines);
  const kubeProblems = [...(kube.problems ?? [])];
  const names = kube.contexts.map((c) => c.name);
  const currentContext = kube.currentContext;
  const result = (contexts = new Map<string, KubeContextConfig>(), disallowed: string[] = []): KubernetesSection => ({
    config: { contexts, disallowed, ...(currentContext !== undefined ? { currentContext } : {}) },
    problems: [...kubeProblems, ...sortProblems(errors.list)],
  });
  const section = readConfigSection(doc, errors, KUBERNETES_KEY, 'Kubernetes settings');
  if (section === undefined) return result(); // config.yaml cannot be read: its problems say why

  const at = (...p: PathSegment[]): PathSegment[] => [KUBERNETES_KEY, ...p];
  const report = (prefix: PathSegment[], problems: Problem[]) => {
    for (const p of problems) errors.problem({ ...p, path: [...prefix, ...p.path] });
  };
  const noContext = (name: string): string => {
    const where = kubeconfigName(kube.files);
    const known = names.length ? `; its contexts: ${names.join(', ')}${didYouMean(name, names)}` : '; it has no contexts';
    return `no context ${showValue(name)} in ${where}${known}`;
  };

  // The section's own settings.
  let general: Settings = {};
  const g = sectionShape.safeParse(section, { reportInput: true });
  if (g.success) general = g.data;
  else report(at(), g.error.issues.flatMap(issueProblems));
  checkSettings(section, at(), errors);

  // allowed_contexts
  let allowed: 'all' | string[] | undefined;
  if (section.allowed_contexts !== undefined && section.allowed_contexts !== null) {
    const r = parseAllowed(section.allowed_contexts);
    if (r.ok) allowed = r.value;
    else report(at('allowed_contexts'), r.problems);
    if (Array.isArray(allowed)) {
      allowed.forEach((n, i) => {
        if (!names.includes(n)) errors.problem({ path: at('allowed_contexts', i), message: noContext(n) });
      });
    }
  }

  // context_configs
  const overrides = new Map<string, Settings>();
  const configs = section.context_configs;
  if (configs !== undefined && configs !== null) {
    if (!isPlainObject(configs)) {
      errors.problem({ path: at('context_configs'), message: `expected a mapping of context names to their settings, got ${showValue(configs)}` });
    } else {
      for (const [name, value] of Object.entries(configs)) {
        const where = at('context_configs', name);
        if (!names.includes(name)) errors.problem({ path: where, at: 'key', message: noContext(name) });
        const r = contextShape.safeParse(value ?? {}, { reportInput: true });
        if (r.success) overrides.set(name, r.data);
        else report(where, r.error.issues.flatMap(issueProblems));
        if (isPlainObject(value)) checkSettings(value, where, errors);
      }
    }
  }

  // Which contexts: allowed_contexts' order, the kubeconfig's for 'all', else the current one.
  let chosen: string[];
  if (allowed === 'all') chosen = names;
  else if (allowed) chosen = allowed.filter((n) => names.includes(n));
  else if (currentContext === undefined) chosen = [];
  else if (names.includes(currentContext)) chosen = [currentContext];
  else {
    chosen = [];
    // Only the default choice depends on it; with allowed_contexts it does not matter.
    if (section.allowed_contexts === undefined || section.allowed_contexts === null) {
      kubeProblems.push({
        file: kube.currentContextFile ?? kube.files.join(path.delimiter),
        line: 0,
        column: 0,
        field: 'current-context',
        message: `${showValue(currentContext)} names no context${names.length ? ` (contexts: ${names.join(', ')})` : ''}; fix it, or list the contexts to use in ${file}'s ${KUBERNETES_KEY}.allowed_contexts`,
      });
    }
  }

  const contexts = new Map<string, KubeContextConfig>();
  for (const name of chosen) {
    const kc = kube.contexts.find((c) => c.name === name)!;
    if (!kc.server) {
      kubeProblems.push({
        file: kc.file ?? kube.files.join(path.delimiter),
        line: 0,
        column: 0,
        field: fieldPath(['contexts', name]),
        message: `its cluster${kc.cluster ? ` ${showValue(kc.cluster)}` : ''} is not defined in ${kubeconfigName(kube.files)}`,
      });
      continue;
    }
    contexts.set(name, contextConfig(kc, general, overrides.get(name)));
  }
  const disallowed = names.filter((n) => !chosen.includes(n));
  return result(contexts, disallowed);
}

/** Checks between the fields of one level (the section, or one context's entry). */
function checkSettings(raw: Record<string, unknown>, at: PathSegment[], errors: YamlProblems): void {
  const present = (k: string) => hasOwn(raw, k) && raw[k] !== null && raw[k] !== undefined;
  if (present('provision_timeout') && present('provision_timeout_seconds')) {
    errors.problem({
      path: [...at, 'provision_timeout_seconds'],
      at: 'key',
      message: "'provision_timeout_seconds' is another name for 'provision_timeout', which is set too; keep one",
    });
  }
  // The same label in labels and custom_metadata.labels with two values: which one is meant?
  const labels = raw.labels;
  const meta = raw.custom_metadata;
  const metaLabels = isPlainObject(meta) ? meta.labels : undefined;
  if (isPlainObject(labels) && isPlainObject(metaLabels)) {
    for (const [k, v] of Object.entries(labels)) {
      if (hasOwn(metaLabels, k) && metaLabels[k] !== v) {
        errors.problem({
          path: [...at, 'labels', k],
          message: `${showValue(v)} differs from custom_metadata.labels' ${showValue(metaLabels[k])} for the same key; keep one`,
        });
      }
    }
  }
}

function contextConfig(kc: KubeconfigContext, general: Settings, own: Settings = {}): KubeContextConfig {
  const autoscaler = own.autoscaler ?? general.autoscaler;
  const timeout =
    own.provision_timeout ??
    own.provision_timeout_seconds ??
    general.provision_timeout ??
    general.provision_timeout_seconds ??
    (autoscaler ? AUTOSCALER_PROVISION_TIMEOUT_SECONDS : DEFAULT_PROVISION_TIMEOUT_SECONDS);
  return {
    name: kc.name,
    server: kc.server,
    ...(kc.user ? { user: kc.user } : {}),
    namespace: own.namespace ?? general.namespace ?? kc.namespace ?? 'default',
    provisionTimeoutSeconds: timeout,
    podConfig: mergePodConfig(general.pod_config ?? {}, own.pod_config ?? {}),
    labels: {
      ...general.custom_metadata?.labels,
      ...general.labels,
      ...own.custom_metadata?.labels,
      ...own.labels,
    },
    annotations: { ...general.custom_metadata?.annotations, ...own.custom_metadata?.annotations },
    image: own.image ?? general.image ?? DEFAULT_IMAGE,
    ...(autoscaler ? { autoscaler } : {}),
  };
}

/** How messages name the kubeconfig: its one file, or $KUBECONFIG's list. */
function kubeconfigName(files: string[]): string {
  if (files.length === 1) return `the kubeconfig ${files[0]}`;
  if (files.length === 0) return 'the kubeconfig';
  return `the kubeconfig (KUBECONFIG=${files.join(path.delimiter)})`;
}


function sortProblems(list: SpecError[]): SpecError[] {
  return [...list].sort((a, b) => a.line - b.line || a.column - b.column);
}
