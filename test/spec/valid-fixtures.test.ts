import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { defaultResourceRequest, type ResourceRequest } from '../../core/task.js';
import { readTaskYaml } from '../../core/spec/index.js';
import { fixtureText, onlyTask, parseFixture } from './helpers.js';

/** A default candidate with some fields set, for exact comparisons. */
const req = (fields: Partial<ResourceRequest>): ResourceRequest => ({ ...defaultResourceRequest(), ...fields });

describe('valid task YAMLs', () => {
  test('every fixture parses and yields plain JSON', () => {
    const dir = fileURLToPath(new URL('../fixtures/spec/valid/', import.meta.url));
    const names = readdirSync(dir);
    expect(names.length).toBeGreaterThanOrEqual(15);
    for (const name of names) {
      const file = parseFixture(name);
      expect(JSON.parse(JSON.stringify(file))).toEqual(file);
    }
  });

  test('minimal: name, workdir, num_nodes, setup and run verbatim', () => {
    expect(onlyTask('minimal.yaml')).toEqual({
      name: 'hello-world',
      workdir: './src',
      numNodes: 2,
      resources: { candidates: [defaultResourceRequest()], ordered: false },
      envs: {},
      secrets: {},
      fileMounts: {},
      setup: 'pip install -r requirements.txt\n',
      run: 'python train.py --rank $SKYPILOT_NODE_RANK\n',
      config: {},
      volumes: {},
    });
  });

  test('accelerators NAME:COUNT with cpus/memory N+ and use_spot', () => {
    const t = onlyTask('accel-name-count.yaml');
    expect(t.name).toBe('train.llama_v2');
    expect(t.resources).toEqual({
      candidates: [
        req({ accelerators: { A100: 8 }, cpus: { value: 32, orMore: true }, memoryGb: { value: 128, orMore: true }, useSpot: true }),
      ],
      ordered: false,
    });
  });

  test('gpus alias with a fractional count', () => {
    expect(onlyTask('accel-fractional-gpus-alias.yaml').resources.candidates).toEqual([
      req({ accelerators: { T4: 0.5 }, cpus: { value: 2, orMore: false }, memoryGb: { value: 8, orMore: false } }),
    ]);
  });

  test('accelerators as a {NAME: COUNT} mapping, cpus as a string, memory with a unit', () => {
    expect(onlyTask('accel-dict.yaml').resources.candidates).toEqual([
      req({ accelerators: { H100: 8 }, cpus: { value: 4, orMore: false }, memoryGb: { value: 64, orMore: true } }),
    ]);
  });

  test('a quoted set string gives unordered candidates', () => {
    expect(onlyTask('accel-set-string.yaml').resources).toEqual({
      candidates: [req({ accelerators: { A100: 1 } }), req({ accelerators: { V100: 1 } })],
      ordered: false,
    });
  });

  test('an unquoted set (a YAML flow mapping with null values) gives unordered candidates', () => {
    expect(onlyTask('accel-set-flow-map.yaml').resources).toEqual({
      candidates: [req({ accelerators: { L4: 1 } }), req({ accelerators: { A10G: 1 } }), req({ accelerators: { T4: 2 } })],
      ordered: false,
    });
  });

  test('a list of accelerators gives ordered candidates', () => {
    expect(onlyTask('accel-list-ordered.yaml').resources).toEqual({
      candidates: [req({ accelerators: { H100: 8 } }), req({ accelerators: { 'A100-80GB': 8 } }), req({ accelerators: { A100: 8 } })],
      ordered: true,
    });
  });

  test('memory-based accelerators are kept in canonical form for the optimizer', () => {
    const t = onlyTask('accel-memory.yaml');
    expect(t.resources.candidates.map((c) => [c.acceleratorMemory, c.accelerators])).toEqual([
      ['80GB+', undefined],
      ['nvidia:80GB+:8', undefined],
      ['48GB:2', undefined],
      ['amd:192GB', undefined],
    ]);
    expect(t.resources.ordered).toBe(false);
  });

  test('a k8s context with slashes stays whole as the region', () => {
    expect(onlyTask('infra-k8s-context.yaml').resources.candidates).toEqual([
      req({ cloud: 'kubernetes', region: 'arn:aws:eks:us-east-1:123456789012:cluster/my-cluster', accelerators: { L4: 1 } }),
    ]);
  });

  test('infra forms: zones, wildcards, kubernetes, ssh pools, slurm partitions, local', () => {
    const locations = onlyTask('infra-forms.yaml').resources.candidates.map(({ cloud, region, zone }) => ({ cloud, region, zone }));
    expect(locations).toEqual([
      { cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a' },
      { cloud: undefined, region: 'us-west-2', zone: undefined },
      { cloud: 'gcp', region: undefined, zone: 'us-central1-a' },
      { cloud: 'kubernetes', region: undefined, zone: undefined },
      { cloud: 'ssh', region: 'lab-pool', zone: undefined },
      { cloud: 'slurm', region: 'hpc', zone: 'gpu-partition' },
      { cloud: 'local', region: undefined, zone: undefined },
      { cloud: undefined, region: undefined, zone: undefined },
      { cloud: 'azure', region: 'eastus', zone: undefined },
    ]);
  });

  test('legacy cloud/region/zone (cloud name case-insensitive)', () => {
    expect(onlyTask('legacy-cloud-region-zone.yaml').resources.candidates).toEqual([
      req({ cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a', instanceType: 'p4d.24xlarge' }),
    ]);
  });

  test('ordered entries are merged over the base; labels merge key by key', () => {
    expect(onlyTask('ordered-merged.yaml').resources).toEqual({
      candidates: [
        req({ cloud: 'gcp', region: 'us-central1', accelerators: { A100: 8 }, useSpot: true, diskSizeGb: 512, labels: { team: 'ml', tier: 'primary' } }),
        req({ cloud: 'aws', region: 'us-east-1', accelerators: { H100: 8 }, useSpot: false, diskSizeGb: 512, labels: { team: 'ml' } }),
      ],
      ordered: true,
    });
  });

  test('job_recovery as a strategy name, autostop: true, a single port', () => {
    const [c] = onlyTask('job-recovery-string.yaml').resources.candidates;
    expect(c!.jobRecovery).toEqual({ strategy: 'FAILOVER', maxRestartsOnErrors: 0, recoverOnExitCodes: [] });
    expect(c!.autostop).toEqual({ idleMinutes: 5, down: false });
    expect(c!.ports).toEqual(['8080']);
  });

  test('job_recovery and autostop as mappings', () => {
    const [c] = onlyTask('job-recovery-object.yaml').resources.candidates;
    expect(c!.jobRecovery).toEqual({ strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 3, recoverOnExitCodes: [33, 34] });
    expect(c!.autostop).toEqual({ idleMinutes: 10, down: true, waitFor: 'jobs', hook: './save_checkpoint.sh', hookTimeoutSeconds: 300 });
  });

  test('autostop duration string, port list with a range (deduplicated), disk size in TB, tiers', () => {
    expect(onlyTask('autostop-ports-disk.yaml').resources.candidates).toEqual([
      req({
        autostop: { idleMinutes: 120, down: false },
        ports: ['8080', '10022-10040', '443'],
        diskSizeGb: 1024,
        diskTier: 'best',
        networkTier: 'best',
      }),
    ]);
  });

  test('disk size string, per-region image ids, labels, priority', () => {
    expect(onlyTask('image-labels-priority.yaml').resources.candidates).toEqual([
      req({
        cloud: 'aws',
        diskSizeGb: 100,
        imageId: { 'us-east-1': 'ami-0123456789abcdef0', 'us-west-2': 'ami-0fedcba9876543210' },
        labels: { team: 'ml', project: 'llm' },
        priority: -500,
      }),
    ]);
  });

  test('envs: numbers and booleans as written, null placeholders kept; substitution into workdir and file_mounts only', () => {
    const t = onlyTask('envs-secrets-substitution.yaml');
    expect(t.envs).toEqual({ MODEL: 'llama-3', EPOCHS: '10', LR: '0.010', DEBUG: 'true', HF_TOKEN: null, BUCKET: 'my-bucket' });
    expect(t.secrets).toEqual({ WANDB_API_KEY: null, DB_PASSWORD: 'hunter2' });
    expect(t.workdir).toBe('./projects/llama-3');
    expect(t.fileMounts).toEqual({
      '/checkpoints/llama-3': { kind: 'path', source: 's3://my-bucket/ckpt' },
      '/outputs': { kind: 'storage', name: 'my-bucket-outputs', store: 'S3', persistent: true, mode: 'MOUNT_CACHED' },
    });
    expect(t.run).toBe('echo $MODEL ${EPOCHS}\n');
  });

  test('file_mounts: local paths, bucket URIs and storage mappings with defaults', () => {
    expect(onlyTask('file-mounts.yaml').fileMounts).toEqual({
      '~/.netrc': { kind: 'path', source: '~/.netrc' },
      '/datasets/imagenet': { kind: 'path', source: 'gs://my-imagenet' },
      '/models': { kind: 'storage', name: 'team-models', source: ['./models', './adapters'], store: 'GCS', persistent: false, mode: 'COPY' },
      '/scratch': { kind: 'storage', source: 's3://scratch-bucket', persistent: true, mode: 'MOUNT' },
    });
  });

  test('a pipeline with a header names the pipeline and keeps task order', () => {
    const file = parseFixture('pipeline-header.yaml');
    expect(file.pipelineName).toBe('train-then-eval');
    expect(file.tasks.map((t) => [t.name, t.run, t.resources.candidates[0]!.accelerators])).toEqual([
      ['train', 'python train.py', { A100: 8 }],
      ['eval', 'python eval.py', { T4: 1 }],
    ]);
  });

  test('a pipeline without a header: every document is a task; autostop int/false, ports/image_id null', () => {
    const file = parseFixture('pipeline-no-header.yaml');
    expect(file.pipelineName).toBeUndefined();
    expect(file.tasks.map((t) => t.resources.candidates)).toEqual([
      [req({ autostop: { idleMinutes: 30, down: false } })],
      [req({})],
    ]);
  });

  test('git workdir with a substituted ref', () => {
    expect(onlyTask('git-workdir.yaml').workdir).toEqual({ url: 'https://github.com/example/repo.git', ref: 'release-1.2' });
  });

  test('config and volumes are kept as written', () => {
    const t = onlyTask('config-volumes.yaml');
    expect(t.config).toEqual({
      kubernetes: { pod_config: { spec: { runtimeClassName: 'nvidia' } }, provision_timeout: 600 },
      docker: { run_options: ['--shm-size=8g'] },
    });
    expect(t.volumes).toEqual({ '/mnt/data': 'team-data-pvc' });
  });
});

/** fixture → [line, field, effect ('refuse-jobs': managed jobs only), part of the message] of each notice, in file order. */
const NOTICES: Record<string, Array<[number, string, string, string]>> = {
  'accelerator-args-gpu.yaml': [[4, 'resources.accelerator_args', 'warn', 'ignored: accelerator_args only apply to TPUs']],
  'accelerator-args.yaml': [[3, 'resources.accelerators', 'refuse', "'tpu-v4-8' is a TPU; Petrel launches no TPUs yet (neither GCP TPU VMs nor GKE TPU node pools)"]],
  'bad-name.yaml': [[2, 'name', 'refuse', "'my training job' is not a valid name"]],
  'config-sections.yaml': [[12, 'config.hooks', 'refuse', 'lifecycle hooks (config.hooks) are not supported by Petrel yet']],
  'config-unknown-key.yaml': [[3, 'config.aws', 'refuse', "'aws' is not a config section a task may override"]],
  'empty-document.yaml': [[3, '', 'warn', 'document 2 is empty and is skipped']],
  'env-list-value.yaml': [[3, 'envs.PATHS', 'warn', 'a list or mapping becomes its Python text']],
  'envs-in-file-mounts.yaml': [],
  'envs-secrets-substitution.yaml': [],
  'envs-unset-in-file-mounts.yaml': [
    [10, "file_mounts['/data/$DATASET']", 'refuse', '$DATASET is not set; declare it under envs or pass --env DATASET=VALUE'],
  ],
  'event-callback.yaml': [[3, 'event_callback', 'refuse', 'job status callbacks (event_callback) are not supported by Petrel yet']],
  'file-mount-trailing-slash.yaml': [[4, "file_mounts['/models/']", 'refuse', "remote path '/models/' ends with '/'"]],
  'file-mounts.yaml': [[4, "file_mounts['/models']", 'refuse', 'several sources for one mount are not supported by Petrel yet']],
  'inputs-outputs.yaml': [
    [2, 'inputs', 'warn', 'ignored: Petrel does not estimate egress costs'],
    [4, 'outputs', 'warn', 'ignored: Petrel does not estimate egress costs'],
  ],
  'job-recovery-mismatch.yaml': [[7, 'resources.any_of[1].job_recovery', 'refuse-jobs', 'every candidate must use the same job_recovery']],
  'job-recovery-plugin.yaml': [
    [5, 'resources.job_recovery.strategy', 'refuse', "unknown recovery strategy 'DYNAMIC_NODE_SET'"],
    [6, 'resources.job_recovery.min_nodes', 'refuse', "'min_nodes' is a setting of a SkyPilot plugin strategy"],
  ],
  'job-recovery-strategy.yaml': [[3, 'resources.job_recovery', 'refuse', "unknown recovery strategy 'RETRY_FOREVER'"]],
  'memory-ratio.yaml': [[4, 'resources.memory', 'refuse', "memory per vCPU ('4x') is only used by SkyPilot's own controllers"]],
  'pool.yaml': [[2, 'pool', 'refuse', 'job pools are not supported by Petrel yet']],
  'resources-extras.yaml': [
    [7, 'resources.autostop', 'warn', 'a negative idle time turns autostop off'],
    [8, 'resources.priority_class', 'warn', 'ignored: Kueue priority classes'],
    [9, 'resources.ephemeral_storage', 'warn', 'ignored: SkyPilot dropped ephemeral_storage; use disk_size'],
    [10, 'resources._no_missing_accel_warnings', 'warn', 'an internal SkyPilot field'],
  ],
  'resources-refused.yaml': [
    [3, 'resources.local_disk', 'refuse', 'instance-local disks (local_disk) are not supported'],
    [4, 'resources.max_hourly_cost', 'refuse', 'cannot cap the hourly cost'],
    [5, 'resources.volumes', 'refuse', 'disk volumes under resources are not supported'],
  ],
  'secrets-references.yaml': [
    [4, 'secrets[1]', 'warn', 'the scope is ignored'],
    [6, 'managed_secrets[0]', 'warn', 'pass the value with --secret NAME=VALUE'],
    [7, 'managed_secrets[1]', 'refuse', 'mounting a secret as a file (mount_path) is not supported'],
  ],
  'service.yaml': [[3, 'service', 'refuse', 'SkyServe services are not supported by Petrel yet']],
  'storage-forms.yaml': [
    [3, "file_mounts['/models/gpt2']", 'refuse', "source 'hf://openai-community/gpt2': Petrel reads buckets from s3:// and gs:// only"],
    [21, "file_mounts['/mnt/path1']", 'refuse', 'volumes are not supported by Petrel yet'],
    [26, "file_mounts['/mnt/path2']", 'refuse', 'volumes are not supported by Petrel yet'],
    [32, "file_mounts['/mnt/path3']", 'refuse', 'volumes are not supported by Petrel yet'],
  ],
  'storage-name-left-empty.yaml': [
    [4, "file_mounts['/outputs'].name", 'refuse', 'the bucket name is empty; fill in name: (e.g. name: my-bucket)'],
    [8, "file_mounts['/checkpoints'].name", 'refuse', 'the bucket name is empty'],
  ],
  'storage-without-name.yaml': [
    [3, "file_mounts['/out'].name", 'refuse', 'the bucket name is empty'],
  ],
  'task-fields-internal.yaml': [
    [2, 'api_server_access', 'warn', 'ignored: Petrel has no API server credentials'],
    [3, '_metadata', 'warn', 'an internal SkyPilot field'],
    [5, 'file_mounts_mapping', 'warn', 'an internal SkyPilot field'],
  ],
  'tpu-node.yaml': [[5, 'resources.accelerators', 'refuse', "'tpu-v2-8' is a TPU"]],
  'tpu-vm.yaml': [[4, 'resources.accelerators', 'refuse', "'tpu-v2-8' is a TPU"]],
  'yaml-1.1-scalars.yaml': [[8, "file_mounts['/data']", 'refuse', 'name: my-bucket needs store: s3 or store: gcs']],
};

describe('YAMLs SkyPilot 0.14.1 accepts', () => {
  const dir = fileURLToPath(new URL('../fixtures/spec/valid/', import.meta.url));

  test.each(readdirSync(dir).sort())('%s: what Petrel will ignore or refuse at launch, each at its line', (name) => {
    const { notices } = readTaskYaml(fixtureText('valid', name), name);
    const got = notices.map((n) => [n.line, n.field, n.jobsOnly ? `${n.effect}-jobs` : n.effect]);
    expect(got).toEqual((NOTICES[name] ?? []).map(([line, field, effect]) => [line, field, effect]));
    notices.forEach((n, i) => {
      expect(n.message).toContain(NOTICES[name]![i]![3]);
      expect(n.column).toBeGreaterThan(0);
    });
  });

  test('envs are substituted into file_mounts destinations, sources, bucket names, stores and modes', () => {
    expect(onlyTask('envs-in-file-mounts.yaml').fileMounts).toEqual({
      '/checkpoint/13b': { kind: 'path', source: '~/tmp-workdir' },
      '/mydir': { kind: 'storage', name: 'skypilot-data', store: 'GCS', persistent: true, mode: 'MOUNT_CACHED' },
      '/datasets/13b': { kind: 'path', source: 's3://datasets-13b' },
    });
  });

  test('unset variables stay as written until launch', () => {
    expect(onlyTask('envs-unset-in-file-mounts.yaml').fileMounts).toEqual({
      '/outputs': { kind: 'storage', name: '$BUCKET', store: '$STORE_TYPE', persistent: true, mode: 'MOUNT' },
      '/data/$DATASET': { kind: 'path', source: './data' },
    });
  });

  test('a bucket name left empty parses', () => {
    expect(onlyTask('storage-name-left-empty.yaml').fileMounts).toEqual({
      '/outputs': { kind: 'storage', store: 'S3', persistent: true, mode: 'MOUNT' },
      '/checkpoints': { kind: 'storage', name: '', persistent: true, mode: 'MOUNT' },
    });
  });

  test('TPUs go to GCP (or GKE for GKE TPU names), as in SkyPilot; a TPU node keeps its host VM type', () => {
    expect(onlyTask('tpu-vm.yaml').resources.candidates).toEqual([req({ cloud: 'gcp', accelerators: { 'tpu-v2-8': 1 } })]);
    expect(onlyTask('tpu-node.yaml').resources.candidates).toEqual([
      req({ cloud: 'gcp', accelerators: { 'tpu-v2-8': 1 }, instanceType: 'n1-highmem-8' }),
    ]);
  });

  test('inputs/outputs, api_server_access and internal fields leave no trace in the task', () => {
    for (const name of ['inputs-outputs.yaml', 'task-fields-internal.yaml']) {
      const t = onlyTask(name);
      expect(Object.keys(t).sort()).toEqual(['config', 'envs', 'fileMounts', 'numNodes', 'resources', 'run', 'secrets', 'volumes']);
    }
  });

  test('storage mappings and volumes in every documented form', () => {
    const mounts = onlyTask('storage-forms.yaml').fileMounts;
    expect(mounts['/models/gpt2']).toEqual({ kind: 'storage', source: 'hf://openai-community/gpt2', store: 'HF', persistent: true, mode: 'MOUNT' });
    expect(mounts['/checkpoints']).toEqual({ kind: 'storage', name: 'my-ckpt-bucket', store: 'S3', persistent: true, mode: 'MOUNT_CACHED' });
    expect(mounts['/mnt/path1']).toEqual({ kind: 'storage', name: 'volume-name1', source: './data', store: 'VOLUME', persistent: true, mode: 'MOUNT' });
    expect(mounts['/mnt/path3']).toEqual({ kind: 'storage', store: 'VOLUME', persistent: false, mode: 'MOUNT' });
  });

  test('newer resources forms: Python floats, comma-separated ports, job_recovery none, negative autostop', () => {
    expect(onlyTask('resources-extras.yaml').resources.candidates).toEqual([
      req({ cloud: 'kubernetes', cpus: { value: 10, orMore: false }, ports: ['8000', '9000-9001'] }),
    ]);
  });

  test('secret references and managed secrets become placeholders for --secret', () => {
    expect(onlyTask('secrets-references.yaml').secrets).toEqual({ HF_TOKEN: null, WANDB_API_KEY: null, DB_PASSWORD: null, TLS_CERT: null });
  });

  test('YAML 1.1 scalars are read as PyYAML reads them', () => {
    const t = onlyTask('yaml-1.1-scalars.yaml');
    expect(t.numNodes).toBe(10);
    expect(t.resources.candidates).toEqual([req({ useSpot: true, autostop: { idleMinutes: 90, down: false }, cpus: { value: 1000, orMore: false } })]);
    expect(t.fileMounts['/data']).toMatchObject({ persistent: true });
    expect(onlyTask('use-spot-yes.yaml').resources.candidates[0]!.useSpot).toBe(true);
  });

  test('documents and headers as SkyPilot reads them', () => {
    expect(parseFixture('empty-document.yaml').tasks.map((t) => t.run)).toEqual(['echo one', 'echo two']);
    const header = parseFixture('header-only.yaml');
    expect(header.pipelineName).toBe('lonely');
    expect(header.tasks.map((t) => t.name)).toEqual(['lonely']);
  });

  test('lists in envs become Python text; memory per vCPU and unknown strategies are not kept', () => {
    expect(onlyTask('env-list-value.yaml').envs).toEqual({ PATHS: "['a', 'b']" });
    expect(onlyTask('memory-ratio.yaml').resources.candidates).toEqual([req({ cpus: { value: 8, orMore: false } })]);
    expect(onlyTask('job-recovery-strategy.yaml').resources.candidates[0]!.jobRecovery).toEqual({ maxRestartsOnErrors: 0, recoverOnExitCodes: [] });
    expect(onlyTask('infra-new-clouds.yaml').resources.candidates.map((c) => [c.cloud, c.region])).toEqual([
      ['yotta', undefined],
      ['mithril', 'us-central'],
      ['verda', undefined],
    ]);
  });
});
