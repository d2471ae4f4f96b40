import type { Command } from 'commander';
import { join } from 'node:path';
import { ExitCode } from '../../errors.js';
import { buildImage, variantName, type ImageVariant } from '../../vm/images.js';
import { VirtualPi } from '../../vm/machine.js';
import { colors, type CliContext } from '../context.js';
import { validateRepo } from './validate.js';

const VARIANT: ImageVariant = { suite: 'bookworm', arch: 'amd64', flavor: 'full' };

/** Stages this version of PioT cannot run yet; the demo lists them honestly. */
const LATER = [
  'configure the image for a device (piot image configure)',
  'first boot and bootstrap',
  'deploy the app from a local git server',
  'first job run and first heartbeat on the hub',
];

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('PioT end to end on a virtual Pi (QEMU), narrated stage by stage')
    .addHelpText(
      'after',
      `
Needs root the first time, to build the virtual Pi image (cached afterwards).

Examples:
  sudo npm run demo        from a clone of PioT`,
    )
    .action(async () => {
      const c = colors(ctx);
      const total = 3 + LATER.length;
      let n = 0;
      const stage = (text: string) => ctx.out(`${c.bold(`[${++n}/${total}]`)} ${text}\n`);
      const done = (text: string) => ctx.out(`      ${c.green('✔')} ${text}\n`);

      stage('validate the example app (examples/sensor)');
      const result = await validateRepo(join(ctx.cwd, 'examples', 'sensor'), ctx.cwd);
      if (!result.ok) {
        ctx.err(
          `      ${c.red('✖')} ${result.problems.length} problems; run piot validate examples/sensor\n`,
        );
        throw new ExitCode(1);
      }
      done(result.summary ?? '');

      stage(`build or reuse the virtual Pi image (${variantName(VARIANT)})`);
      const started = Date.now();
      const image = await buildImage(VARIANT);
      done(
        `${image.built ? 'built' : 'cached'}: ${image.path} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );

      stage('boot it under QEMU and log in over SSH');
      const bootStarted = Date.now();
      const vm = await VirtualPi.start({ image: image.path, console: 'file', accel: 'auto' });
      try {
        const stop = () => void vm.stop();
        process.once('SIGINT', stop);
        await vm.waitForSsh(300_000);
        done(`SSH login after ${((Date.now() - bootStarted) / 1000).toFixed(1)} s (${vm.accel})`);
        const facts = await vm.sh(
          'echo "$(hostname), $(. /etc/os-release; echo $PRETTY_NAME), Node.js $(node --version)"; nmcli -t -f DEVICE,STATE,CONNECTION device | grep ^eth0',
        );
        for (const line of facts.trim().split('\n')) done(line);
        process.off('SIGINT', stop);
      } finally {
        await vm.stop();
      }
      for (const later of LATER) {
        stage(later);
        ctx.out(`      ${c.yellow('…')} not in this version of PioT yet\n`);
      }
      ctx.out(
        '\nThe virtual Pi works; the stages above marked … come with provisioning, the agent and the hub.\n',
      );
    });
}
