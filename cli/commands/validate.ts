// `petrel validate FILE…`: check task YAMLs without running anything (for users' own CI).
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check task YAML files (schema and values) without running them')
    .argument('<files...>', 'task YAML files')
    .action(lazy(() => import('../handlers/validate.js'), 'validate'));
}
