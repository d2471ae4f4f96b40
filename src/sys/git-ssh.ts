import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';

/** How git reaches an SSH remote from a device: its deploy key and its pinned host keys. */
export interface GitSsh {
  /** The private key file (the device's deploy key); absent: ssh's default identities. */
  key?: string | undefined;
  /** The known_hosts file: host keys given at configure time or pinned on first use. */
  knownHosts: string;
}

/** Where an SSH remote is, and its name in known_hosts (`host`, or `[host]:port`). */
export interface SshRemote {
  host: string;
  port: number;
  name: string;
}

const remote = (host: string, port: number): SshRemote => ({
  host,
  port,
  name: port === 22 ? host : `[${host}]:${port}`,
});

/**
 * The host and port of an SSH git URL (`ssh://[user@]host[:port]/path`, or scp-like
 * `[user@]host:path`), or undefined for any other URL or a local path.
 */
export function sshRemote(url: string): SshRemote | undefined {
  const full = /^(?:git\+)?ssh:\/\/(?:[^@/]*@)?(\[[^\]/]+\]|[^:/[\]]+)(?::(\d+))?(?:\/|$)/.exec(
    url,
  );
  if (full) return remote(full[1]!.replace(/^\[|\]$/g, ''), Number(full[2] ?? 22));
  if (url.includes('://')) return undefined;
  // Git's rule: a colon before any slash makes it an SSH remote.
  const scp = /^(?:[^@/:]+@)?(\[[^\]/]+\]|[^:/[\]]+):/.exec(url);
  return scp ? remote(scp[1]!.replace(/^\[|\]$/g, ''), 22) : undefined;
}

/** True if a known_hosts file holds at least one key (a missing file holds none). */
export async function hasHostKeys(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

const shellQuote = (arg: string) =>
  /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * The ssh command line for GIT_SSH_COMMAND (git runs it through a shell, so every argument
 * is quoted). `strict`: only hosts already in known_hosts; otherwise an unknown host's key is
 * pinned on first use. Either way a changed key is refused, and nothing ever prompts.
 */
export function sshCommand(ssh: GitSsh, options: { strict: boolean }): string {
  const args = [
    'ssh',
    ...(ssh.key ? ['-i', ssh.key, '-o', 'IdentitiesOnly=yes'] : []),
    ...['-o', 'BatchMode=yes'],
    ...['-o', `UserKnownHostsFile=${ssh.knownHosts}`],
    ...['-o', `StrictHostKeyChecking=${options.strict ? 'yes' : 'accept-new'}`],
    // Debian's ssh_config hashes host names; a readable file says which host is pinned.
    ...['-o', 'HashKnownHosts=no'],
    ...['-o', 'ConnectTimeout=30'],
  ];
  return args.map(shellQuote).join(' ');
}

/**
 * The environment git needs to use these SSH settings. Once known_hosts holds a key (given
 * at configure time, or pinned by the first connection) only the hosts in it are trusted.
 */
export async function sshEnv(ssh: GitSsh): Promise<NodeJS.ProcessEnv> {
  return {
    GIT_SSH_COMMAND: sshCommand(ssh, { strict: await hasHostKeys(ssh.knownHosts) }),
    GIT_SSH_VARIANT: 'ssh',
  };
}

/** A failure to reach the repository over SSH that the device's owner can fix. */
export class GitSshError extends UserError {
  constructor(
    message: string,
    readonly stderr: string,
    hint: string,
  ) {
    super(message, { hint });
    this.name = 'GitSshError';
  }
}

/**
 * What ssh's complaint in git's stderr means, as a message and what to do about it; undefined
 * when it is not an SSH problem (the network, the server), which the caller reports as is.
 */
export function explainSshFailure(
  stderr: string,
  context: GitSsh & { url: string },
): GitSshError | undefined {
  const at = sshRemote(context.url);
  if (!at) return undefined;
  const { knownHosts, key } = context;
  const fail = (message: string, hint: string) => new GitSshError(message, stderr, hint);
  if (/cannot run ssh|ssh: (command )?not found|exec: "?ssh"?: not found/i.test(stderr)) {
    return fail(
      `git cannot run ssh to reach ${at.host}: the SSH client is not installed`,
      'install it: sudo apt-get install openssh-client',
    );
  }
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for \S+ has changed/.test(stderr)) {
    return fail(
      `the SSH host key of ${at.name} has changed: it is not the key pinned in ${knownHosts}`,
      `if the server's key was really replaced, remove the old one with ` +
        `sudo ssh-keygen -R '${at.name}' -f ${knownHosts} (the next fetch pins the new one) ` +
        `or give it with piot image configure --repo-host-key; otherwise someone may be ` +
        `intercepting the connection`,
    );
  }
  if (/No \S+ host key is known for|Host key verification failed/.test(stderr)) {
    return fail(
      `${knownHosts} has no host key for ${at.name}, and only the hosts in it are trusted`,
      `add the server's key line to ${knownHosts} (ssh-keyscan -p ${at.port} ${at.host} ` +
        `prints it; compare its fingerprint with the server's), or remove the file to pin ` +
        `the key of the next host contacted`,
    );
  }
  if (key && /Identity file \S+ not accessible|no such identity/i.test(stderr)) {
    return fail(
      `the deploy key ${key} cannot be read`,
      `check deploy_key in the device file; piot image configure --deploy-key FILE ` +
        `installs the key`,
    );
  }
  if (key && /UNPROTECTED PRIVATE KEY FILE|bad permissions/i.test(stderr)) {
    return fail(
      `ssh refuses the deploy key ${key}: other users can read it`,
      `make it private: sudo chmod 600 ${key}`,
    );
  }
  if (/Permission denied \([\w,-]+\)/.test(stderr)) {
    return key
      ? fail(
          `the repository server ${at.host} refused the deploy key ${key}`,
          `add the deploy key's public half (sudo ssh-keygen -y -f ${key} prints it) to the ` +
            `repository's deploy keys, read-only; check the user in ${context.url}`,
        )
      : fail(
          `the repository server ${at.host} refused this device: it has no deploy key`,
          'give it one: piot image configure --deploy-key FILE (deploy_key: in the device file)',
        );
  }
  if (/Repository not found|could not be found or you don't have permission/i.test(stderr)) {
    return fail(
      `${at.host} has no repository at ${context.url} that this device may read`,
      `check the URL; a deploy key opens only the repository it was added to`,
    );
  }
  return undefined;
}
