// `petrel show-gpus`: the accelerators the infrastructure has, as a worker sees it.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerShowGpus(program: Command): void {
  program
    .command('show-gpus')
    .description('list the accelerators of Kubernetes contexts and Slurm partitions: free, total, nodes')
    .argument('[accelerator]', 'only this one (A100, A100-80GB, H100, …)')
    .option('--infra <infra>', 'only this infra: k8s[/CONTEXT], slurm[/CLUSTER[/PARTITION]]')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/show-gpus.js'), 'showGpus'));
}
