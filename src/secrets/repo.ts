import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, parse, parseDocument, stringify } from 'yaml';
import { UserError } from '../errors.js';
import { findAppRepo } from '../image/fleet-record.js';
import type { Fleet } from '../spec/fleet.js';
import { formatProblem, type Problem } from '../spec/problem.js';
import { SECRETS_DIR, isSecretName, secretFilePath, type SecretFile } from '../spec/secret-file.js';
import { validateFleet, validateSecretFile } from '../spec/validate.js';
import { exists, fsErrorHint, writeFileAtomic } from '../sys/fs.js';

/** The application repository as the secrets commands see it. */
export interface SecretsRepo {
  root: string;
  fleet: Fleet;
  /** False when there is no .piot/fleet.yaml yet (the fleet is then empty). */
  hasFleet: boolean;
  /** The `secrets:` list of .piot.yaml; undefined when it cannot be read. */
  listed: string[] | undefined;
}

/** A secret file read from the repository: its content, or why it is unusable. */
export type ReadSecret = { ok: true; file: SecretFile } | { ok: false; problems: Problem[] };

const FLEET = '.piot/fleet.yaml';

/** The app repository around cwd with its fleet; an invalid fleet.yaml is an error. */
export async function openSecretsRepo(cwd: string): Promise<SecretsRepo> {
  const root = await findAppRepo(cwd);
  if (!root) {
    throw new UserError(`no .piot.yaml in ${cwd} or any directory above it`, {
      hint: 'run piot secrets inside the application repository (`piot init` makes one)',
    });
  }
  const fleetPath = join(root, FLEET);
  let fleet: Fleet = { version: 1, devices: {} };
  const hasFleet = await exists(fleetPath);
  if (hasFleet) {
    const checked = validateFleet(await readFile(fleetPath), { file: FLEET });
    if (!checked.ok) {
      throw new UserError(
        `${FLEET} is invalid:\n${checked.problems.map(formatProblem).join('\n')}`,
        { hint: 'fix it (`piot validate` checks it), then run this again' },
      );
    }
    fleet = checked.value;
  }
  return { root, fleet, hasFleet, listed: await listedSecrets(join(root, '.piot.yaml')) };
}

async function listedSecrets(path: string): Promise<string[] | undefined> {
  try {
    const data: unknown = parse(await readFile(path, 'utf8'));
    const list = (data as { secrets?: unknown } | null)?.secrets;
    if (list === undefined) return [];
    return Array.isArray(list) ? list.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    // A broken .piot.yaml is `piot validate`'s business; secrets still work without the list.
    return undefined;
  }
}

/** The names of the secret files in the repository, sorted (files with bad names too). */
export async function secretFileNames(repo: SecretsRepo): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(join(repo.root, SECRETS_DIR));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((f) => f.endsWith('.yaml') && !f.startsWith('.'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/** Reads and validates a secret's file; undefined when there is none. */
export async function readSecret(repo: SecretsRepo, name: string): Promise<ReadSecret | undefined> {
  const rel = secretFilePath(name);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(repo.root, rel));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UserError(`cannot read ${rel} (${code ?? String(error)})`, {
      hint: fsErrorHint(code),
    });
  }
  if (!isSecretName(name)) {
    return {
      ok: false,
      problems: [{ file: rel, line: 1, column: 1, message: `"${name}" is not a secret name` }],
    };
  }
  const checked = validateSecretFile(bytes, { file: rel });
  return checked.ok ? { ok: true, file: checked.value } : { ok: false, problems: checked.problems };
}

/** Reads a secret that must exist and be valid. */
export async function requireSecret(repo: SecretsRepo, name: string): Promise<SecretFile> {
  checkSecretName(name);
  const read = await readSecret(repo, name);
  if (!read) throw await noSuchSecret(repo, name);
  if (!read.ok) {
    throw new UserError(
      `${secretFilePath(name)} is invalid:\n${read.problems.map(formatProblem).join('\n')}`,
      { hint: `set it again: piot secrets set ${name}` },
    );
  }
  return read.file;
}

/** The error for a secret that has no file, listing those that have. */
export async function noSuchSecret(repo: SecretsRepo, name: string): Promise<UserError> {
  const names = (await secretFileNames(repo)).filter(isSecretName);
  return new UserError(`no secret ${name} (${secretFilePath(name)} does not exist)`, {
    hint: names.length ? `secrets are: ${names.join(', ')}` : 'there are no secrets yet',
  });
}

/** Throws a UserError unless name can be a secret's name. */
export function checkSecretName(name: string): void {
  if (isSecretName(name)) return;
  const fixed = name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  throw new UserError(
    `"${name}" is not a secret name: use UPPER_CASE letters, digits and "_", starting with a letter or "_" (at most 64)`,
    { hint: isSecretName(fixed) ? `did you mean ${fixed}?` : 'for example API_TOKEN' },
  );
}

/**
 * Writes a secret's file atomically, with a header saying where it came from. Keys are in a
 * fixed order so that rewriting an unchanged selection changes only the value.
 */
export async function writeSecret(
  repo: SecretsRepo,
  name: string,
  file: SecretFile,
): Promise<void> {
  const sorted = (r: Record<string, string>) =>
    Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  const body = stringify({
    version: 1,
    ...(file.devices ? { devices: file.devices } : {}),
    recipients: {
      devices: sorted(file.recipients.devices),
      operators: sorted(file.recipients.operators),
    },
    value: file.value,
  });
  const header = `# Written by \`piot secrets set ${name}\`; do not edit by hand (docs/secrets.md).\n`;
  await writeFileAtomic(join(repo.root, secretFilePath(name)), header + body);
}

/** Deletes a secret's file. */
export async function deleteSecret(repo: SecretsRepo, name: string): Promise<void> {
  await rm(join(repo.root, secretFilePath(name)));
}

/** Adds an operator's public key to .piot/fleet.yaml, keeping the file's comments. */
export async function addOperator(
  repo: SecretsRepo,
  name: string,
  recipient: string,
): Promise<void> {
  const path = join(repo.root, FLEET);
  const doc = parseDocument(await readFile(path, 'utf8'));
  if (!isMap(doc.get('operators'))) doc.set('operators', doc.createNode({}));
  doc.setIn(['operators', name], recipient);
  (doc.get('operators') as { flow?: boolean }).flow = false;
  const text = doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
  const checked = validateFleet(Buffer.from(text), { file: FLEET });
  if (!checked.ok) throw new Error(`adding operator ${name} made ${FLEET} invalid`);
  await writeFileAtomic(path, text);
  repo.fleet = checked.value;
}
