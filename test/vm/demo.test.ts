import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

it('the README demo command runs its stages non-interactively', () => {
  const result = spawnSync(process.execPath, [join(root, 'dist/piot.js'), 'demo'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 10 * 60_000,
  });
  expect(result.status, result.stderr).toBe(0);
  expect(result.stdout).toMatch(
    /\[1\/7\] validate the example app[\s\S]*✔ examples\/sensor\/\.piot\.yaml: app sensor is valid/,
  );
  expect(result.stdout).toMatch(
    /\[2\/7\] build or reuse the virtual Pi image[\s\S]*✔ cached: \/.*bookworm-amd64-full-\w+\.img/,
  );
  expect(result.stdout).toMatch(/✔ SSH login after [\d.]+ s/);
  expect(result.stdout).toMatch(/✔ raspberrypi, Debian GNU\/Linux 12 \(bookworm\), Node\.js v18\./);
  expect(result.stdout).toMatch(/✔ eth0:connected:Wired connection 1/);
  expect(result.stdout).toMatch(
    /\[7\/7\] first job run and first heartbeat on the hub\n\s+… not in this version/,
  );
});
