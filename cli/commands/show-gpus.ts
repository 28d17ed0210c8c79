// `petrel show-gpus`: the accelerators the clouds sell (with prices) and the clusters have.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerShowGpus(program: Command): void {
  program
    .command('show-gpus')
    .description('list accelerators: on AWS and GCP with prices per region (from the catalog), on Kubernetes contexts and Slurm partitions free/total')
    .argument('[accelerator]', 'only this one (A100, A100-80GB, H100, …)')
    .option('--infra <infra>', 'only this infra: aws[/REGION], gcp[/REGION], k8s[/CONTEXT], slurm[/CLUSTER[/PARTITION]]')
    .option('--all-regions', 'clouds: every region, not only the cheapest')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/show-gpus.js'), 'showGpus'));
}
