import { sshRemote } from '../sys/git-ssh.js';

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** The key type written inside an SSH public key blob (a length-prefixed string), if any. */
function blobType(base64: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return undefined;
  const blob = Buffer.from(base64, 'base64');
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  return length > 0 && length < 64 && blob.length > 4 + length
    ? blob.subarray(4, 4 + length).toString('latin1')
    : undefined;
}

/** True if a known_hosts host pattern list names this remote (or could: hashed, wildcards). */
function namesRemote(hosts: string, remote: { name: string }): boolean {
  return hosts.split(',').some((h) => h.startsWith('|1|') || /[*?]/.test(h) || h === remote.name);
}

/**
 * Checks known_hosts text for the device (`--repo-host-key` lines or a file such as
 * ssh-keyscan prints): every line is `HOSTS TYPE BASE64` whose key blob says the same
 * type, and some line names the repository's host. Comments and blank lines are dropped.
 */
export function checkHostKeys(
  text: string,
  options: { repo: string | undefined; flag: string },
): { lines: string[]; problems: string[] } {
  const problems: string[] = [];
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const shown = (line: string) => (line.length > 40 ? `${line.slice(0, 40)}…` : line);
  for (const line of lines) {
    const [hosts, type, key] = line.split(/\s+/);
    if (KEY_TYPES.has(hosts!)) {
      problems.push(
        `${options.flag} "${shown(line)}" has no host: put it first (e.g. github.com ${hosts} AAAA…)`,
      );
    } else if (hosts?.startsWith('@') || key === undefined) {
      problems.push(
        `${options.flag} "${shown(line)}" is not a known_hosts line (HOST KEY-TYPE BASE64, as ssh-keyscan prints)`,
      );
    } else if (!KEY_TYPES.has(type!)) {
      problems.push(`${options.flag}: "${type}" is not an SSH host key type (e.g. ssh-ed25519)`);
    } else if (blobType(key) !== type) {
      problems.push(`${options.flag}: the ${type} key for ${hosts} is not valid base64 of one`);
    }
  }
  if (lines.length === 0)
    problems.push(`${options.flag}: no host key (a known_hosts line: HOST KEY-TYPE BASE64)`);
  const remote = options.repo === undefined ? undefined : sshRemote(options.repo);
  if (options.repo !== undefined && !remote) {
    problems.push(`${options.flag} is for SSH repositories; --repo "${options.repo}" is not one`);
  } else if (remote && problems.length === 0) {
    if (!lines.some((l) => namesRemote(l.split(/\s+/)[0]!, remote))) {
      problems.push(
        `${options.flag}: no line is for ${remote.name}, the host of --repo` +
          (remote.port === 22
            ? ''
            : ` (on port ${remote.port} the line starts with ${remote.name})`),
      );
    }
  }
  return { lines, problems };
}
