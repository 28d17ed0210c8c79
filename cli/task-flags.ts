// The task flags `launch` and `exec` share (they override the YAML). Kept apart from the
// task parser so that defining the CLI loads nothing heavy.
import type { Command } from 'commander';

export interface TaskFlags {
  name?: string;
  workdir?: string;
  numNodes?: string;
  env?: string[];
  secret?: string[];
  infra?: string;
  cloud?: string;
  region?: string;
  zone?: string;
  gpus?: string;
  cpus?: string;
  memory?: string;
  instanceType?: string;
  useSpot?: boolean;
  diskSize?: string;
  diskTier?: string;
  ports?: string[];
  imageId?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addTaskFlags(cmd: Command): Command {
  return cmd
    .option('-n, --name <name>', 'task name')
    .option('--workdir <dir>', 'directory synced to every node (~/sky_workdir)')
    .option('--num-nodes <n>', 'number of nodes')
    .option('--env <KEY=VALUE>', 'environment variable; KEY alone takes it from your environment (repeatable)', collect)
    .option('--secret <KEY=VALUE>', 'secret env var, never logged (repeatable)', collect)
    .option('--infra <infra>', 'where to run: local, local/<region>, ssh/<pool>, aws/<region>, ...')
    .option('--cloud <cloud>', 'legacy form of --infra')
    .option('--region <region>', 'legacy form of --infra')
    .option('--zone <zone>', 'legacy form of --infra')
    .option('--gpus <spec>', 'accelerators, e.g. A100:8')
    .option('--cpus <n>', 'vCPUs per node: 4 or 4+')
    .option('--memory <gb>', 'memory per node in GB: 16 or 16+')
    .option('-t, --instance-type <type>', 'instance type')
    .option('--use-spot', 'use spot instances')
    .option('--no-use-spot', 'use on-demand instances')
    .option('--disk-size <gb>', 'OS disk size in GB')
    .option('--disk-tier <tier>', 'low|medium|high|ultra|best')
    .option('--ports <ports>', 'ports to open (repeatable)', collect)
    .option('--image-id <image>', 'machine or container image');
}
