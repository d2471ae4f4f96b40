import { deployExitCode, describeOutcome, RUNTIME, triggerAgent } from '../agent/cycle-record.js';
import type { DeployOutcome } from '../agent/deploy.js';
import { ExitCode } from '../errors.js';
import type { CliContext } from './context.js';
import { reportFailure } from './failure.js';

/** Prints a deploy's outcome; exit status 1 when it did not leave the device deployed. */
export function reportDeploy(ctx: CliContext, outcome: DeployOutcome, json?: boolean): void {
  ctx.out(json ? `${JSON.stringify(outcome, null, 2)}\n` : `${describeOutcome(outcome)}\n`);
  if (deployExitCode(outcome) !== 0) throw new ExitCode(1);
}

/**
 * `piot deploy [--now] [--json]` while the agent runs, without loading the rest of the CLI:
 * on a Pi, starting Node.js with all of PioT takes a noticeable part of a deploy, and asking
 * the agent needs none of it. Resolves to the exit code, or to undefined when these are not
 * such arguments or no agent runs; the full CLI then handles them (and deploys itself).
 */
export async function quickDeploy(
  argv: string[],
  ctx: CliContext,
  cyclePath = RUNTIME.cycle,
): Promise<number | undefined> {
  const [command, ...options] = argv;
  if (command !== 'deploy' || !options.every((o) => o === '--now' || o === '--json')) {
    return undefined;
  }
  try {
    const outcome = await triggerAgent(cyclePath);
    if (!outcome) return undefined;
    reportDeploy(ctx, outcome, options.includes('--json'));
    return 0;
  } catch (error) {
    return reportFailure(ctx, error);
  }
}
