import type { Command } from 'commander';
import { describeOutcome, RUNTIME, triggerAgent } from '../../agent/cycle-record.js';
import { deployOnce, rollback } from '../../agent/deploy.js';
import { withLock } from '../../sys/lock.js';
import type { CliContext } from '../context.js';
import { reportDeploy } from '../quick-deploy.js';
import { addDeviceOptions, deviceDeps, type DeviceOptions } from '../device-options.js';

export function registerDeploy(program: Command, ctx: CliContext): void {
  addDeviceOptions(
    program
      .command('deploy')
      .description("deploy the repository's latest commit now instead of at the next poll"),
  )
    .option('--now', 'do not wait for the next poll (the default for this command)')
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      `
A running agent is asked to deploy at once; without one, the deploy runs here.
Exit status 1 when the commit is invalid, failed or was rolled back.

Examples:
  piot deploy --now
  piot deploy --now --json`,
    )
    .action(async (options: DeviceOptions & { json?: boolean }) => {
      const log = (message: string) => ctx.err(`${message}\n`);
      const viaAgent = options.root === '/' ? await triggerAgent() : undefined;
      if (viaAgent) return reportDeploy(ctx, viaAgent, options.json);
      const { deps } = await deviceDeps(options, log);
      reportDeploy(ctx, await withLock(RUNTIME.lock, () => deployOnce(deps)), options.json);
    });

  addDeviceOptions(
    program
      .command('rollback')
      .description('return to the release before the running one and mark this one bad'),
  )
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      `
The rolled-back commit is not deployed again until a newer commit arrives.

Examples:
  piot rollback`,
    )
    .action(async (options: DeviceOptions & { json?: boolean }) => {
      const { deps } = await deviceDeps(options, (m) => ctx.err(`${m}\n`));
      const outcome = await withLock(RUNTIME.lock, () => rollback(deps));
      ctx.out(
        options.json ? `${JSON.stringify(outcome, null, 2)}\n` : `${describeOutcome(outcome)}\n`,
      );
    });
}
