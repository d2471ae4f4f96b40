import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const device = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'dist/piot-agent.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });

it('piot status on the device shows the release and the last deploy error with its position', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'piot-status-')), 'state.json');
  const reason =
    '.piot.yaml:7:5: unknown key "restat" in services.web\n  hint: did you mean "restart"?';
  writeFileSync(
    path,
    JSON.stringify({
      version: 1,
      current: 'a'.repeat(40),
      badCommits: [],
      onceDone: {},
      events: [],
      lastDeploy: { at: '2026-11-27T05:00:00Z', commit: 'b'.repeat(40), kind: 'invalid', reason },
    }),
  );
  const text = device('status', '--state', path);
  expect(text.status).toBe(0);
  expect(text.stdout).toContain(`release   ${'a'.repeat(40)}`);
  expect(text.stdout).toContain(`last      invalid ${'b'.repeat(12)} at 2026-11-27T05:00:00Z`);
  expect(text.stdout).toContain('          .piot.yaml:7:5: unknown key "restat" in services.web');
  const json = JSON.parse(device('status', '--state', path, '--json').stdout) as {
    lastDeploy: { reason: string };
  };
  expect(json.lastDeploy.reason).toBe(reason);
  expect(device('status', '--state', join(path, '..', 'none.json')).stdout).toContain(
    'none deployed yet',
  );
});
