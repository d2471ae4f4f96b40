import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';

/** What a CGI program answered: its status, headers and the rest of its output as a stream. */
export interface CgiResponse {
  status: number;
  headers: [string, string][];
  body: Readable;
}

const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Runs a CGI program (argv, no shell) with `env` as its whole environment and `input` as the
 * request body; resolves once its header block has arrived, rejects if it ends without one.
 */
export function runCgi(
  program: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; input: Readable; onStderr?: (text: string) => void },
): Promise<CgiResponse> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const body = new PassThrough();
    let head: Buffer = Buffer.alloc(0);
    let answered = false;
    child.on('error', (error) => {
      if (!answered) reject(error);
      else body.destroy(error);
    });
    child.stderr.on('data', (chunk: Buffer) => options.onStderr?.(chunk.toString('utf8')));
    child.stdin.on('error', () => undefined);
    options.input.pipe(child.stdin);
    child.stdout.on('data', (chunk: Buffer) => {
      if (answered) {
        if (!body.write(chunk)) {
          child.stdout.pause();
          body.once('drain', () => child.stdout.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = headerEnd(head);
      if (!end) {
        if (head.length > MAX_HEADER_BYTES) {
          child.kill('SIGKILL');
          reject(new Error(`${program}: CGI header block over ${MAX_HEADER_BYTES} bytes`));
        }
        return;
      }
      answered = true;
      resolve({ ...parseHeaders(head.subarray(0, end.start).toString('latin1')), body });
      body.write(head.subarray(end.next));
    });
    child.stdout.on('end', () => {
      if (!answered) reject(new Error(`${program} ended without a CGI header block`));
      body.end();
    });
  });
}

function headerEnd(buffer: Buffer): { start: number; next: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { start: crlf, next: crlf + 4 };
  if (lf >= 0) return { start: lf, next: lf + 2 };
  return undefined;
}

function parseHeaders(text: string): { status: number; headers: [string, string][] } {
  let status = 200;
  const headers: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers };
}
