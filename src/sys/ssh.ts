import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { run, startBackground, type Background, type RunResult } from './process.js';

/** How to reach a guest's sshd through a loopback port forward. */
export interface SshTarget {
  port: number;
  user: string;
  key: string;
  host?: string;
  /**
   * The control socket of a master connection (sshMaster) that commands share while it is
   * up; without one they open their own connection.
   */
  controlPath?: string;
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
    ...(target.controlPath
      ? ['-o', `ControlPath=${target.controlPath}`, '-o', 'ControlMaster=no']
      : []),
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

/**
 * Starts a master connection for target.controlPath: later ssh and scp calls share it and skip
 * the key exchange and the login (on a TCG guest about 1.3 s a command, and the guest's CPU
 * that sshd and PAM would spend). It ends with the connection; calls then open their own.
 */
export function sshMaster(target: SshTarget & { controlPath: string }): Background {
  // A socket left by a master that was killed would stop this one from listening.
  rmSync(target.controlPath, { force: true });
  return startBackground(
    'ssh',
    [
      // ssh keeps the first value given for an option: these come before the shared ones.
      '-o',
      'ServerAliveInterval=3',
      '-o',
      'ServerAliveCountMax=3',
      '-o',
      'ControlMaster=yes',
      '-o',
      'ControlPersist=no',
      ...sshOptions(target),
      '-N',
      '-p',
      String(target.port),
      `${target.user}@${target.host ?? '127.0.0.1'}`,
    ],
    { stdio: 'ignore' },
  );
}

/**
 * True when an SSH server greets a new connection to target within timeoutMs. While a guest
 * boots, a login attempt waits out its whole connect timeout: QEMU's port forward accepts at
 * once, and retries its unanswered connection to the guest only seconds later. Short probes,
 * one after another, see the server within moments of its start.
 */
export function sshBanner(target: SshTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port: target.port, host: target.host ?? '127.0.0.1' });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    let seen = '';
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (seen.length >= 4) done(seen.startsWith('SSH-'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}
