import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** What a finished command left behind. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as bytes, for binary output (git archive, git show). */
  stdoutBytes: Buffer;
  stderr: string;
}

/** How a spawned child ended, with what it wrote; rejects only if it could not be started. */
function outcome(child: ChildProcess, binary = false): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: binary ? '' : stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Runs a command (argv, never a shell string) and collects its output; never rejects on exit codes. */
export function run(
  command: string,
  args: readonly string[],
  options: {
    input?: string | Uint8Array;
    timeoutMs?: number;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    binary?: boolean;
  } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    outcome(child, options.binary)
      .finally(() => clearTimeout(timer))
      .then(resolve, reject);
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs `from | to` without a shell: `from`'s standard output is `to`'s standard input, a pipe
 * between the two that passes nothing through this process (git archive's tarball of a large
 * repository would otherwise sit whole in its memory). Both results; never rejects on exit codes.
 */
export function runPipe(
  from: { command: string; args: readonly string[] },
  to: { command: string; args: readonly string[] },
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<[RunResult, RunResult]> {
  const env = options.env ?? process.env;
  const first = spawn(from.command, from.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const second = spawn(to.command, to.args, { env, stdio: [first.stdout, 'pipe', 'pipe'] });
  // The pipe's read end now belongs to `to`; this process keeps no copy of it.
  first.stdout.destroy();
  const stopBoth = () => {
    first.kill('SIGKILL');
    second.kill('SIGKILL');
  };
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(stopBoth, options.timeoutMs);
  // One that cannot start takes the other down with it.
  const ended = (child: ChildProcess) =>
    outcome(child).catch((error: unknown) => {
      stopBoth();
      throw error;
    });
  return Promise.all([ended(first), ended(second)]).finally(() => clearTimeout(timer));
}

/** A long-running process started by PioT (QEMU, a server). */
export interface Background {
  pid: number;
  /** Resolves with the exit code (or null if killed by a signal). */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
  child: ChildProcess;
}

/** Starts a long-running process; stdio as given (inherit to share the terminal). */
export function startBackground(
  command: string,
  args: readonly string[],
  options: { stdio?: StdioOptions } = {},
): Background {
  const child = spawn(command, args, { stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  return {
    pid: child.pid ?? -1,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    child,
  };
}

/** The absolute path of a command on PATH (plus sbin directories), or undefined. */
export async function which(command: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, command);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}
