import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { runCli } from './run.js';

/** Runs a program against this process's streams and sets its exit code. */
export async function main(createProgram: (ctx: CliContext) => Command): Promise<void> {
  // A closed pipe (piot … | head) is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
  process.exitCode = await runCli(
    process.argv.slice(2),
    {
      cwd: process.cwd(),
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
      env: process.env,
    },
    createProgram,
  );
}
