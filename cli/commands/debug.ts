// `petrel debug preempt CLUSTER [--node R]`: reclaim nodes the way a cloud takes back spot
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerDebug(program: Command): void {
  const debug = program.command('debug').description('tools for rehearsing failures');
  debug
    .command('preempt')
    .description("kill a node's processes and mark it gone, as a cloud reclaiming it would")
    .argument('<cluster>', 'cluster name')
    .option('--node <rank>', 'only this node (default: all)', (v) => Number(v))
    .action(lazy(() => import('../handlers/debug.js'), 'preempt'));
}
