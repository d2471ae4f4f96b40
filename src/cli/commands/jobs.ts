import type { Command } from 'commander';
import { join } from 'node:path';
import {
  describeRun,
  JOBS_DIR,
  readRuns,
  recordRun,
  runJobNow,
  summarizeRun,
} from '../../agent/jobs.js';
import { releaseConfigOnDisk } from '../../agent/release.js';
import { loadState } from '../../agent/state.js';
import { appPaths, unitName } from '../../agent/units.js';
import { UserError } from '../../errors.js';
import type { JobSpec } from '../../spec/schema.js';
import { invocationJournal, timerNext } from '../../sys/jobs-host.js';
import { createSystemd } from '../../sys/systemd.js';
import { colors, type CliContext } from '../context.js';

const STATE = '/var/lib/piot/state.json';

/** The running release's jobs (name → spec) and its app, from the state file. */
async function runningJobs(
  statePath: string,
): Promise<{ app: string; jobs: Record<string, JobSpec> }> {
  const state = await loadState(statePath);
  if (!state.app || !state.current) throw new UserError('no release is running on this device yet');
  const config = await releaseConfigOnDisk(
    join(appPaths(state.app).appDir, 'releases', state.current),
  );
  if (!config.ok)
    throw new UserError(
      `the running release's .piot.yaml cannot be read: ${config.problems.join('; ')}`,
    );
  return { app: state.app, jobs: config.spec.jobs ?? {} };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records the run that just ended; called by the job's unit (ExecStopPost=, as root). */
async function jobDone(app: string, job: string, env: NodeJS.ProcessEnv): Promise<void> {
  const ended = Date.now();
  let lines = env.INVOCATION_ID ? await invocationJournal(env.INVOCATION_ID) : [];
  // journald may still be storing the runner's last lines: give it a moment.
  for (
    let i = 0;
    i < 10 && !/^piot-job: attempt \d+ (succeeded|failed|timed out)/.test(lines.at(-1)?.text ?? '');
    i++
  ) {
    if (env.SERVICE_RESULT === 'timeout' || env.EXIT_CODE === 'killed') break;
    await sleep(100);
    lines = await invocationJournal(env.INVOCATION_ID ?? '');
  }
  await recordRun(env.PIOT_JOBS_DIR ?? JOBS_DIR, app, job, summarizeRun(lines, env, ended));
}

export function registerJobs(program: Command, ctx: CliContext): void {
  program
    .command('job-done', { hidden: true })
    .description("record a job's run (run by its unit's ExecStopPost=)")
    .argument('<app>')
    .argument('<job>')
    .action((app: string, job: string) => jobDone(app, job, process.env));

  program
    .command('jobs')
    .description("this device's jobs: schedule, next run, last run and its result")
    .argument('[job]', 'one job: its recent runs with their output')
    .option('--state <file>', 'the state file', STATE)
    .option('--json', 'print as JSON (with the last 20 runs of each job)')
    .addHelpText('after', '\nExamples:\n  piot jobs\n  piot jobs backup --json')
    .action(async (only: string | undefined, options: { state: string; json?: boolean }) => {
      const c = colors(ctx);
      const { app, jobs } = await runningJobs(options.state);
      if (only && !jobs[only])
        throw new UserError(`no job ${only} in app ${app}`, {
          hint: `jobs: ${Object.keys(jobs).join(', ') || 'none'}`,
        });
      const list = [];
      for (const [name, spec] of Object.entries(jobs)) {
        if (only && name !== only) continue;
        const runs = await readRuns(JOBS_DIR, app, name);
        const next = spec.schedule ? await timerNext(unitName(app, name, 'timer')) : undefined;
        list.push({
          name,
          schedule: spec.schedule ?? null,
          once: spec.once ?? null,
          next: next ? new Date(next).toISOString() : null,
          last: runs.at(-1) ?? null,
          runs,
        });
      }
      if (options.json) {
        ctx.out(`${JSON.stringify({ app, jobs: list }, null, 2)}\n`);
        return;
      }
      if (list.length === 0) ctx.out(`app ${app} has no jobs for this device\n`);
      for (const job of list) {
        const when = job.schedule ? `schedule ${job.schedule}` : `once: ${job.once}`;
        const mark = job.last?.status === 'succeeded' ? c.green('✔') : job.last ? c.red('✖') : '·';
        ctx.out(
          `${mark} ${c.bold(job.name)}  ${when}${job.next ? `, next ${job.next}` : ''}\n    last: ${describeRun(job.last ?? undefined)}\n`,
        );
        if (only) for (const line of job.last?.log ?? []) ctx.out(`    | ${line}\n`);
      }
    });

  program
    .command('run')
    .description('run a job now and wait for it; exits 1 when it fails')
    .argument('<job>', 'the job, as named in .piot.yaml')
    .option('--state <file>', 'the state file', STATE)
    .option('--json', 'print the run as JSON')
    .addHelpText('after', '\nExamples:\n  piot run backup')
    .action(async (job: string, options: { state: string; json?: boolean }) => {
      const { app, jobs } = await runningJobs(options.state);
      if (!jobs[job])
        throw new UserError(`no job ${job} in app ${app}`, {
          hint: `jobs: ${Object.keys(jobs).join(', ') || 'none'}`,
        });
      const { ok, run } = await runJobNow(createSystemd(), app, job);
      if (options.json) ctx.out(`${JSON.stringify(run ?? null, null, 2)}\n`);
      else {
        ctx.out(`${job}: ${describeRun(run)}\n`);
        for (const line of run?.log.slice(-5) ?? []) ctx.out(`    | ${line}\n`);
      }
      if (!ok)
        throw new UserError(`job ${job} did not succeed`, {
          hint: `piot jobs ${job} shows its output`,
          exitCode: 1,
        });
    });
}
