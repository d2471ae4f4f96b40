import { CommanderError } from 'commander';
import type { CliContext } from './context.js';
import { reportFailure } from './failure.js';
import type { Command } from 'commander';

/** Runs the CLI on argv (without node and script); resolves to the exit code. */
export async function runCli(
  argv: string[],
  ctx: CliContext,
  createProgram: (ctx: CliContext) => Command,
): Promise<number> {
  const program = createProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" in commander's flow; usage mistakes exit 2.
      if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code))
        return 0;
      if (error.code === 'commander.executeSubCommandAsync') return error.exitCode;
      return 2;
    }
    return reportFailure(ctx, error);
  }
}
