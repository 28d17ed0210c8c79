// The `petrel` command.
import { Command } from 'commander';
import { handlerModules } from './command.js';
import { registerCancel } from './commands/cancel.js';
import { registerCheck } from './commands/check.js';
import { registerShowGpus } from './commands/show-gpus.js';
import { registerCodec } from './commands/codec.js';
import { registerCostReport } from './commands/cost-report.js';
import { registerDebug } from './commands/debug.js';
import { registerDown } from './commands/down.js';
import { registerExec } from './commands/exec.js';
import { registerJobs } from './commands/jobs.js';
import { registerLaunch } from './commands/launch.js';
import { registerLogs } from './commands/logs.js';
import { registerQueue } from './commands/queue.js';
import { registerServer } from './commands/server.js';
import { registerStatus } from './commands/status.js';
import { registerUi } from './commands/ui.js';
import { registerValidate } from './commands/validate.js';
import { clientModules } from './context.js';

// `petrel … | head` closes stdout early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('petrel')
  .description('Run AI jobs on any infrastructure; every launch is a durable Temporal workflow.')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str.startsWith('error:') ? `petrel: ${str.slice(7)}` : str) });

for (const register of [registerLaunch, registerExec, registerJobs, registerStatus, registerQueue, registerLogs, registerCancel, registerDown, registerCheck, registerShowGpus, registerCostReport, registerValidate, registerServer, registerUi, registerCodec, registerDebug]) {
  register(program);
}

// No top-level await: the bundled CLI is CommonJS (cli/build-bundle.ts). A rejection still ends
// the process with its stack and exit code 1, as an awaited one would.
if (process.env.PETREL_CODE_CACHE === 'write') {
  // The build making the bundle's code cache: load every module a command may need, run none.
  void Promise.all([...handlerModules, ...clientModules].map((load) => load()));
} else {
  void program.parseAsync(process.argv);
}
