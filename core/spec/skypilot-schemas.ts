// SkyPilot 0.14.1's JSON schemas (sky/utils/schemas.py) for the task-YAML sections that Petrel
// accepts as SkyPilot does but checks only for shape: the task `config:` block, `service:` (and
// the pool spec inside it), a storage mount's `config:` and `type:`, `resources.volumes`,
// `resources.accelerator_args`, `managed_secrets`, `volume_mounts` and `inputs`/`outputs`.
// Transcribed (client-side variants: unknown config sections pass through, as on SkyPilot's
// client); keep in step with SkyPilot when its schema changes.
import type { JsonSchema } from './json-schema.js';

export const TASK_CONFIG: JsonSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    docker: {
      type: 'object',
      additionalProperties: false,
      properties: { run_options: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } },
    },
    nvidia_gpus: { type: 'object', additionalProperties: false, properties: { disable_ecc: { type: 'boolean' } } },
    active_workspace: { type: 'string' },
    gcp: {
      type: 'object',
      additionalProperties: false,
      properties: {
        managed_instance_group: {
          type: 'object',
          required: ['run_duration'],
          additionalProperties: false,
          properties: { run_duration: { type: 'integer' }, provision_timeout: { type: 'integer' } },
        },
        enable_gvnic: { type: 'boolean' },
        enable_gpu_direct: { type: 'boolean' },
        placement_policy: { type: 'string' },
        vpc_name: { oneOf: [{ type: 'string', pattern: '^(?:[-a-z0-9]+/)?[-a-z0-9]+$' }, { type: 'null' }] },
        subnet_names: { oneOf: [{ type: 'string' }, { type: 'null' }, { type: 'array', items: { type: 'string' } }] },
      },
    },
    azure: {
      type: 'object',
      additionalProperties: false,
      properties: {
        vpc_name: { oneOf: [{ type: 'string' }, { type: 'null' }] },
        remote_identity: {
          oneOf: [
            { type: 'string', minLength: 1 },
            {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: { type: 'string', minLength: 1 },
                maxProperties: 1,
                minProperties: 1,
              },
            },
          ],
        },
      },
    },
    kubernetes: {
      type: 'object',
      additionalProperties: true,
      properties: {
        pod_config: { type: 'object', required: [], additionalProperties: true },
        provision_timeout: { type: 'integer' },
        custom_metadata: {
          type: 'object',
          required: [],
          additionalProperties: true,
          not: { anyOf: [{ required: ['name'] }, { required: ['namespace'] }] },
        },
        kueue: {
          type: 'object',
          required: [],
          additionalProperties: false,
          properties: { local_queue_name: { type: 'string' }, admission_timeout: { type: 'integer' } },
        },
        quota: {
          type: 'object',
          required: [],
          additionalProperties: true,
          properties: { queue: { type: 'string' } },
        },
        dws: {
          type: 'object',
          required: [],
          additionalProperties: false,
          properties: {
            enabled: { type: 'boolean' },
            max_run_duration: { anyOf: [{ type: 'string', pattern: '^[0-9]+(m|h|d|w|M|H|D|W)?$' }, { type: 'integer' }] },
          },
        },
        remote_identity: { anyOf: [{ type: 'string' }, { type: 'object', additionalProperties: { type: 'string' } }] },
        set_pod_resource_limits: { oneOf: [{ type: 'boolean' }, { type: 'number', minimum: 1 }] },
        enable_docker: {
          oneOf: [
            { type: 'boolean' },
            { type: 'string', enum: ['ALL', 'BUILD'] },
            {
              type: 'object',
              required: ['mode'],
              additionalProperties: false,
              properties: { mode: { type: 'string', enum: ['ALL', 'BUILD'] }, cache_volume: { type: 'string' } },
            },
          ],
        },
      },
    },
    ssh: {
      type: 'object',
      additionalProperties: false,
      properties: {
        pod_config: { type: 'object', required: [], additionalProperties: true },
        provision_timeout: { type: 'integer' },
        custom_metadata: {
          type: 'object',
          required: [],
          additionalProperties: true,
          not: { anyOf: [{ required: ['name'] }, { required: ['namespace'] }] },
        },
      },
    },
    slurm: {
      type: 'object',
      additionalProperties: true,
      properties: {
        sbatch_options: {
          type: 'object',
          required: [],
          additionalProperties: {
            oneOf: [
              { type: 'string', pattern: '^[^\\n]*$' },
              { type: 'number' },
              { type: 'boolean' },
              { type: 'null' },
            ],
          },
        },
        quota: {
          type: 'object',
          required: [],
          additionalProperties: true,
          properties: { queue: { type: 'string', minLength: 1 }, account: { type: 'string', minLength: 1 } },
        },
        cpu_partition: { type: 'string' },
      },
    },
    vast: {
      type: 'object',
      additionalProperties: false,
      properties: { datacenter_only: { type: 'boolean' }, create_instance_kwargs: { type: 'object' } },
    },
    hooks: {
      type: 'array',
      maxItems: 32,
      items: {
        type: 'object',
        required: ['run'],
        additionalProperties: false,
        properties: {
          run: { type: 'string', minLength: 1, maxLength: 16384 },
          events: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { type: 'string', enum: ['stop', 'preemption', 'down'] },
          },
          timeout: { type: 'integer', minimum: 1 },
        },
      },
    },
  },
};

export const SERVICE: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    readiness_probe: {
      anyOf: [
        { type: 'string' },
        {
          type: 'object',
          required: ['path'],
          additionalProperties: false,
          properties: {
            path: { type: 'string' },
            initial_delay_seconds: { type: 'number' },
            timeout_seconds: { type: 'number' },
            endpoint_probe_interval_seconds: { type: 'number' },
            consecutive_failure_threshold_timeout: { type: 'number' },
            post_data: { anyOf: [{ type: 'string' }, { type: 'object' }] },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
      ],
    },
    load_balancer: {
      type: 'object',
      required: [],
      additionalProperties: false,
      properties: { stream_timeout_seconds: { type: 'number' } },
    },
    pool: {
      type: 'object',
      required: [],
      additionalProperties: false,
      properties: {
        workers: { type: 'integer', minimum: 0 },
        min_workers: { type: 'integer', minimum: 0 },
        queue_length_threshold: { type: 'integer', minimum: 1 },
        max_workers: { type: 'integer', minimum: 0 },
        upscale_delay_seconds: { type: 'number', minimum: 0 },
        downscale_delay_seconds: { type: 'number', minimum: 0 },
      },
    },
    replica_policy: {
      type: 'object',
      required: ['min_replicas'],
      additionalProperties: false,
      properties: {
        min_replicas: { type: 'integer', minimum: 0 },
        max_replicas: { type: 'integer', minimum: 0 },
        num_overprovision: { type: 'integer', minimum: 0 },
        target_qps_per_replica: {
          anyOf: [
            { type: 'number', minimum: 0 },
            {
              type: 'object',
              patternProperties: { '^[A-Z0-9]+(?::[0-9]+)?$': { type: 'number', minimum: 0 } },
              additionalProperties: false,
            },
          ],
        },
        dynamic_ondemand_fallback: { type: 'boolean' },
        base_ondemand_fallback_replicas: { type: 'integer', minimum: 0 },
        spot_placer: { type: 'string', case_insensitive_enum: ['dynamic_fallback'] },
        upscale_delay_seconds: { type: 'number' },
        downscale_delay_seconds: { type: 'number' },
      },
    },
    ports: { type: 'integer' },
    replicas: { type: 'integer' },
    workers: { type: 'integer' },
    load_balancing_policy: { type: 'string', case_insensitive_enum: ['round_robin', 'least_load', 'instance_aware_least_load'] },
    tls: {
      type: 'object',
      required: ['keyfile', 'certfile'],
      additionalProperties: false,
      properties: { keyfile: { type: 'string' }, certfile: { type: 'string' } },
    },
  },
};

export const STORAGE_CONFIG: JsonSchema = {
  type: 'object',
  properties: {
    disk_size: {
      anyOf: [
        {
          type: 'string',
          pattern: '^[0-9]+(kb|ki|mb|mi|gb|gi|tb|ti|pb|pi|KB|KI|MB|MI|GB|GI|TB|TI|PB|PI|Kb|Ki|Mb|Mi|Gb|Gi|Tb|Ti|Pb|Pi)?$',
        },
        { type: 'integer' },
      ],
    },
    disk_tier: { type: 'string' },
    storage_type: { type: 'string' },
    attach_mode: { type: 'string' },
    mount_cached: {
      type: 'object',
      additionalProperties: false,
      properties: {
        transfers: { type: 'integer', minimum: 1 },
        buffer_size: { type: 'string', pattern: '^[0-9]+(b|k|m|g|t|p|B|K|M|G|T|P)?$' },
        vfs_cache_max_size: { type: 'string', pattern: '^[0-9]+(b|k|m|g|t|p|B|K|M|G|T|P)?$' },
        vfs_cache_max_age: {
          type: 'string',
          pattern: '^(?:(?:[-+]?(?:\\d+(?:\\.\\d+)?|\\.\\d+)(?:ms|[smhdwMy]))+|([-+]?(?:\\d+(?:\\.\\d+)?|\\.\\d+)))$',
        },
        vfs_read_ahead: { type: 'string', pattern: '^[0-9]+(b|k|m|g|t|p|B|K|M|G|T|P)?$' },
        vfs_read_chunk_size: { type: 'string', pattern: '^[0-9]+(b|k|m|g|t|p|B|K|M|G|T|P)?$' },
        vfs_read_chunk_streams: { type: 'integer', minimum: 0 },
        vfs_write_back: {
          type: 'string',
          pattern: '^(?:(?:[-+]?(?:\\d+(?:\\.\\d+)?|\\.\\d+)(?:ms|[smhdwMy]))+|([-+]?(?:\\d+(?:\\.\\d+)?|\\.\\d+)))$',
        },
        read_only: { type: 'boolean' },
      },
    },
    mount: {
      type: 'object',
      additionalProperties: false,
      properties: { read_only: { type: 'boolean' }, hf_mount_args: { type: 'array', items: { type: 'string' } } },
    },
  },
};

export const STORAGE_TYPE: JsonSchema = {
  type: 'string',
  case_insensitive_enum: ['MODEL_CHECKPOINT_RO', 'MODEL_CHECKPOINT_RW', 'DATASET_RO', 'DATASET_RW'],
};

export const RESOURCE_VOLUMES: JsonSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      disk_size: {
        anyOf: [
          {
            type: 'string',
            pattern: '^[0-9]+(kb|ki|mb|mi|gb|gi|tb|ti|pb|pi|KB|KI|MB|MI|GB|GI|TB|TI|PB|PI|Kb|Ki|Mb|Mi|Gb|Gi|Tb|Ti|Pb|Pi)?$',
          },
          { type: 'integer' },
        ],
      },
      disk_tier: { type: 'string' },
      path: { type: 'string' },
      auto_delete: { type: 'boolean' },
      storage_type: { type: 'string' },
      name: { type: 'string' },
      attach_mode: { type: 'string' },
    },
  },
};

export const ACCELERATOR_ARGS: JsonSchema = {
  type: 'object',
  required: [],
  additionalProperties: false,
  properties: {
    runtime_version: { type: 'string' },
    tpu_name: { type: 'string' },
    tpu_vm: { type: 'boolean' },
    gcp_queued_resource: { type: 'boolean' },
  },
};

export const DOCKER_LOGIN_CONFIG: JsonSchema = {
  type: 'object',
  required: ['username', 'password', 'server'],
  additionalProperties: false,
  properties: { username: { type: 'string' }, password: { type: 'string' }, server: { type: 'string' } },
};

export const MANAGED_SECRETS: JsonSchema = {
  type: 'array',
  items: {
    oneOf: [
      { type: 'string' },
      {
        type: 'object',
        maxProperties: 1,
        additionalProperties: { type: 'object', properties: { mount_path: { type: 'string' } }, additionalProperties: false },
      },
    ],
  },
};

export const VOLUME_MOUNTS: JsonSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: [],
    additionalProperties: false,
    properties: {
      path: { type: 'string' },
      volume_name: { type: 'string' },
      is_ephemeral: { type: 'boolean' },
      sub_path: { type: 'string', pattern: '^[a-zA-Z0-9._-][a-zA-Z0-9./_-]*$' },
      volume_config: {
        type: 'object',
        required: [],
        additionalProperties: true,
        properties: {
          cloud: {
            type: 'string',
            case_insensitive_enum: [
              'aws',
              'azure',
              'gcp',
              'ibm',
              'lambda',
              'scp',
              'oci',
              'kubernetes',
              'runpod',
              'vast',
              'vsphere',
              'cudo',
              'fluidstack',
              'paperspace',
              'primeintellect',
              'do',
              'nebius',
              'ssh',
              'slurm',
              'hyperbolic',
              'seeweb',
              'shadeform',
              'yotta',
              'mithril',
              'verda',
            ],
          },
          region: { anyOf: [{ type: 'string' }, { type: 'null' }] },
          zone: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        },
      },
    },
  },
};

export const INPUTS_OUTPUTS: JsonSchema = { type: 'object', required: [], maxProperties: 1, additionalProperties: { type: 'number' } };
