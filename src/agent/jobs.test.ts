import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRuns, recordRun, RUNS_KEPT, summarizeRun } from './jobs.js';

const line = (at: number, text: string) => ({ at, text });

describe('job runs', () => {
  it('reads attempts, outcome and duration from the runner lines and systemd verdict', () => {
    const lines = [
      line(1_000, 'piot-job: attempt 1 of 3'),
      line(1_100, 'boom'),
      line(1_200, 'piot-job: attempt 1 failed (exit 2)'),
      line(3_200, 'piot-job: attempt 2 of 3'),
      line(3_300, 'piot-job: attempt 2 failed (exit 2)'),
      line(7_300, 'piot-job: attempt 3 of 3'),
      line(7_400, 'piot-job: attempt 3 succeeded'),
    ];
    expect(
      summarizeRun(
        lines,
        { SERVICE_RESULT: 'success', EXIT_CODE: 'exited', EXIT_STATUS: '0' },
        7_500,
      ),
    ).toEqual({
      start: new Date(1_000).toISOString(),
      end: new Date(7_500).toISOString(),
      seconds: 6.5,
      status: 'succeeded',
      exitCode: 0,
      attempts: 3,
      log: lines.map((l) => l.text),
    });
    const failed = summarizeRun(
      lines.slice(0, 3),
      { SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: '2' },
      1_300,
    );
    expect(failed).toMatchObject({ status: 'failed', exitCode: 2, attempts: 1 });
    const timedOut = summarizeRun(
      [
        line(0, 'piot-job: attempt 1 of 1'),
        line(30_000, 'piot-job: attempt 1 timed out after 30s'),
      ],
      { SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: '124' },
      30_100,
    );
    expect(timedOut).toMatchObject({ status: 'timed-out', exitCode: 124, seconds: 30.1 });
    expect(
      summarizeRun([], { SERVICE_RESULT: 'signal', EXIT_CODE: 'killed', EXIT_STATUS: 'KILL' }, 5)
        .status,
    ).toBe('killed');
  });

  it(`keeps the last ${RUNS_KEPT} runs of each job, oldest first`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-jobs-'));
    for (let i = 0; i < RUNS_KEPT + 5; i++) {
      await recordRun(
        dir,
        'app',
        'backup',
        summarizeRun([line(i, `run ${i}`)], { SERVICE_RESULT: 'success' }, i + 1),
      );
    }
    const runs = await readRuns(dir, 'app', 'backup');
    expect(runs).toHaveLength(RUNS_KEPT);
    expect(runs[0]!.log).toEqual(['run 5']);
    expect(runs.at(-1)!.log).toEqual([`run ${RUNS_KEPT + 4}`]);
    expect(await readRuns(dir, 'app', 'other')).toEqual([]);
  });
});
