// Detached jobs on a Slurm node, with the same contract as local and SSH nodes (pid, exit code,
// logs, a cancel records 143, starting a key twice attaches): each is one Slurm job step,
// `srun --overlap --jobid=<allocation> --nodelist=<node>`, whose srun client runs detached on the
// login host. The step's process tree is Slurm's to track (proctrack/cgroup on real sites kills
// anything that escapes a step), so the job runs in the step's foreground, never daemonized.
//
// The job directory `<node dir>/.petrel/jobs/<key>/` lives on the home the login host and the
// nodes share, so the login host reads every answer with the SSH provider's shell functions:
//   pid        the launcher on the login host (a process-group leader running srun): alive =
//              the step is running or starting. It dies with the step, whatever ends it.
//   exit_code  written on the node by the wrapper, and — in case the node's write is not yet
//              visible through NFS's attribute cache — by the launcher from the wrapper's own
//              `petrel:exit N` line on srun's stdout.
//   step       `<allocation>.<step>`, written by the wrapper: what a signal goes to.
//   output.log the job's stdout and stderr; srun.log is srun's own complaints.
import { JOBS_SUBDIR, SIGNAL_SCRIPT, startScript } from '../ssh/jobs.js';

export { JOBS_SUBDIR };

/**
 * On the node, as the step's task. $1 = job dir, $2 = working directory. The step's own task
 * variables (rank 0 of 1 task) would mislead launchers that read SLURM_PROCID or SLURM_NTASKS
 * (PyTorch Lightning, submitit): a Petrel node is one rank of the whole cluster, whose rank and
 * size the job's PETREL_/SKYPILOT_ variables carry. The allocation's own variables stay.
 */
export const NODE_WRAPPER = [
  'cd "$1" || exit 1',
  'printf "%s.%s" "$SLURM_JOB_ID" "$SLURM_STEP_ID" > step.tmp && mv step.tmp step',
  'echo $$ > node_pid.tmp && mv node_pid.tmp node_pid',
  'for v in $(compgen -e); do case $v in SLURM_STEP*|SLURM_PROCID|SLURM_LOCALID|SLURM_NODEID|SLURM_NTASKS|SLURM_NPROCS|SLURM_NNODES|SLURM_TASK_PID|SLURM_TASKS_PER_NODE|SLURM_LAUNCH_NODE_IPADDR|SLURM_SRUN_COMM_*|SLURM_STEPID|SLURM_DISTRIBUTION|SLURM_CPU_BIND*|SLURM_UMASK) unset "$v";; esac; done',
  "trap 'petrel_signalled=1' TERM INT HUP",
  '( . ./env.sh && rm -f ./env.sh && cd "$2" && exec bash "$1/script.sh" ) >>output.log 2>&1 </dev/null',
  'code=$?',
  'printf %s "$code" > exit_code.tmp && mv exit_code.tmp exit_code',
  'echo "petrel:exit $code"',
].join('\n');

/**
 * On the login host, detached: runs the step and outlives the worker. $1 = job dir, $2 = working
 * directory, $3 = allocation id, $4 = node name, $5 = step name, $6 = NODE_WRAPPER. Traps the
 * signals it forwards (srun passes TERM/INT on to the step) so it can still record the exit.
 */
export const LAUNCHER = [
  'cd "$1" || exit 1',
  'echo $$ > pid.tmp && mv pid.tmp pid',
  "trap 'petrel_signalled=1' TERM INT HUP",
  'srun --overlap --jobid="$3" --nodelist="$4" --nodes=1 --ntasks=1 --job-name="$5" --quiet bash -c "$6" petrel-job "$1" "$2" </dev/null >srun.out 2>>srun.log',
  'echo $? > srun_exit',
  '[ -f exit_code ] && exit 0',
  'code=$(sed -n "s/^petrel:exit //p" srun.out | tail -n 1)',
  '[ -n "$code" ] && printf %s "$code" > exit_code.tmp && mv exit_code.tmp exit_code',
  'exit 0',
].join('\n');

/**
 * On the login host: startScript's $1–$4, then $5 = allocation id, $6 = node name, $7 = step
 * name, $8 = LAUNCHER, $9 = NODE_WRAPPER.
 */
export const START_STEP_SCRIPT = startScript(['setsid bash -c "$8" petrel-launch "$j" "$cwd" "$5" "$6" "$7" "$9" </dev/null >>srun.log 2>&1 &']);

/**
 * On the login host. $1 = job dir, $2 = signal name without SIG. To the step through Slurm,
 * which signals every process of it on its node; before the step has recorded itself, to the
 * launcher, whose srun forwards it. A KILL also goes to the launcher: a SIGKILLed srun has
 * Slurm end its step, whatever the node still runs.
 */
export const SIGNAL_STEP_SCRIPT = [
  '[ -f "$1/exit_code" ] && exit 0',
  'step=',
  '[ -f "$1/step" ] && read -r step < "$1/step"',
  // scancel's exit code says nothing here: signalling a step that spans fewer nodes than its
  // allocation delivers the signal and still reports "Invalid job id specified".
  'case $step in *.*[0-9]) scancel --quiet --signal="$2" -- "$step" 2>/dev/null; [ "$2" = KILL ] || exit 0;; esac',
  // else (and for a KILL) the launcher's process group, as an SSH job's
  SIGNAL_SCRIPT,
].join('\n');
