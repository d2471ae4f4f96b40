import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withVm } from './harness.js';

const root = join(import.meta.dirname, '..', '..');

const SERVER = `require('http').createServer((q, s) => s.end(process.env.GREETING + ' from ' + process.env.USER_NAME)).listen(8080, '127.0.0.1');\n`;
const spec = (greeting: string, interval: string) => `version: 1
app: demo
env: {USER_NAME: piot}
services:
  web:
    run: node server.js
    env: {GREETING: "${greeting}"}
  worker:
    run: sh -c 'while true; do date >> "$STATE_DIRECTORY/ticks"; sleep ${interval}; done'
`;

it('the agent deploys a two-service app from git onto real systemd, restarting only what changed', async () => {
  await withVm('bookworm-amd64-full', async (vm) => {
    await vm.copyTo(join(root, 'dist/piot-agent.mjs'), '/tmp/piot-agent.mjs');
    const commit = async (files: Record<string, string>, message: string) => {
      for (const [name, text] of Object.entries(files)) {
        await vm.sh(`cat > /home/pi/app/${name}`, { input: text });
      }
      await vm.sh(
        `cd /home/pi/app && git add -A && git -c user.name=t -c user.email=t@t commit -qm '${message}'`,
      );
    };
    const agent = () =>
      vm.sh('sudo node /tmp/piot-agent.mjs agent --repo /home/pi/app --once --device kitchen 2>&1');
    const pid = async (name: string) =>
      Number((await vm.sh(`systemctl show -p MainPID --value piot-demo-${name}.service`)).trim());

    await vm.sh('mkdir /home/pi/app && cd /home/pi/app && git init -q -b main');
    await commit({ '.piot.yaml': spec('hello', '5'), 'server.js': SERVER }, 'first');
    expect(await agent()).toMatch(/deployed [0-9a-f]{12} \(\d+ steps, healthy in/);
    await vm.waitFor(
      'web answers',
      async () => (await vm.sh('curl -s 127.0.0.1:8080')) === 'hello from piot',
      30_000,
    );
    expect(
      (
        await vm.sh('ps -o user= -p $(systemctl show -p MainPID --value piot-demo-web.service)')
      ).trim(),
    ).toBe('piot-demo');
    expect(await vm.sh('readlink /opt/piot/apps/demo/current')).toMatch(
      /^releases\/[0-9a-f]{40}\n$/,
    );
    // The run: line reaches the shell as written ($STATE_DIRECTORY expanded by sh, not systemd).
    await vm.waitFor(
      'worker ticks',
      async () => (await vm.ssh('sudo test -s /var/lib/piot/demo/ticks')).code === 0,
      30_000,
    );
    // Rendered units pass systemd's own check on the device, with their real users.
    const verify = await vm.ssh(
      'sudo systemd-analyze verify /etc/systemd/system/piot-demo-*.service',
    );
    expect(verify.stderr.split('\n').filter((l) => l.includes('piot-demo'))).toEqual([]);
    expect(await agent()).toMatch(/up to date/);

    // A commit that changes only the worker's unit: web keeps its process.
    const web = await pid('web');
    const worker = await pid('worker');
    await commit({ '.piot.yaml': spec('hello', '7') }, 'worker only');
    expect(await agent()).toMatch(/deployed/);
    await vm.waitFor(
      'worker restarted',
      async () => (await pid('worker')) !== worker && (await pid('worker')) > 0,
      30_000,
    );
    expect(await pid('web')).toBe(web);

    // An invalid .piot.yaml: nothing changes, the problem is recorded with its position.
    await commit(
      {
        '.piot.yaml': spec('hello', '7').replace(
          'run: node server.js',
          'run: node server.js\n    restat: always',
        ),
      },
      'typo',
    );
    expect(await agent()).toMatch(/is invalid; the running release stays/);
    expect(await pid('web')).toBe(web);
    expect(await vm.sh('curl -s 127.0.0.1:8080')).toBe('hello from piot');
    expect(await vm.sh('sudo cat /var/lib/piot/state.json')).toMatch(
      /\.piot\.yaml:7:5: unknown key \\"restat\\" in services\.web/,
    );
    expect(await vm.sh('sudo node /tmp/piot-agent.mjs status')).toMatch(
      /last {6}invalid [0-9a-f]{12}[\s\S]*\.piot\.yaml:7:5: unknown key "restat" in services\.web/,
    );

    // Fixed, with a code change: every service restarts on the new code.
    await commit(
      { '.piot.yaml': spec('bonjour', '7'), 'server.js': SERVER.replace('from', 'de') },
      'fix',
    );
    expect(await agent()).toMatch(/deployed/);
    await vm.waitFor(
      'new code serves',
      async () => (await vm.sh('curl -s 127.0.0.1:8080')) === 'bonjour de piot',
      30_000,
    );
    expect(await pid('web')).not.toBe(web);
  });
});
