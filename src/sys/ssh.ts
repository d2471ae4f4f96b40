import { run, type RunResult } from './process.js';

/** How to reach a guest's sshd through a loopback port forward. */
export interface SshTarget {
  port: number;
  user: string;
  key: string;
  host?: string;
}

function sshOptions(target: SshTarget): string[] {
  return [
    '-i',
    target.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'ServerAliveInterval=5',
  ];
}

/** Runs a command on the guest; `command` is passed to the remote shell as one string. */
export function ssh(
  target: SshTarget,
  command: string,
  options: { input?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<RunResult> {
  return run(
    'ssh',
    [
      ...sshOptions(target),
      '-p',
      String(target.port),
      `${target.user}@${target.host ?? '127.0.0.1'}`,
      '--',
      command,
    ],
    { input: options.input, timeoutMs: options.timeoutMs ?? 120_000 },
  );
}

/** Copies a local file to the guest with scp. */
export function scpTo(target: SshTarget, local: string, remote: string): Promise<RunResult> {
  return run(
    'scp',
    [
      ...sshOptions(target),
      '-P',
      String(target.port),
      '-q',
      local,
      `${target.user}@${target.host ?? '127.0.0.1'}:${remote}`,
    ],
    { timeoutMs: 120_000 },
  );
}
