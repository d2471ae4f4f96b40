import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

it('the README demo command runs PioT end to end non-interactively: configured image, first boot, bootstrap, deploy, first job run', () => {
  const result = spawnSync(process.execPath, [join(root, 'dist/piot.js'), 'demo'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 20 * 60_000,
  });
  console.log(result.stdout);
  expect(result.status, result.stderr).toBe(0);
  const stages = [
    /\[1\/10\] validate the example app \(examples\/sensor\)\n\s+✔ examples\/sensor\/\.piot\.yaml: app sensor is valid/,
    /\[2\/10\] build or reuse the virtual Pi image \(bookworm-amd64-full\)\n\s+✔ cached: \/.*bookworm-amd64-full-\w+\.img/,
    /\[3\/10\] serve the app repository from a git server on 127\.0\.0\.1\n\s+✔ http:\/\/127\.0\.0\.1:\d+\/sensor\.git/,
    /\[4\/10\] configure a copy of the image as device "demo-pi"[^\n]*\n\s+✔ \/.*demo-pi\.img: name, user pi/,
    /\[5\/10\] first boot: PioT sets the Pi up and reboots\n\s+✔ first boot: 9 steps, rebooted; SSH as pi@demo-pi after \d+ s/,
    /\[6\/10\] bootstrap[^\n]*\n\s+✔ demo-pi bootstrapped \d+ s after power on/,
    /\[7\/10\] deploy[^\n]*\n\s+✔ app sensor running \d+ s after power on/,
    /\[8\/10\] the app answers on the Pi\n\s+✔ curl 127\.0\.0\.1:8080\/health → \{"ok":true,"readings":\d+\}/,
    /\[9\/10\] first job run: upload[^\n]*\n\s+✔ upload succeeded \d+ s after power on: upload: \d+ readings ready/,
    /\[10\/10\] first heartbeat on the hub\n\s+… not in this version/,
  ];
  for (const stage of stages) expect(result.stdout).toMatch(stage);
  expect(result.stdout).toMatch(/PioT ran end to end on the virtual Pi/);
});
