import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMPLETE_EXAMPLE } from '../spec/reference.js';
import { validatePiotYaml } from '../spec/validate.js';
import { appPaths, renderJobService, renderJobTimer, renderService, unitName } from './units.js';

function spec(text: string) {
  const result = validatePiotYaml(new TextEncoder().encode(text));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

const tricky = spec(`version: 1
app: demo
env: {GREETING: "100% \\"quoted\\" $HOME", B: 2}
secrets: [TOKEN]
services:
  web:
    run: node server.js --name 'it''s' "$PORT"
    env: {PORT: 8080, A: x}
    depends: [db]
    restart: on-failure
  db:
    run: ./db
    user: root
jobs:
  backup:
    run: ./backup.sh
    schedule: daily
    timeout: 1h30m
`);
const paths = appPaths('demo');

describe('unit rendering', () => {
  it('is deterministic, sorted and escapes systemd specifiers and variables', () => {
    const unit = renderService(tricky, 'web', tricky.services!.web!, paths);
    expect(renderService(tricky, 'web', tricky.services!.web!, paths)).toBe(unit);
    expect(unit).toContain(
      'Environment="A=x"\nEnvironment="B=2"\nEnvironment="GREETING=100%% \\"quoted\\" $$HOME"\nEnvironment="PORT=8080"',
    );
    expect(unit).toContain(
      "ExecStart=/bin/sh -c 'exec node server.js --name \\'it\\'\\'s\\' \"$$PORT\"'",
    );
    expect(unit).toContain('After=network-online.target piot-demo-db.service');
    // Stopped after the agent at shutdown, so a deploy's health gate sees it still running.
    expect(unit).toContain('Before=piot-agent.service');
    expect(unit).toContain('User=piot-demo');
    expect(unit).toContain('Restart=on-failure');
    expect(unit).toContain('WorkingDirectory=/opt/piot/apps/demo/current');
    expect(unit).toContain('EnvironmentFile=-/run/piot/demo/secrets/web.env');
    expect(unit).not.toMatch(/TOKEN/);
  });

  it('runs root services without User= and jobs as oneshots under the job runner', () => {
    expect(renderService(tricky, 'db', tricky.services!.db!, paths)).not.toMatch(/^User=/m);
    const job = renderJobService(tricky, 'backup', tricky.jobs!.backup!, paths);
    expect(job).toContain('Type=oneshot');
    // The runner limits each attempt (1h30m = 5400 s) and retries; the unit has no start timeout.
    expect(job).toContain(
      "ExecStart=/usr/lib/piot/piot-job 0 5400 /bin/sh -c 'exec ./backup.sh'\n",
    );
    expect(job).not.toContain('TimeoutStartSec');
    expect(job).toContain(
      'ExecStopPost=+/usr/bin/node /usr/lib/piot/piot-agent.mjs job-done demo backup\n',
    );
  });

  it('renders timers from cron with Persistent= and jitter', () => {
    const full = spec(COMPLETE_EXAMPLE);
    const timer = renderJobTimer(full, 'backup', full.jobs!.backup!);
    expect(timer).toContain(
      'OnCalendar=*-*-* 03:00:00\nPersistent=true\nAccuracySec=1s\nRandomizedDelaySec=5min\n',
    );
    expect(timer).toContain('Unit=piot-weather-station-backup.service');
    const both = spec('version: 1\napp: a\njobs:\n  j: {run: x, schedule: "0 9 1 * mon"}\n');
    expect(renderJobTimer(both, 'j', both.jobs!.j!)).toContain(
      'OnCalendar=*-*-01 09:00:00\nOnCalendar=Mon *-*-* 09:00:00\n',
    );
  });

  it('passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-units-'));
    const full = spec(COMPLETE_EXAMPLE);
    const files: string[] = [];
    const write = (name: string, text: string) => {
      // verify resolves User= and ExecStart= on this host; point them at what exists here.
      writeFileSync(
        join(dir, name),
        text.replace(/^User=.*$/m, 'User=daemon').replace(/^Group=.*$/m, 'Group=daemon'),
      );
      files.push(join(dir, name));
    };
    for (const [name, s] of Object.entries({ ...tricky.services, ...full.services })) {
      write(
        unitName(tricky.services?.[name] ? 'demo' : 'weather-station', name),
        renderService(tricky.services?.[name] ? tricky : full, name, s, paths),
      );
    }
    write(
      unitName(full.app, 'backup', 'timer'),
      renderJobTimer(full, 'backup', full.jobs!.backup!),
    );
    for (const [name, j] of Object.entries(full.jobs ?? {}))
      write(unitName(full.app, name), renderJobService(full, name, j, paths));
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], {
      encoding: 'utf8',
    });
    const complaints = result.stderr
      .split('\n')
      .filter(
        (line) =>
          line.trim() &&
          !/WorkingDirectory|Failed to create|is not executable|No such file|network-online|Command .* is not/.test(
            line,
          ),
      );
    expect(complaints).toEqual([]);
  });
});
