import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

it('the README demo command runs PioT end to end non-interactively: configured image, first boot, bootstrap, deploy, first job run, first heartbeat', () => {
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
    /\[1\/11\] validate the example app \(examples\/sensor\)\n\s+✔ examples\/sensor\/\.piot\.yaml: app sensor is valid/,
    /\[2\/11\] build or reuse the virtual Pi image \(bookworm-amd64-full\)\n\s+✔ cached: \/.*bookworm-amd64-full-\w+\.img/,
    /\[3\/11\] serve the app repository and a hub on 127\.0\.0\.1\n\s+✔ http:\/\/127\.0\.0\.1:\d+\/sensor\.git[^\n]*\n\s+✔ hub http:\/\/127\.0\.0\.1:\d+ \(SQLite/,
    /\[4\/11\] configure a copy of the image as device "demo-pi"[^\n]*\n\s+✔ \/.*demo-pi\.img: name, user pi/,
    /\[5\/11\] encrypt the app's secret API_TOKEN for the device \(piot secrets set\)\n\s+✔ \.piot\/secrets\/API_TOKEN\.yaml readable by demo-pi \(and operator demo\); pushed [0-9a-f]{12}/,
    // What the machine did (its reboot) may come as "·" lines before the stage's result.
    /\[6\/11\] first boot: PioT sets the Pi up and reboots\n(?:\s+· [^\n]*\n)*\s+✔ first boot: 9 steps, rebooted; SSH as pi@demo-pi after \d+ s/,
    /\[7\/11\] bootstrap[^\n]*\n\s+✔ demo-pi bootstrapped \d+ s after power on/,
    /\[8\/11\] deploy[^\n]*\n\s+✔ app sensor running \d+ s after power on/,
    /\[9\/11\] the app answers on the Pi\n\s+✔ curl 127\.0\.0\.1:8080\/health → \{"ok":true,"readings":\d+\}/,
    /\[10\/11\] first job run: upload[^\n]*\n\s+✔ upload succeeded \d+ s after power on: upload: \d+ readings ready, API_TOKEN set/,
    /\[11\/11\] first heartbeat on the hub[^\n]*\n\s+✔ heartbeat received from demo-pi \d+ s after power on: memory \d+ %, disk \d+ %, reader active[^\n]*\n\s+dashboard: http:\/\/127\.0\.0\.1:\d+\/\s+\(log in as demo, password \S+\)/,
  ];
  for (const stage of stages) expect(result.stdout).toMatch(stage);
  expect(result.stdout).toMatch(
    /PioT ran end to end on the virtual Pi.*App running, heartbeat received\./,
  );
});
