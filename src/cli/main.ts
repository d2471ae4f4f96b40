import type { CliContext } from './context.js';

/** Runs a CLI (argv without node and script → exit code) on this process's streams. */
export async function main(
  run: (argv: string[], ctx: CliContext) => Promise<number>,
): Promise<void> {
  // A closed pipe (piot … | head) is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
  process.exitCode = await run(process.argv.slice(2), {
    cwd: process.cwd(),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    env: process.env,
  });
}
