import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../sys/package-root.js';
import { devicePayload, DEVICE_PATHS, FIRST_BOOT_UNITS } from './payload.js';

const root = packageRoot();
const payload = devicePayload();
const source = (path: string) => payload.find((f) => f.path === path)!.source;

describe('the device payload', () => {
  it('installs the agent bundle, the bootstrap, the job runner, the piot command and both units at their device paths', () => {
    expect(payload.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ['/usr/lib/piot/piot-agent.mjs', '644'],
      ['/usr/lib/piot/piot-bootstrap.sh', '755'],
      ['/usr/lib/piot/piot-job', '755'],
      ['/usr/local/bin/piot', '755'],
      ['/usr/lib/systemd/system/piot-bootstrap.service', '644'],
      ['/usr/lib/systemd/system/piot-agent.service', '644'],
    ]);
    for (const f of payload) expect(statSync(f.source).size, f.source).toBeGreaterThan(0);
    expect(FIRST_BOOT_UNITS).toEqual(['piot-bootstrap.service']);
  });

  it('ships in the npm package ("files" in package.json covers every source)', () => {
    const files = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }
    ).files;
    for (const f of payload) {
      const path = relative(root, f.source);
      expect(
        files.some((entry) => path === entry || path.startsWith(`${entry}/`)),
        path,
      ).toBe(true);
    }
  });

  it('points the units and the piot command at the installed paths', () => {
    const bootstrap = readFileSync(source(DEVICE_PATHS.bootstrapUnit), 'utf8');
    expect(bootstrap).toContain(`ExecStart=${DEVICE_PATHS.bootstrap}\n`);
    expect(bootstrap).toContain(`ConditionPathExists=!${DEVICE_PATHS.bootstrapped}\n`);
    expect(readFileSync(source(DEVICE_PATHS.agentUnit), 'utf8')).toContain(
      `ExecStart=/usr/bin/node --max-semi-space-size=1 --optimize-for-size --jitless --no-expose-wasm --v8-pool-size=1 ${DEVICE_PATHS.agent} agent\n`,
    );
    expect(readFileSync(source(DEVICE_PATHS.command), 'utf8')).toContain(
      `exec /usr/bin/node ${DEVICE_PATHS.agent} "$@"\n`,
    );
    expect(readFileSync(source(DEVICE_PATHS.bootstrap), 'utf8')).toMatch(
      /^PIOT=\$\{PIOT_COMMAND:-\/usr\/local\/bin\/piot\}$/m,
    );
  });

  it('units pass systemd-analyze verify', () => {
    // verify checks that ExecStart= programs exist: install them in a temp tree and point there.
    const dir = mkdtempSync(join(tmpdir(), 'piot-payload-'));
    const installed = (path: string) => join(dir, basename(path));
    for (const f of payload) {
      if (f.path.endsWith('.service')) continue;
      writeFileSync(installed(f.path), readFileSync(f.source));
      chmodSync(installed(f.path), f.mode);
    }
    const units = payload
      .filter((f) => f.path.endsWith('.service'))
      .map((f) => {
        const text = readFileSync(f.source, 'utf8')
          .replaceAll('/usr/bin/node', process.execPath)
          .replaceAll(DEVICE_PATHS.agent, installed(DEVICE_PATHS.agent))
          .replaceAll(DEVICE_PATHS.bootstrap, installed(DEVICE_PATHS.bootstrap));
        writeFileSync(join(dir, basename(f.path)), text);
        return join(dir, basename(f.path));
      });
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], {
      encoding: 'utf8',
    });
    // network-online.target pulls in units this host (a container) may lack.
    const complaints = result.stderr
      .split('\n')
      .filter((line) => line.trim() && !/network-online|Failed to create/.test(line));
    expect(complaints).toEqual([]);
    expect(result.status).toBe(0);
  });
});

describe('the job runner (piot-job)', () => {
  const runner = source(DEVICE_PATHS.jobRunner);
  const job = (...args: string[]) => spawnSync('sh', [runner, ...args], { encoding: 'utf8' });

  it('retries a failing command with a pause, and exits with its last status', () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-job-'));
    // Fails on the first attempt, succeeds on the second.
    const flaky = `n=$(cat ${dir}/n 2>/dev/null || echo 0); echo $((n+1)) > ${dir}/n; [ $n -ge 1 ]`;
    const ok = job('2', '0', 'sh', '-c', flaky);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(
      'piot-job: attempt 1 of 3\npiot-job: attempt 1 failed (exit 1)\npiot-job: retrying in 2s\n' +
        'piot-job: attempt 2 of 3\npiot-job: attempt 2 succeeded\n',
    );
    const failed = job('0', '0', 'sh', '-c', 'exit 7');
    expect(failed.status).toBe(7);
    expect(failed.stdout).toBe('piot-job: attempt 1 of 1\npiot-job: attempt 1 failed (exit 7)\n');
  });

  it('stops an attempt at its time limit and reports it as timed out (exit 124)', () => {
    const started = Date.now();
    const slow = job('0', '1', 'sleep', '30');
    expect(slow.status).toBe(124);
    expect(slow.stdout).toBe('piot-job: attempt 1 of 1\npiot-job: attempt 1 timed out after 1s\n');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
