import type { Command } from 'commander';
import { join } from 'node:path';
import { ExitCode } from '../../errors.js';
import { colors, type CliContext } from '../context.js';
import { validateRepo } from './validate.js';

/** The demo's stages, in order; `ready` says whether this version of PioT can run it. */
const STAGES = [
  { name: 'validate the example app (examples/sensor)', ready: true },
  { name: 'build or reuse the virtual Pi image', ready: false },
  { name: 'configure the image for a device', ready: false },
  { name: 'first boot and bootstrap', ready: false },
  { name: 'deploy the app from a local git server', ready: false },
  { name: 'first job run and first heartbeat on the hub', ready: false },
];

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('PioT end to end on a virtual Pi (QEMU), narrated stage by stage')
    .addHelpText(
      'after',
      `
Examples:
  sudo npm run demo        from a clone of PioT`,
    )
    .action(async () => {
      const c = colors(ctx);
      const example = join(ctx.cwd, 'examples', 'sensor');
      for (const [i, stage] of STAGES.entries()) {
        const label = `[${i + 1}/${STAGES.length}] ${stage.name}`;
        if (!stage.ready) {
          ctx.out(`${c.yellow('…')} ${label}: not available in this version yet\n`);
          continue;
        }
        const result = await validateRepo(example, ctx.cwd);
        if (!result.ok) {
          ctx.err(`${c.red('✖')} ${label}: ${result.problems.length} problems\n`);
          throw new ExitCode(1);
        }
        ctx.out(`${c.green('✔')} ${label}: ${result.summary}\n`);
      }
      ctx.out('\nThe demo runs the stages this version has; the others are listed above.\n');
    });
}
