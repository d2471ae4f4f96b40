import { ExitCode, UserError } from '../errors.js';
import { colors, type CliContext } from './context.js';

/** Prints why a command failed, as the CLI does for every command; returns its exit code. */
export function reportFailure(ctx: CliContext, error: unknown): number {
  const c = colors(ctx);
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
