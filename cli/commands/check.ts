// `petrel check`: which infrastructure Petrel can use here.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check which infrastructure is enabled')
    .argument('[infra...]', 'only these')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/check.js'), 'check'));
}
