import type { Command } from 'commander';
import { describeOutcome, readCycle, RUNTIME } from '../../agent/agent.js';
import { deployOnce, rollback, type DeployOutcome } from '../../agent/deploy.js';
import { ExitCode } from '../../errors.js';
import { withLock } from '../../sys/lock.js';
import type { CliContext } from '../context.js';
import { addDeviceOptions, deviceDeps, type DeviceOptions } from '../device-options.js';

const WAIT_MS = 15 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Asks the running agent for a cycle now and waits for its outcome; undefined if none runs. */
async function triggerAgent(): Promise<DeployOutcome | undefined> {
  const before = await readCycle();
  if (!before || !alive(before.pid)) return undefined;
  const asked = Date.now();
  process.kill(before.pid, 'SIGUSR1');
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cycle = await readCycle();
    if (cycle && Date.parse(cycle.at) >= asked - 1000 && cycle.at !== before.at) {
      if (cycle.outcome) return cycle.outcome;
      throw new Error(`the agent's cycle failed: ${cycle.error ?? 'unknown error'}`);
    }
    if (Date.now() - asked > WAIT_MS || !alive(before.pid))
      throw new Error('the agent did not finish a cycle; see journalctl -u piot-agent');
  }
}

function report(ctx: CliContext, outcome: DeployOutcome, json: boolean | undefined): void {
  ctx.out(json ? `${JSON.stringify(outcome, null, 2)}\n` : `${describeOutcome(outcome)}\n`);
  if (['invalid', 'bad', 'failed', 'rolled-back', 'no-target'].includes(outcome.result))
    throw new ExitCode(1);
}

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
      if (viaAgent) return report(ctx, viaAgent, options.json);
      const { deps } = await deviceDeps(options, log);
      report(ctx, await withLock(RUNTIME.lock, () => deployOnce(deps)), options.json);
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
