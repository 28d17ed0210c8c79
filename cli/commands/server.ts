// `petrel server start|stop|status` and `petrel worker`: the embedded Temporal server and worker.
import type { Command } from 'commander';
import { action, lazy } from '../command.js';

export function registerServer(program: Command): void {
  const server = program.command('server').description('manage the embedded Temporal dev server and Petrel worker');
  server.command('start').description('start the server and a worker in the background').action(lazy(() => import('../handlers/server.js'), 'start'));
  server.command('stop').description('stop the worker and the server (workflows are kept)').action(lazy(() => import('../handlers/server.js'), 'stop'));
  server.command('status').description('addresses, PIDs and whether the worker is polling').option('--json', 'machine-readable output').action(lazy(() => import('../handlers/server.js'), 'status'));
  program
    .command('worker')
    .description('run a Petrel worker in the foreground (next to an existing Temporal cluster)')
    .action(action(async () => {
      const { runWorker } = await import('../../workers/worker.js');
      await runWorker();
    }));
}
