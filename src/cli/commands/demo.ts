import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '../../errors.js';
import { run } from '../../sys/process.js';
import { startDemoHost } from '../../vm/demo-host.js';
import { buildImage, variantName, type ImageVariant } from '../../vm/images.js';
import { VirtualPi } from '../../vm/machine.js';
import { colors, type CliContext } from '../context.js';
import { resolveSettings } from '../../image/settings.js';
import { createEnrolmentToken, setUserPassword } from '../../hub/admin.js';
import { startHub } from '../../hub/serve.js';
import { openStore } from '../../hub/store/open.js';
import type { DeviceRecord } from '../../hub/store/store.js';
import { setSecret } from '../../secrets/set.js';
import { configureImage } from '../image-settings.js';
import { validateRepo } from './validate.js';

const VARIANT: ImageVariant = { suite: 'bookworm', arch: 'amd64', flavor: 'full' };
const DEVICE = 'demo-pi';
const APP = 'sensor';

/** Where the Pi finds the hub (QEMU forwards it to the hub on the host's loopback). */
const DEMO_HUB_HOST = '10.0.2.103';

const since = (start: number) => `${((Date.now() - start) / 1000).toFixed(0)} s`;

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('PioT end to end on a virtual Pi (QEMU), narrated stage by stage')
    .option('--keep', 'keep the virtual Pi running after the app is up, until Ctrl-C')
    .addHelpText(
      'after',
      `
Needs root the first time, to build the virtual Pi image (cached afterwards). With
--keep (the default on a terminal), the Pi keeps running: push a change to the demo
repository and watch it deploy. Ctrl-C stops the Pi and removes everything.

Examples:
  sudo npm run demo        from a clone of PioT`,
    )
    .action(async (options: { keep?: boolean }) => {
      const c = colors(ctx);
      const total = 11;
      let n = 0;
      const stage = (text: string) => ctx.out(`${c.bold(`[${++n}/${total}]`)} ${text}\n`);
      const done = (text: string) => ctx.out(`      ${c.green('✔')} ${text}\n`);
      const keep = options.keep ?? Boolean(process.stdin.isTTY);

      const appDir = join(ctx.cwd, 'examples', APP);
      stage(`validate the example app (examples/${APP})`);
      const result = await validateRepo(appDir, ctx.cwd);
      if (!result.ok) {
        ctx.err(
          `      ${c.red('✖')} ${result.problems.length} problems; run piot validate examples/${APP}\n`,
        );
        throw new ExitCode(1);
      }
      done(result.summary ?? '');

      stage(`build or reuse the virtual Pi image (${variantName(VARIANT)})`);
      let started = Date.now();
      const image = await buildImage(VARIANT);
      done(`${image.built ? 'built' : 'cached'}: ${image.path} (${since(started)})`);

      stage('serve the app repository and a hub on 127.0.0.1');
      const host = await startDemoHost(appDir, APP);
      const store = await openStore({ data: join(host.dir, 'hub') });
      const hub = await startHub({ store }, { hostname: '127.0.0.1', port: 0 });
      const password = randomBytes(9).toString('base64url');
      await setUserPassword(store, 'demo', password, Date.now());
      const { token: hubToken } = await createEnrolmentToken(store, {
        expires: '1h',
        now: Date.now(),
      });
      let vm: VirtualPi | undefined;
      const cleanUp = async () => {
        await vm?.stop();
        await hub.close();
        await store.close();
        await host.close();
      };
      const interrupted = () => {
        ctx.err('\nstopping the virtual Pi and removing the demo files…\n');
        void cleanUp().then(() => process.exit(130));
      };
      process.once('SIGINT', interrupted);
      try {
        done(
          `${host.git.url}/${APP}.git (the Pi sees ${host.repoUrl}); a clone to edit: ${host.work}`,
        );
        done(
          `hub ${hub.url} (SQLite in ${join(host.dir, 'hub')}); the Pi sees http://${DEMO_HUB_HOST}`,
        );

        stage(`configure a copy of the image as device "${DEVICE}" (piot image configure)`);
        const key = join(host.dir, 'demo-key');
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'piot-demo', '-f', key]);
        const settings = await resolveSettings(
          {
            device: DEVICE,
            user: 'pi',
            sshKey: [`${key}.pub`],
            repo: host.repoUrl,
            hub: `http://${DEMO_HUB_HOST}`,
            hubToken,
          },
          undefined,
          {
            readText: async (path) => readFile(path, 'utf8'),
            timeZones: [],
          },
        );
        const configured = join(host.dir, `${DEVICE}.img`);
        // Run in the demo's clone, configure records the device and its keys in .piot/fleet.yaml.
        await configureImage(
          image.path,
          settings,
          { out: configured, fleet: true },
          { ...ctx, cwd: host.work, out: () => undefined },
        );
        done(
          `${configured}: name, user pi with a new SSH key, repository, hub and its enrolment token, device keys; first boot hook in cmdline.txt`,
        );

        stage("encrypt the app's secret API_TOKEN for the device (piot secrets set)");
        const secret = await setSecret({
          cwd: host.work,
          env: { ...ctx.env, PIOT_AGE_KEY_FILE: join(host.dir, 'operator-age.key') },
          name: 'API_TOKEN',
          operator: 'demo',
          readValue: () => Promise.resolve(`demo-${randomBytes(16).toString('hex')}`),
        });
        const pushed = await host.commitAndPush(`${DEVICE} and its secret API_TOKEN`);
        done(
          `${secret.file} readable by ${secret.devices.join(', ')} (and operator ${secret.operators.join(', ')}); pushed ${pushed.slice(0, 12)}`,
        );

        stage('first boot: PioT sets the Pi up and reboots');
        started = Date.now();
        vm = await VirtualPi.start({
          image: configured,
          console: 'file',
          accel: 'auto',
          sshKey: key,
          sshUser: 'pi',
          log: (message) => ctx.out(`      · ${message}\n`),
          guestForwards: [
            ...host.guestForwards,
            {
              guestAddress: DEMO_HUB_HOST,
              guestPort: 80,
              hostPort: Number(new URL(hub.url).port),
              connections: 'many',
            },
          ],
        });
        // SSH starts only after first boot has rebooted into the configured system.
        await vm.waitForSsh(300_000);
        const steps = await vm.sh('sudo journalctl -o cat -t piot-firstboot --no-pager');
        done(
          `first boot: ${steps.split('\n').filter((l) => l.startsWith('step ')).length} steps, ` +
            `rebooted; SSH as pi@${(await vm.sh('hostname')).trim()} after ${since(started)} (${vm.accel})`,
        );

        stage('bootstrap: the Pi clones the repository and starts the agent');
        await vm.waitForSsh(300_000);
        await vm.waitFor(
          'bootstrap',
          async () => (await vm!.ssh('test -e /var/lib/piot/bootstrapped')).code === 0,
          300_000,
        );
        done(`${(await vm.sh('hostname')).trim()} bootstrapped ${since(started)} after power on`);

        stage('deploy: the agent runs the app and its health check passes');
        await vm.waitFor(
          'the app is healthy',
          async () => (await vm!.ssh('curl -sf 127.0.0.1:8080/health')).code === 0,
          300_000,
        );
        done(`app ${APP} running ${since(started)} after power on`);
        const status = await vm.sh('sudo piot status');
        for (const line of status.trim().split('\n').slice(0, 8)) ctx.out(`        ${line}\n`);

        stage('the app answers on the Pi');
        done(
          `curl 127.0.0.1:8080/health → ${(await vm.sh('curl -s 127.0.0.1:8080/health')).trim()}`,
        );

        stage('first job run: upload (every minute, on a systemd timer)');
        let upload: { status: string; log: string[] } | undefined;
        await vm.waitFor(
          'the first run of the upload job',
          async () => {
            const jobs = JSON.parse(await vm!.sh('sudo piot jobs --json')) as {
              jobs: { name: string; last: { status: string; log: string[] } | null }[];
            };
            upload = jobs.jobs.find((j) => j.name === 'upload')?.last ?? undefined;
            return upload !== undefined;
          },
          180_000,
        );
        const said = upload!.log.filter((l) => !l.startsWith('piot-job:')).at(-1) ?? '';
        done(`upload ${upload!.status} ${since(started)} after power on: ${said}`);

        stage('first heartbeat on the hub: the Pi enrolled and reports its health');
        let beat: DeviceRecord['lastHeartbeat'];
        await vm.waitFor(
          'a heartbeat with the running release',
          async () => {
            beat = (await store.getDevice(DEVICE))?.lastHeartbeat;
            return beat?.deploy?.current !== undefined && (beat.services?.length ?? 0) > 0;
          },
          120_000,
        );
        const percent = (ratio: number | undefined) =>
          ratio === undefined ? '?' : `${Math.round(ratio * 100)} %`;
        const services = (beat!.services ?? []).map((s) => `${s.name} ${s.state}`).join(', ');
        done(
          `heartbeat received from ${DEVICE} ${since(started)} after power on: memory ${percent(beat!.metrics?.memory)}, disk ${percent(beat!.metrics?.disk)}, ${services}`,
        );
        ctx.out(`        dashboard: ${hub.url}/  (log in as demo, password ${password})\n`);

        if (keep) {
          ctx.out(`
The Pi follows ${host.repoUrl}. Change the app and watch it deploy:
  cd ${host.work} && $EDITOR reader.js && git commit -qam "change" && git push -q
  ssh -i ${key} -p ${vm.sshPort} -o StrictHostKeyChecking=no pi@127.0.0.1 sudo piot logs -f
The dashboard is at ${hub.url}/ (demo / ${password}).
Ctrl-C stops the Pi and the hub and removes the demo files.
`);
          await new Promise<never>(() => undefined);
        }
        ctx.out(
          '\nPioT ran end to end on the virtual Pi: configured image → first boot → bootstrap → deploy → job → hub. App running, heartbeat received.\n',
        );
      } finally {
        process.off('SIGINT', interrupted);
        await cleanUp();
      }
    });
}
