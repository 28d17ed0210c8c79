// `petrel debug …`: rehearse failures on local clusters.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerDebug(program: Command): void {
  const debug = program.command('debug').description('tools for rehearsing failures on local clusters');
  debug
    .command('preempt')
    .description("kill a node's processes and mark it gone, as a cloud reclaiming a spot machine would")
    .argument('[cluster]', 'cluster name')
    .option("--job <id>", "the running cluster of this managed job instead (ID/TASK: a pipeline's step; a pipeline's ID: its running step)")
    .option('--node <rank>', 'only this node (default: all)', (v) => Number(v))
    .action(lazy(() => import('../handlers/debug.js'), 'preempt'));
  debug
    .command('unreachable')
    .description('make nodes stop answering for a while (their processes keep running), as a network blip would')
    .argument('[cluster]', 'cluster name')
    .option('--job <id>', 'the running cluster of this managed job instead')
    .option('--node <rank>', 'only this node (default: all)', (v) => Number(v))
    .option('--seconds <s>', 'how long', (v) => Number(v), 10)
    .action(lazy(() => import('../handlers/debug.js'), 'unreachable'));
}
