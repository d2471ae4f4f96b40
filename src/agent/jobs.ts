import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../sys/fs.js';
import type { JournalLine } from '../sys/jobs-host.js';
import type { Systemd } from '../sys/systemd.js';
import { isoTime } from '../sys/time.js';
import { unitName } from './units.js';

/** Where job runs are kept: one file per job, the last RUNS_KEPT runs. */
export const JOBS_DIR = '/var/lib/piot/jobs';
export const RUNS_KEPT = 20;
const LOG_LINES = 20;

const jobRun = z.object({
  start: z.string(),
  end: z.string(),
  seconds: z.number(),
  status: z.enum(['succeeded', 'failed', 'timed-out', 'killed']),
  exitCode: z.number().optional(),
  attempts: z.number(),
  /** The tail of the run's output from the journal. */
  log: z.array(z.string()),
});

/** One run of a job, as `piot jobs` shows it and the hub receives it. */
export type JobRun = z.output<typeof jobRun>;

/** What systemd tells ExecStopPost= about the run that just ended. */
export interface StopEnv {
  SERVICE_RESULT?: string;
  EXIT_CODE?: string;
  EXIT_STATUS?: string;
}

/** A run's outcome from systemd's verdict and the job runner's journal lines. */
export function summarizeRun(lines: JournalLine[], env: StopEnv, endedAt: number): JobRun {
  const attempts = lines.filter((l) => /^piot-job: attempt \d+ of \d+$/.test(l.text)).length;
  const exit = Number(env.EXIT_STATUS);
  let status: JobRun['status'] = 'failed';
  if (env.SERVICE_RESULT === 'success') status = 'succeeded';
  else if (env.SERVICE_RESULT === 'timeout' || (env.EXIT_CODE === 'exited' && exit === 124)) {
    status = 'timed-out';
  } else if (env.EXIT_CODE === 'killed' || env.EXIT_CODE === 'dumped') status = 'killed';
  const startedAt = lines[0]?.at ?? endedAt;
  return {
    start: isoTime(startedAt),
    end: isoTime(endedAt),
    seconds: Math.round((endedAt - startedAt) / 100) / 10,
    status,
    exitCode: env.EXIT_CODE === 'exited' && Number.isFinite(exit) ? exit : undefined,
    attempts: Math.max(attempts, 1),
    log: lines.slice(-LOG_LINES).map((l) => l.text),
  };
}

const runsFile = (dir: string, app: string, job: string) => join(dir, app, `${job}.json`);

/** The recorded runs of a job, oldest first. */
export async function readRuns(dir: string, app: string, job: string): Promise<JobRun[]> {
  try {
    const parsed = z
      .array(jobRun)
      .safeParse(JSON.parse(await readFile(runsFile(dir, app, job), 'utf8')));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

/** Appends a run to the job's history (atomically), keeping the last RUNS_KEPT. */
export async function recordRun(dir: string, app: string, job: string, run: JobRun): Promise<void> {
  const runs = [...(await readRuns(dir, app, job)), run].slice(-RUNS_KEPT);
  await writeFileAtomic(runsFile(dir, app, job), `${JSON.stringify(runs, null, 2)}\n`, {
    mode: 0o644,
  });
}

/** One line about a run: status, exit code, when it ended, how long, how many attempts. */
export function describeRun(run: JobRun | undefined): string {
  if (!run) return 'never run';
  const exit =
    run.exitCode !== undefined && run.status !== 'succeeded' ? ` (exit ${run.exitCode})` : '';
  const tries = run.attempts > 1 ? `, ${run.attempts} attempts` : '';
  return `${run.status}${exit} at ${run.end}, ${run.seconds} s${tries}`;
}

/**
 * Starts a job's unit, waits for it to end and returns its recorded run (the unit's
 * ExecStopPost= records it, which may finish a moment after `systemctl start` returns).
 */
export async function runJobNow(
  systemd: Pick<Systemd, 'runOnce'>,
  app: string,
  job: string,
  jobsDir = JOBS_DIR,
): Promise<{ ok: boolean; run?: JobRun }> {
  const started = isoTime();
  const ok = await systemd.runOnce(unitName(app, job));
  // On a slow Pi the recording process (node) alone may take seconds to start.
  for (let i = 0; i < 300; i++) {
    const last = (await readRuns(jobsDir, app, job)).at(-1);
    if (last && last.end >= started) return { ok, run: last };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ok };
}
