import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { mkdir, open, stat } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { readOptionalUserFile } from '../sys/fs.js';

/** The operator's age identity: it decrypts every secret encrypted to the fleet's operators. */
export interface OperatorKey {
  path: string;
  /** AGE-SECRET-KEY-1… lines of the file (the first one is the operator's recipient). */
  identities: string[];
  /** age1… of each identity, in the same order. */
  recipients: string[];
  /** Set when the file is readable by group or others. */
  looseMode?: number;
}

/**
 * Where the operator's key lives: `$PIOT_AGE_KEY_FILE`, else
 * `${XDG_CONFIG_HOME:-~/.config}/piot/age.key`.
 */
export function operatorKeyPath(env: NodeJS.ProcessEnv, cwd: string): string {
  if (env.PIOT_AGE_KEY_FILE) return resolve(cwd, env.PIOT_AGE_KEY_FILE);
  const xdg = env.XDG_CONFIG_HOME;
  const config = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(config, 'piot', 'age.key');
}

/** The key at path, or undefined if there is no file; a file without an X25519 identity is an error. */
export async function readOperatorKey(path: string): Promise<OperatorKey | undefined> {
  const text = await readOptionalUserFile(path, 'the operator key');
  if (text === undefined) return undefined;
  const identities = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('AGE-SECRET-KEY-1'));
  if (identities.length === 0) {
    throw new UserError(`${path} holds no age X25519 identity (AGE-SECRET-KEY-1…)`, {
      hint: 'point $PIOT_AGE_KEY_FILE at an age key file (age-keygen makes one), or move this file away to have a new key made',
    });
  }
  let recipients: string[];
  try {
    recipients = await Promise.all(identities.map((i) => identityToRecipient(i)));
  } catch {
    throw new UserError(`${path} holds a malformed age identity`);
  }
  const mode = (await stat(path)).mode & 0o777;
  return { path, identities, recipients, ...(mode & 0o077 ? { looseMode: mode } : {}) };
}

/**
 * Makes a new key file at path (0600, its directory 0700 when made here), in the format
 * of age-keygen. Fails rather than overwrite an existing file.
 */
export async function createOperatorKey(path: string): Promise<OperatorKey> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(
      `# created: ${new Date().toISOString()}\n` +
        `# public key: ${recipient}\n` +
        '# PioT operator key: reads the secrets of the fleets you manage. Keep it private; back it up.\n' +
        `${identity}\n`,
    );
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { path, identities: [identity], recipients: [recipient] };
}

/** A warning when the key file is readable by others, as ssh gives for private keys. */
export function keyModeNotes(key: OperatorKey): string[] {
  if (key.looseMode === undefined) return [];
  const mode = key.looseMode.toString(8).padStart(4, '0');
  return [`${key.path} is readable by other users (mode ${mode}): chmod 600 ${key.path}`];
}

/** The operator name for an OS user name: lowercase letters, digits and "-" (a hostname's rules). */
export function operatorName(user: string): string {
  const name = user
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name || 'operator';
}

/** The OS user's name, for the default operator name. */
export function currentUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    // A container user without a passwd entry has no name but may have $USER.
    return env.USER ?? env.LOGNAME ?? 'operator';
  }
}
