import { join } from 'node:path';
import { readRuns } from '../jobs.js';
import { flag, gauge, listDir } from './read.js';
import type { Collector, Sample } from './types.js';

const success = gauge(
  'piot_job_last_success',
  'Whether the last run of a job succeeded (1) or not (0).',
);
const lastRun = gauge(
  'piot_job_last_run_timestamp_seconds',
  'When the last run of a job ended, in unixtime.',
);
const duration = gauge('piot_job_last_duration_seconds', 'How long the last run of a job took.');
const attempts = gauge('piot_job_last_attempts', 'How many attempts the last run of a job made.');
const exitCode = gauge(
  'piot_job_last_exit_code',
  'The exit code of the last run of a job, if it exited.',
);

/** The last run of each recorded job (`<jobsDir>/<app>/<job>.json`); nothing before any job ran. */
export const jobs: Collector = {
  name: 'jobs',
  async collect(ctx) {
    const samples: Sample[] = [];
    for (const app of listDir(ctx.jobsDir, /^[^.]/)) {
      // Hidden .json files are writeFileAtomic's temporaries.
      for (const file of listDir(join(ctx.jobsDir, app), /^[^.].*\.json$/)) {
        const job = file.slice(0, -'.json'.length);
        const last = (await readRuns(ctx.jobsDir, app, job)).at(-1);
        if (!last) continue;
        const labels = { app, job };
        samples.push(
          success(flag(last.status === 'succeeded'), labels),
          lastRun(Date.parse(last.end) / 1000, labels),
          duration(last.seconds, labels),
          attempts(last.attempts, labels),
        );
        if (last.exitCode !== undefined) samples.push(exitCode(last.exitCode, labels));
      }
    }
    return samples;
  },
};
