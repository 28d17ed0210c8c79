import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { defaultResourceRequest, type ResourceRequest } from '../../core/task.js';
import { onlyTask, parseFixture } from './helpers.js';

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
