import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deploy } from './deploy.js';
import { jobs } from './jobs.js';
import { fixtureContext, valueOf } from './test-context.js';

describe('jobs', () => {
  it('reports the last run of each recorded job', async () => {
    const samples = await jobs.collect(fixtureContext('pi4'));
    const backup = { app: 'weather-station', job: 'backup' };
    expect(valueOf(samples, 'piot_job_last_success', backup)).toBe(1);
    expect(valueOf(samples, 'piot_job_last_run_timestamp_seconds', backup)).toBe(1733886005.102);
    expect(valueOf(samples, 'piot_job_last_duration_seconds', backup)).toBe(4.7);
    expect(valueOf(samples, 'piot_job_last_exit_code', backup)).toBe(0);
    const prune = { app: 'weather-station', job: 'prune' };
    expect(valueOf(samples, 'piot_job_last_success', prune)).toBe(0);
    expect(valueOf(samples, 'piot_job_last_attempts', prune)).toBe(3);
    expect(valueOf(samples, 'piot_job_last_exit_code', prune)).toBe(1);
  });

  it('reports nothing before any job ran', async () => {
    expect(await jobs.collect(fixtureContext('vm'))).toEqual([]);
  });
});

describe('deploy', () => {
  let dir = '';
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reports the running release, bad commits and the last deploy', async () => {
    const samples = await deploy.collect(fixtureContext('pi4'));
    const app = 'weather-station';
    expect(
      valueOf(samples, 'piot_deploy_info', {
        app,
        commit: '4e1c0b7a9d2f3e5c6b8a7d9e0f1a2b3c4d5e6f70',
      }),
    ).toBe(1);
    expect(valueOf(samples, 'piot_deploy_bad_commits', { app })).toBe(1);
    expect(valueOf(samples, 'piot_deploy_pending', { app })).toBe(0);
    expect(valueOf(samples, 'piot_deploy_last_success', { app })).toBe(1);
    expect(valueOf(samples, 'piot_deploy_last_timestamp_seconds')).toBe(1733910087.318);
    expect(valueOf(samples, 'piot_deploy_last_info', { kind: 'succeeded' })).toBe(1);
  });

  it('treats a device without a state file as one that deployed nothing', async () => {
    const samples = await deploy.collect(fixtureContext('vm'));
    expect(samples.map((s) => [s.name, s.value])).toEqual([
      ['piot_deploy_bad_commits', 0],
      ['piot_deploy_pending', 0],
    ]);
  });

  it('reads the state file again once it was replaced, even by one of the same size', async () => {
    dir = await mkdtemp(join(tmpdir(), 'piot-state-'));
    const stateFile = join(dir, 'state.json');
    const ctx = fixtureContext('vm', { stateFile });
    const running = async () =>
      (await deploy.collect(ctx)).find((s) => s.name === 'piot_deploy_info')?.labels?.commit;
    const write = async (current: string) => {
      await writeFile(`${stateFile}.new`, JSON.stringify({ version: 1, app: 'a', current }));
      await rename(`${stateFile}.new`, stateFile);
    };
    await write('a'.repeat(40));
    expect(await running()).toBe('a'.repeat(40));
    expect(await running()).toBe('a'.repeat(40));
    await write('b'.repeat(40));
    expect(await running()).toBe('b'.repeat(40));
    await rm(stateFile);
    expect(await running()).toBeUndefined();
  });

  it('fails on a damaged state file and leaves it where it is', async () => {
    dir = await mkdtemp(join(tmpdir(), 'piot-state-'));
    const stateFile = join(dir, 'state.json');
    await writeFile(stateFile, '{"version": 1, "badCommits": 3}');
    await expect(
      (async () => deploy.collect(fixtureContext('vm', { stateFile })))(),
    ).rejects.toThrow(/not a valid state/);
    expect(await readdir(dir)).toEqual(['state.json']);
  });
});
