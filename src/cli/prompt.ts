/** Reading what the user types or pipes in, for values that must not be echoed. */
import { UserError } from '../errors.js';

/** Everything on stdin, as UTF-8 text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The text without one trailing newline (what `echo` and editors add). */
export function withoutFinalNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/**
 * Asks for a value on the terminal without echoing it, twice when confirm is set;
 * differing answers or Ctrl-C are UserErrors.
 */
export async function promptHidden(
  message: string,
  options: { confirm?: boolean; what?: string } = {},
): Promise<string> {
  const { default: prompt } = await import('@inquirer/password');
  try {
    const value = await prompt({ message, mask: '*' });
    if (options.confirm && (await prompt({ message: 'Again', mask: '*' })) !== value) {
      throw new UserError(`the ${options.what ?? 'values'} differ; nothing was written`);
    }
    return value;
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') {
      throw new UserError('cancelled; nothing was written', { exitCode: 130 });
    }
    throw error;
  }
}
