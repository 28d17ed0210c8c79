// Kubernetes contexts: the kubeconfig joined with config.yaml's kubernetes: section (SkyPilot's
// keys); what is accepted, errors that point at file:line:col, and pod_config merging.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { formatSpecError } from '../../core/spec/errors.js';
import {
  DEFAULT_IMAGE,
  mergePodConfig,
  parseKubernetesSection,
  readKubeconfig,
  readKubernetesConfig,
  type KubeconfigContexts,
} from '../../providers/kubernetes/config.js';
import { ProviderError } from '../../providers/types.js';

const KCFG = '/home/u/.kube/config';
const YAML = '/home/u/.petrel/config.yaml';

const lines = (...l: string[]) => l.join('\n');

const KUBE: KubeconfigContexts = {
  files: [KCFG],
  contexts: [
    { name: 'alpha', server: 'https://alpha.example:6443', namespace: 'team-a', user: 'me' },
    { name: 'beta', server: 'https://beta.example:6443' },
    { name: 'gamma', server: 'https://gamma.example:6443', user: 'ops' },
  ],
  currentContext: 'alpha',
};

function section(yaml: string, kube: KubeconfigContexts = KUBE) {
  return parseKubernetesSection(yaml, YAML, kube);
}

function problems(yaml: string, kube: KubeconfigContexts = KUBE): string[] {
  return section(yaml, kube).problems.map(formatSpecError);
}

describe('config.yaml kubernetes: section', () => {
  it('defaults: the current context only, its namespace, 10 s, the default image', () => {
    for (const text of ['', 'slurm: {}\n', 'kubernetes:\n']) {
      const r = section(text);
      expect(r.problems).toEqual([]);
      expect([...r.config.contexts.keys()]).toEqual(['alpha']);
      expect(r.config.disallowed).toEqual(['beta', 'gamma']);
      expect(r.config.currentContext).toBe('alpha');
      expect(r.config.contexts.get('alpha')).toEqual({
        name: 'alpha',
        server: 'https://alpha.example:6443',
        user: 'me',
        namespace: 'team-a',
        provisionTimeoutSeconds: 10,
        podConfig: {},
        labels: {},
        annotations: {},
        image: DEFAULT_IMAGE,
      });
    }
    // a context without a namespace uses 'default'
    const beta = section('', { ...KUBE, currentContext: 'beta' });
    expect([...beta.config.contexts.keys()]).toEqual(['beta']);
    expect(beta.config.contexts.get('beta')!.namespace).toBe('default');
    // no current-context and no allowed_contexts: no context, and that is no error
    const none = section('', { ...KUBE, currentContext: undefined });
    expect(none.problems).toEqual([]);
    expect(none.config.contexts.size).toBe(0);
    expect(none.config.disallowed).toEqual(['alpha', 'beta', 'gamma']);
  });

  it('an autoscaler makes the default provision_timeout 600; a timeout written wins', () => {
    const auto = section(lines('kubernetes:', '  autoscaler: GKE'));
    expect(auto.problems).toEqual([]);
    expect(auto.config.contexts.get('alpha')).toMatchObject({ autoscaler: 'gke', provisionTimeoutSeconds: 600 });

    const written = section(lines('kubernetes:', '  autoscaler: karpenter', '  provision_timeout: 45'));
    expect(written.config.contexts.get('alpha')).toMatchObject({ autoscaler: 'karpenter', provisionTimeoutSeconds: 45 });

    // per context: only beta has an autoscaler
    const per = section(lines('kubernetes:', '  allowed_contexts: all', '  context_configs:', '    beta: {autoscaler: generic}'));
    expect([...per.config.contexts.values()].map((c) => [c.name, c.provisionTimeoutSeconds, c.autoscaler])).toEqual([
      ['alpha', 10, undefined],
      ['beta', 600, 'generic'],
      ['gamma', 10, undefined],
    ]);
  });

  it("allowed_contexts: a list keeps its order, 'all' takes the kubeconfig's, [] takes none", () => {
    const list = section(lines('kubernetes:', '  allowed_contexts: [gamma, alpha]'));
    expect(list.problems).toEqual([]);
    expect([...list.config.contexts.keys()]).toEqual(['gamma', 'alpha']);
    expect(list.config.disallowed).toEqual(['beta']);
    expect(list.config.contexts.get('gamma')).toMatchObject({ server: 'https://gamma.example:6443', user: 'ops', namespace: 'default' });

    const all = section(lines('kubernetes:', '  allowed_contexts: all'));
    expect([...all.config.contexts.keys()]).toEqual(['alpha', 'beta', 'gamma']);
    expect(all.config.disallowed).toEqual([]);

    const none = section(lines('kubernetes:', '  allowed_contexts: []'));
    expect(none.problems).toEqual([]);
    expect(none.config.contexts.size).toBe(0);
    expect(none.config.disallowed).toEqual(['alpha', 'beta', 'gamma']);

    // allowed_contexts does not depend on current-context, even a dangling one
    expect(problems(lines('kubernetes:', '  allowed_contexts: [beta]'), { ...KUBE, currentContext: 'zeta' })).toEqual([]);
  });

  it('context_configs override the section per context; pod_config and labels merge, the rest replaces', () => {
    const r = section(
      lines(
        'kubernetes:',
        '  allowed_contexts: [alpha, beta]',
        '  namespace: ml',
        '  provision_timeout: 20',
        '  image: ubuntu:22.04',
        '  labels: {team: ml}',
        '  custom_metadata:',
        '    labels: {cost-center: "42"}',
        '    annotations: {example.com/owner: me}',
        '  pod_config:',
        '    metadata: {labels: {from: general}}',
        '    spec:',
        '      tolerations: [{key: a, operator: Exists}]',
        '  context_configs:',
        '    beta:',
        '      namespace: research',
        '      provision_timeout_seconds: 30',
        '      labels: {team: research, extra: "yes"}',
        '      custom_metadata: {annotations: {example.com/owner: them}}',
        '      pod_config:',
        '        spec:',
        '          tolerations: [{key: b, operator: Exists}]',
        '          nodeSelector: {pool: gpu}',
        '    gamma: {namespace: other}', // not allowed: no effect, no error
      ),
    );
    expect(r.problems).toEqual([]);
    expect(r.config.contexts.get('alpha')).toEqual({
      name: 'alpha',
      server: 'https://alpha.example:6443',
      user: 'me',
      namespace: 'ml',
      provisionTimeoutSeconds: 20,
      podConfig: { metadata: { labels: { from: 'general' } }, spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } },
      labels: { 'cost-center': '42', team: 'ml' },
      annotations: { 'example.com/owner': 'me' },
      image: 'ubuntu:22.04',
    });
    expect(r.config.contexts.get('beta')).toEqual({
      name: 'beta',
      server: 'https://beta.example:6443',
      namespace: 'research',
      provisionTimeoutSeconds: 30,
      podConfig: {
        metadata: { labels: { from: 'general' } },
        spec: {
          tolerations: [
            { key: 'a', operator: 'Exists' },
            { key: 'b', operator: 'Exists' },
          ],
          nodeSelector: { pool: 'gpu' },
        },
      },
      labels: { 'cost-center': '42', team: 'research', extra: 'yes' },
      annotations: { 'example.com/owner': 'them' },
      image: 'ubuntu:22.04',
    });
  });

  it('provision_timeout_seconds is another name for provision_timeout; both at once is a problem', () => {
    const alias = section(lines('kubernetes:', '  provision_timeout_seconds: 120'));
    expect(alias.problems).toEqual([]);
    expect(alias.config.contexts.get('alpha')!.provisionTimeoutSeconds).toBe(120);

    expect(
      problems(
        lines(
          'kubernetes:', // 1
          '  provision_timeout: 60', // 2
          '  provision_timeout_seconds: 60', // 3
          '  context_configs:', // 4
          '    beta: {provision_timeout: 0, provision_timeout_seconds: 5}', // 5
        ),
      ),
    ).toEqual([
      `${YAML}:3:3: kubernetes.provision_timeout_seconds: 'provision_timeout_seconds' is another name for 'provision_timeout', which is set too; keep one`,
      `${YAML}:5:31: kubernetes.context_configs.beta.provision_timeout: 0 is out of range; expected a positive whole number of seconds`,
      `${YAML}:5:34: kubernetes.context_configs.beta.provision_timeout_seconds: 'provision_timeout_seconds' is another name for 'provision_timeout', which is set too; keep one`,
    ]);
  });

  it('an unknown key is a problem with a suggestion; SkyPilot settings Petrel does not act on are named as such', () => {
    expect(
      problems(
        lines(
          'kubernetes:', // 1
          '  namespce: ml', // 2
          '  kueue: {local_queue_name: q}', // 3
          '  context_configs:', // 4
          '    beta:', // 5
          '      allowed_contexts: all', // 6
          '      imag: x', // 7
        ),
      ),
    ).toEqual([
      `${YAML}:2:3: kubernetes.namespce: unknown field 'namespce'; allowed fields: allowed_contexts, namespace, provision_timeout, provision_timeout_seconds, pod_config, labels, custom_metadata, image, autoscaler, context_configs; did you mean 'namespace'?`,
      `${YAML}:3:3: kubernetes.kueue: 'kueue' is a SkyPilot setting that Petrel does not support; remove it`,
      `${YAML}:6:7: kubernetes.context_configs.beta.allowed_contexts: 'allowed_contexts' applies to every context; set it in kubernetes.allowed_contexts`,
      `${YAML}:7:7: kubernetes.context_configs.beta.imag: unknown field 'imag'; allowed fields: namespace, provision_timeout, provision_timeout_seconds, pod_config, labels, custom_metadata, image, autoscaler; did you mean 'image'?`,
    ]);
  });

  it('a context that is not in the kubeconfig names the kubeconfig and lists the contexts there', () => {
    expect(
      problems(
        lines(
          'kubernetes:', // 1
          '  allowed_contexts: [alpha, betta]', // 2
          '  context_configs:', // 3
          '    delta: {namespace: x}', // 4
        ),
      ),
    ).toEqual([
      `${YAML}:2:29: kubernetes.allowed_contexts[1]: no context 'betta' in the kubeconfig ${KCFG}; its contexts: alpha, beta, gamma; did you mean 'beta'?`,
      `${YAML}:4:5: kubernetes.context_configs.delta: no context 'delta' in the kubeconfig ${KCFG}; its contexts: alpha, beta, gamma`,
    ]);
    // several files: $KUBECONFIG's list; none: says so
    const two = { ...KUBE, files: ['/a/one', '/b/two'] };
    expect(problems(lines('kubernetes:', '  allowed_contexts: [x]'), two)).toEqual([
      `${YAML}:2:22: kubernetes.allowed_contexts[0]: no context 'x' in the kubeconfig (KUBECONFIG=/a/one:/b/two); its contexts: alpha, beta, gamma`,
    ]);
    expect(problems(lines('kubernetes:', '  allowed_contexts: [x]'), { files: [KCFG], contexts: [] })).toEqual([
      `${YAML}:2:22: kubernetes.allowed_contexts[0]: no context 'x' in the kubeconfig ${KCFG}; it has no contexts`,
    ]);
    expect(problems(lines('kubernetes:', '  allowed_contexts: alpha'))).toEqual([
      `${YAML}:2:21: kubernetes.allowed_contexts: expected a list of context names or 'all', got 'alpha' (write [alpha])`,
    ]);
    // a current-context that names no context matters when it is the default choice
    expect(problems('', { ...KUBE, currentContext: 'zeta', currentContextFile: KCFG })).toEqual([
      `${KCFG}: current-context: 'zeta' names no context (contexts: alpha, beta, gamma); fix it, or list the contexts to use in ${YAML}'s kubernetes.allowed_contexts`,
    ]);
  });

  it('checks label keys and values, custom_metadata and pod_config', () => {
    expect(
      problems(
        lines(
          'kubernetes:', // 1
          '  labels:', // 2
          "    'bad key': x", // 3
          '    team: -ml-', // 4
          '    version: 2', // 5
          '    Example.com/x: y', // 6
          '    petrel.dev/cluster: mine', // 7
          '  custom_metadata:', // 8
          '    name: x', // 9
          '    labels: {ok: "", a/b/c: d}', // 10
          '    finalizers: []', // 11
          '  pod_config:', // 12
          '    tolerations: []', // 13
          '    kind: Deployment', // 14
          '    metadata: {namespace: x, annotations: {"a b": c}}', // 15
          '    spec:', // 16
          '      containers: [{name: a}, {name: b}]', // 17
        ),
      ),
    ).toEqual([
      `${YAML}:3:5: kubernetes.labels['bad key']: 'bad key' is not a valid label key: expected [prefix/]name, the prefix a DNS subdomain, the name at most 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit`,
      `${YAML}:4:11: kubernetes.labels.team: '-ml-' is not a valid label value: expected at most 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit (or '')`,
      `${YAML}:5:14: kubernetes.labels.version: expected a string label value, got 2 (quote it: '2')`,
      `${YAML}:6:5: kubernetes.labels['Example.com/x']: 'Example.com/x' is not a valid label key: its prefix 'Example.com' is not a DNS subdomain (lowercase letters, digits, '-' and '.')`,
      `${YAML}:7:5: kubernetes.labels['petrel.dev/cluster']: 'petrel.dev/cluster' is Petrel's own label; choose another key`,
      `${YAML}:9:5: kubernetes.custom_metadata.name: 'name' cannot be set: Petrel names its pods and services after the cluster`,
      `${YAML}:10:22: kubernetes.custom_metadata.labels['a/b/c']: 'a/b/c' is not a valid label key: it holds more than one '/' (expected [prefix/]name, the prefix a DNS subdomain, the name at most 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit)`,
      `${YAML}:11:5: kubernetes.custom_metadata.finalizers: unknown field 'finalizers'; allowed fields: labels, annotations (other metadata goes under pod_config.metadata)`,
      `${YAML}:13:5: kubernetes.pod_config.tolerations: 'tolerations' is a field of the Pod's spec; move it under pod_config.spec`,
      `${YAML}:14:11: kubernetes.pod_config.kind: expected 'Pod', got 'Deployment'`,
      `${YAML}:15:16: kubernetes.pod_config.metadata.namespace: 'namespace' cannot be set here; use the 'namespace' setting`,
      `${YAML}:15:44: kubernetes.pod_config.metadata.annotations['a b']: 'a b' is not a valid annotation key: expected [prefix/]name, the prefix a DNS subdomain, the name at most 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit`,
      `${YAML}:17:31: kubernetes.pod_config.spec.containers[1]: Petrel's pods have one container, which pod_config.spec.containers[0] is merged into; give one entry`,
    ]);
    // a prefixed key, an empty value and any annotation value are fine
    const ok = section(lines('kubernetes:', '  labels: {app.kubernetes.io/part-of: ml, empty: ""}', '  custom_metadata: {annotations: {note: "any text: at all"}}'));
    expect(ok.problems).toEqual([]);
    expect(ok.config.contexts.get('alpha')).toMatchObject({ labels: { 'app.kubernetes.io/part-of': 'ml', empty: '' }, annotations: { note: 'any text: at all' } });
  });

  it('reports every problem at once, sorted, as file:line:col: field: message', () => {
    expect(
      problems(
        lines(
          'kubernetes:', // 1
          '  allowed_contexts: [alpha, alpha, omega]', // 2
          '  namespace: ML', // 3
          '  provision_timeout: 1.5', // 4
          '  autoscaler: eks', // 5
          '  image: "python 3"', // 6
          '  labels: {team: ml}', // 7
          '  custom_metadata: {labels: {team: ai}}', // 8
          '  context_configs:', // 9
          '    beta: [x]', // 10
        ),
      ),
    ).toEqual([
      `${YAML}:2:29: kubernetes.allowed_contexts[1]: 'alpha' is listed twice (also allowed_contexts[0])`,
      `${YAML}:3:14: kubernetes.namespace: 'ML' is not a namespace name: at most 63 lowercase letters, digits and '-', beginning and ending with a letter or digit`,
      `${YAML}:4:22: kubernetes.provision_timeout: expected a positive whole number of seconds, got 1.5`,
      `${YAML}:5:15: kubernetes.autoscaler: 'eks' is not allowed; expected one of: gke, karpenter, coreweave, generic`,
      `${YAML}:6:10: kubernetes.image: 'python 3' contains whitespace; expected a container image such as python:3.11-slim`,
      `${YAML}:7:18: kubernetes.labels.team: 'ml' differs from custom_metadata.labels' 'ai' for the same key; keep one`,
      `${YAML}:10:11: kubernetes.context_configs.beta: expected a mapping of per-context Kubernetes settings, got ["x"]`,
    ]);
    expect(problems('kubernetes: [a]\n')).toEqual([`${YAML}:1:13: kubernetes: expected a mapping of Kubernetes settings, got ["a"]`]);
    expect(problems('kubernetes:\n  namespace: [\n')[0]).toMatch(new RegExp(`^${YAML}:\\d+:\\d+: YAML syntax error: `));
  });
});

describe('mergePodConfig (SkyPilot merge_k8s_configs semantics)', () => {
  const base = () => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', labels: { a: '1' } },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'petrel',
          image: 'python:3.11-slim',
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
          resources: { requests: { cpu: '2' }, limits: { cpu: '2' } },
          volumeMounts: [{ name: 'shm', mountPath: '/dev/shm' }],
        },
      ],
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    },
  });

  it('merges mappings recursively and replaces scalars', () => {
    const out = mergePodConfig(base(), { metadata: { labels: { b: '2' }, annotations: { x: 'y' } }, spec: { restartPolicy: 'OnFailure', priorityClassName: 'high' } });
    expect(out.metadata).toEqual({ name: 'p', labels: { a: '1', b: '2' }, annotations: { x: 'y' } });
    expect(out.spec).toMatchObject({ restartPolicy: 'OnFailure', priorityClassName: 'high' });
  });

  it('merges a container into the first container: env by name, resources recursively, other lists appended', () => {
    const out = mergePodConfig(base(), {
      spec: {
        containers: [
          {
            env: [
              { name: 'B', value: 'two' },
              { name: 'C', value: '3' },
            ],
            resources: { requests: { memory: '4Gi' }, limits: { 'nvidia.com/gpu': '1' } },
            volumeMounts: [
              { name: 'shm', mountPath: '/shm' },
              { name: 'data', mountPath: '/data' },
            ],
            args: ['--x'],
            securityContext: { privileged: true },
          },
        ],
      },
    });
    const containers = (out.spec as { containers: unknown[] }).containers;
    expect(containers).toEqual([
      {
        name: 'petrel',
        image: 'python:3.11-slim',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: 'two' },
          { name: 'C', value: '3' },
        ],
        resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { cpu: '2', 'nvidia.com/gpu': '1' } },
        volumeMounts: [
          { name: 'shm', mountPath: '/shm' },
          { name: 'data', mountPath: '/data' },
        ],
        args: ['--x'],
        securityContext: { privileged: true },
      },
    ]);
  });

  it('appends tolerations (and other lists), sets what the base lacks, and changes neither argument', () => {
    const b = base();
    const overlay = {
      spec: {
        tolerations: [{ key: 'spot', operator: 'Exists' }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'd' } }],
        imagePullSecrets: [{ name: 'regcred' }],
      },
    };
    const before = JSON.stringify([b, overlay]);
    const out = mergePodConfig(b, overlay);
    expect(JSON.stringify([b, overlay])).toBe(before);
    expect(out.spec).toMatchObject({
      tolerations: [
        { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
        { key: 'spot', operator: 'Exists' },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'd' } }],
      imagePullSecrets: [{ name: 'regcred' }],
    });
    // the result shares nothing with the overlay
    ((out.spec as { volumes: Array<{ name: string }> }).volumes[0]!).name = 'changed';
    expect(overlay.spec.volumes[0]!.name).toBe('data');
    // a second merge appends again (a list is never deduplicated unless Kubernetes merges it by key)
    const twice = mergePodConfig(out, { spec: { tolerations: [{ key: 'spot', operator: 'Exists' }] } });
    expect((twice.spec as { tolerations: unknown[] }).tolerations).toHaveLength(3);
  });
});

describe('mergePodConfig and odd keys', () => {
  it("merges a '__proto__' key as data, never into Object.prototype", () => {
    const overlay = parseYaml('spec: {__proto__: {polluted: 1}, constructor: [1]}') as Record<string, unknown>;
    const out = mergePodConfig({ spec: { constructor: [0] } }, overlay);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out.spec)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe('{"spec":{"constructor":[0,1],"__proto__":{"polluted":1}}}');
  });
});

describe('readKubernetesConfig and the kubeconfig', () => {
  let dir: string;
  let home: string;

  const kubeconfig = (contexts: Array<{ name: string; cluster: string; namespace?: string; user?: string }>, clusters: Array<{ name: string; server: string }>, current?: string) =>
    lines(
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      ...clusters.flatMap((c) => [`- name: ${c.name}`, '  cluster:', `    server: ${c.server}`, '    certificate-authority: ca.crt']),
      'users:',
      '- name: me',
      '  user: {token: abc}',
      'contexts:',
      ...contexts.flatMap((c) => [
        `- name: ${c.name}`,
        '  context:',
        `    cluster: ${c.cluster}`,
        `    user: ${c.user ?? 'me'}`,
        ...(c.namespace ? [`    namespace: ${c.namespace}`] : []),
      ]),
      ...(current ? [`current-context: ${current}`] : []),
    );

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-k8scfg-'));
    home = path.join(dir, 'petrel-home');
    fs.mkdirSync(home);
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('no kubeconfig at all: no contexts, no error', () => {
    const env = { HOME: dir }; // ~/.kube/config does not exist
    const { kubeConfig, ...rest } = readKubernetesConfig(home, env);
    expect(rest).toEqual({
      files: { kubeconfig: [path.join(dir, '.kube', 'config')], petrelConfig: path.join(home, 'config.yaml') },
      contexts: new Map(),
      disallowed: [],
    });
    expect(kubeConfig.getContexts()).toEqual([]);
    // nor with $KUBECONFIG naming files that do not exist, nor with an empty file
    fs.writeFileSync(path.join(dir, 'empty'), '');
    const r = readKubernetesConfig(home, { HOME: dir, KUBECONFIG: `${path.join(dir, 'nope')}:${path.join(dir, 'empty')}` });
    expect(r.contexts.size).toBe(0);
    expect(r.files.kubeconfig).toEqual([path.join(dir, 'nope'), path.join(dir, 'empty')]);
  });

  it('reads ~/.kube/config when $KUBECONFIG is unset, and config.yaml of $PETREL_HOME', () => {
    fs.mkdirSync(path.join(dir, '.kube'));
    fs.writeFileSync(
      path.join(dir, '.kube', 'config'),
      kubeconfig([{ name: 'kind-dev', cluster: 'kind', namespace: 'work' }, { name: 'prod', cluster: 'kind' }], [{ name: 'kind', server: 'https://127.0.0.1:6443/' }], 'kind-dev'),
    );
    fs.writeFileSync(path.join(home, 'config.yaml'), lines('kubernetes:', '  provision_timeout: 15', '  labels: {team: ml}'));
    const cfg = readKubernetesConfig(home, { HOME: dir });
    expect(cfg.currentContext).toBe('kind-dev');
    expect(cfg.disallowed).toEqual(['prod']);
    expect([...cfg.contexts.values()]).toEqual([
      {
        name: 'kind-dev',
        server: 'https://127.0.0.1:6443', // as client-node reads it: no trailing '/'
        user: 'me',
        namespace: 'work',
        provisionTimeoutSeconds: 15,
        podConfig: {},
        labels: { team: 'ml' },
        annotations: {},
        image: DEFAULT_IMAGE,
      },
    ]);
  });

  it('merges several $KUBECONFIG files as kubectl does: first definition and first current-context win', () => {
    const one = path.join(dir, 'one.yaml');
    const two = path.join(dir, 'sub', 'two.yaml');
    fs.mkdirSync(path.dirname(two));
    fs.writeFileSync(one, kubeconfig([{ name: 'a', cluster: 'c1', namespace: 'ns-a' }], [{ name: 'c1', server: 'https://one:6443' }], 'a'));
    // repeats a's name (ignored, as kubectl does: no error), adds b on cluster c2 and sets another current-context
    fs.writeFileSync(
      two,
      kubeconfig(
        [
          { name: 'a', cluster: 'c2', namespace: 'ignored' },
          { name: 'b', cluster: 'c2' },
        ],
        [{ name: 'c2', server: 'https://two:6443' }],
        'b',
      ),
    );
    fs.writeFileSync(path.join(home, 'config.yaml'), lines('kubernetes:', '  allowed_contexts: [b, a]'));
    const env = { HOME: dir, KUBECONFIG: [one, path.join(dir, 'missing'), two, one].join(path.delimiter) };
    const cfg = readKubernetesConfig(home, env);
    expect(cfg.files.kubeconfig).toEqual([one, path.join(dir, 'missing'), two]);
    expect(cfg.currentContext).toBe('a');
    expect([...cfg.contexts.values()].map((c) => [c.name, c.server, c.namespace])).toEqual([
      ['b', 'https://two:6443', 'default'],
      ['a', 'https://one:6443', 'ns-a'],
    ]);

    // the merged KubeConfig for API clients: relative paths made absolute against each file's directory
    const kube = readKubeconfig(env);
    expect(kube.problems).toEqual([]);
    expect(kube.kubeConfig.getCurrentContext()).toBe('a');
    expect(kube.kubeConfig.getContexts().map((c) => c.name)).toEqual(['a', 'b']);
    expect(kube.kubeConfig.getCluster('c2')?.caFile).toBe(path.join(dir, 'sub', 'ca.crt'));
  });

  it('a kubeconfig that cannot be loaded is a config problem naming the file; every problem is thrown at once', () => {
    const good = path.join(dir, 'good');
    const broken = path.join(dir, 'broken');
    const incomplete = path.join(dir, 'incomplete');
    fs.writeFileSync(good, kubeconfig([{ name: 'a', cluster: 'c1' }], [{ name: 'c1', server: 'https://one:6443' }], 'a'));
    fs.writeFileSync(broken, lines('clusters:', '- name: x', '  cluster: {server: [}'));
    fs.writeFileSync(incomplete, lines('contexts:', '- name: y', '  context:', '    user: me'));
    fs.writeFileSync(path.join(home, 'config.yaml'), lines('kubernetes:', '  namespace: Bad'));
    let err: unknown;
    try {
      readKubernetesConfig(home, { HOME: dir, KUBECONFIG: [good, broken, incomplete].join(path.delimiter) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('config');
    const message = (err as Error).message.split('\n');
    // the YAML parser may say more than one thing about the one broken line
    expect(message.length).toBeGreaterThan(2);
    for (const m of message.slice(0, -2)) expect(m).toMatch(new RegExp(`^${broken}:3:\\d+: YAML syntax error: `));
    expect(message.slice(-2)).toEqual([
      `${incomplete}:3:3: contexts[0].context.cluster: missing; client-node cannot load the kubeconfig without it`,
      `${path.join(home, 'config.yaml')}:2:14: kubernetes.namespace: 'Bad' is not a namespace name: at most 63 lowercase letters, digits and '-', beginning and ending with a letter or digit`,
    ]);
  });

  it('client-node reads a token-file as it loads: a missing one is a problem naming the kubeconfig', () => {
    const file = path.join(dir, 'k');
    fs.writeFileSync(
      file,
      lines('clusters: [{name: c, cluster: {server: "https://c:6443"}}]', 'users: [{name: u, user: {token-file: tok}}]', 'contexts: [{name: a, context: {cluster: c, user: u}}]'),
    );
    const kube = readKubeconfig({ HOME: dir, KUBECONFIG: file });
    expect(kube.contexts).toEqual([]);
    expect(kube.problems.map(formatSpecError)).toEqual([expect.stringMatching(new RegExp(`^${file}: cannot load it: ENOENT: no such file or directory, open '.*tok'$`))]);
  });

  it('a context whose cluster no file defines is a problem once it is used', () => {
    const file = path.join(dir, 'k');
    fs.writeFileSync(file, kubeconfig([{ name: 'a', cluster: 'c1' }, { name: 'lost', cluster: 'nowhere' }], [{ name: 'c1', server: 'https://one:6443' }], 'a'));
    const env = { HOME: dir, KUBECONFIG: file };
    expect([...readKubernetesConfig(home, env).contexts.keys()]).toEqual(['a']);
    fs.writeFileSync(path.join(home, 'config.yaml'), lines('kubernetes:', '  allowed_contexts: all'));
    expect(() => readKubernetesConfig(home, env)).toThrow(`${file}: contexts.lost: its cluster 'nowhere' is not defined in the kubeconfig ${file}`);
  });

  it('reads both files on every call: an edit applies without a restart', () => {
    const file = path.join(dir, 'k');
    const env = { HOME: dir, KUBECONFIG: file };
    fs.writeFileSync(file, kubeconfig([{ name: 'a', cluster: 'c1' }], [{ name: 'c1', server: 'https://one:6443' }], 'a'));
    expect(readKubernetesConfig(home, env).contexts.get('a')!.namespace).toBe('default');
    fs.writeFileSync(path.join(home, 'config.yaml'), lines('kubernetes:', '  namespace: ml'));
    expect(readKubernetesConfig(home, env).contexts.get('a')!.namespace).toBe('ml');
    fs.writeFileSync(file, kubeconfig([{ name: 'b', cluster: 'c1' }], [{ name: 'c1', server: 'https://one:6443' }], 'b'));
    expect([...readKubernetesConfig(home, env).contexts.keys()]).toEqual(['b']);
  });
});
