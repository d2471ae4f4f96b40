import { CommanderError } from 'commander';
import { ExitCode, UserError } from '../errors.js';
import { colors, type CliContext } from './context.js';
import type { Command } from 'commander';

/** Runs the CLI on argv (without node and script); resolves to the exit code. */
export async function runCli(
  argv: string[],
  ctx: CliContext,
  createProgram: (ctx: CliContext) => Command,
): Promise<number> {
  const program = createProgram(ctx);
  const c = colors(ctx);
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
    if (error instanceof ExitCode) return error.code;
    if (error instanceof UserError) {
      ctx.err(`${c.red('error:')} ${error.message}\n`);
      if (error.hint) ctx.err(`${c.dim('hint:')} ${error.hint}\n`);
      return error.exitCode;
    }
    ctx.err(`${c.red('internal error')} (a bug in PioT, please report it):\n`);
    ctx.err(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
