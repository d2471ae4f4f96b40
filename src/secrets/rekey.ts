import { UserError } from '../errors.js';
import { secretFilePath, type SecretFile } from '../spec/secret-file.js';
import { decryptValue, encryptValue } from './crypto.js';
import { secretStatus } from './list.js';
import {
  keyModeNotes,
  operatorKeyPath,
  readOperatorKey,
  type OperatorKey,
} from './operator-key.js';
import {
  checkSecretName,
  openSecretsRepo,
  readSecret,
  requireSecret,
  secretFileNames,
  writeSecret,
  type SecretsRepo,
} from './repo.js';
import {
  failOnProblems,
  parseSelectors,
  recipientChanges,
  selectRecipients,
  type RecipientChanges,
  type Recipients,
  type SecretProblem,
} from './selection.js';

/** What `piot secrets rekey` was asked to do. */
export interface RekeyOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The secrets to re-encrypt; none: every stale one. */
  names: string[];
  /** New selectors for the named secrets (comma-separated). */
  devices?: string | undefined;
  /** Encrypt the named secrets to every device. */
  allDevices?: boolean | undefined;
}

/** One re-encrypted secret and who gained or lost it; never holds the value. */
export interface RekeyedSecret {
  name: string;
  file: string;
  selectors: string[] | undefined;
  devices: string[];
  operators: string[];
  changes: { devices: RecipientChanges; operators: RecipientChanges };
}

/** What `piot secrets rekey` did. */
export interface RekeyResult {
  repo: string;
  secrets: RekeyedSecret[];
  notes: string[];
}

interface Target {
  name: string;
  file: SecretFile;
  selectors: string[] | undefined;
  recipients: Recipients;
}

/**
 * Re-encrypts secrets to the devices their selectors pick now (or to new selectors) and to
 * the current operators, decrypting them with the operator's key. Every secret is checked
 * and decrypted before any file is written.
 */
export async function rekeySecrets(options: RekeyOptions): Promise<RekeyResult> {
  const reselect = options.devices !== undefined || options.allDevices === true;
  if (options.devices !== undefined && options.allDevices) {
    throw new UserError('give --devices or --all-devices, not both');
  }
  if (reselect && options.names.length === 0) {
    throw new UserError('--devices and --all-devices need the names of the secrets to change', {
      hint: 'piot secrets rekey API_TOKEN --devices tag:sensors',
    });
  }
  let selectors: string[] | undefined;
  if (options.devices !== undefined) {
    selectors = parseSelectors(options.devices);
    if (selectors.length === 0) throw new UserError('--devices is empty');
  }
  options.names.forEach(checkSecretName);
  const repo = await openSecretsRepo(options.cwd);
  const notes: string[] = [];
  const chosen = await chooseSecrets(repo, options.names, notes);
  if (chosen.length === 0) return { repo: repo.root, secrets: [], notes };

  const problems: SecretProblem[] = [];
  const targets: Target[] = chosen.map(({ name, file }) => {
    const wanted = reselect ? selectors : file.devices;
    const selection = selectRecipients(wanted, repo.fleet);
    problems.push(...selection.problems.map((p) => ({ ...p, message: `${name}: ${p.message}` })));
    return { name, file, selectors: wanted, recipients: selection.recipients };
  });
  const keyPath = operatorKeyPath(options.env, options.cwd);
  const key = await readOperatorKey(keyPath);
  if (!key) {
    throw new UserError(`no operator key at ${keyPath}: rekey decrypts secrets with it`, {
      hint: 'set $PIOT_AGE_KEY_FILE to the key of an operator listed in .piot/fleet.yaml',
    });
  }
  notes.push(...keyModeNotes(key));
  for (const target of targets) {
    const problem = accessProblem(target, key);
    if (problem) problems.push(problem);
  }
  failOnProblems(problems, 'nothing was re-encrypted');

  const values: string[] = [];
  for (const target of targets) {
    values.push(
      await decryptValue(target.file.value, key.identities).catch((error: unknown) => {
        throw new UserError(
          `cannot decrypt ${target.name} with ${key.path}: ${error instanceof Error ? error.message : String(error)}`,
          { hint: `the file may be damaged: set it again (piot secrets set ${target.name})` },
        );
      }),
    );
  }
  const secrets: RekeyedSecret[] = [];
  for (const [i, target] of targets.entries()) {
    const value = await encryptValue(values[i]!, target.recipients);
    await writeSecret(repo, target.name, {
      version: 1,
      ...(target.selectors ? { devices: target.selectors } : {}),
      recipients: target.recipients,
      value,
    });
    secrets.push({
      name: target.name,
      file: secretFilePath(target.name),
      selectors: target.selectors,
      devices: Object.keys(target.recipients.devices).sort(),
      operators: Object.keys(target.recipients.operators).sort(),
      changes: {
        devices: recipientChanges(target.file.recipients.devices, target.recipients.devices),
        operators: recipientChanges(target.file.recipients.operators, target.recipients.operators),
      },
    });
  }
  return { repo: repo.root, secrets, notes };
}

/** The named secrets, or else every stale one (invalid ones are skipped with a note). */
async function chooseSecrets(
  repo: SecretsRepo,
  names: string[],
  notes: string[],
): Promise<{ name: string; file: SecretFile }[]> {
  if (names.length > 0) {
    const chosen = [];
    for (const name of new Set(names)) chosen.push({ name, file: await requireSecret(repo, name) });
    return chosen;
  }
  const chosen = [];
  for (const name of await secretFileNames(repo)) {
    const read = await readSecret(repo, name);
    if (!read?.ok) {
      notes.push(`skipped ${secretFilePath(name)}: it is invalid (see piot secrets ls)`);
      continue;
    }
    if (secretStatus(name, read, repo.fleet, repo.listed).status === 'stale') {
      chosen.push({ name, file: read.file });
    }
  }
  return chosen;
}

function accessProblem(target: Target, key: OperatorKey): SecretProblem | undefined {
  const { devices, operators } = target.file.recipients;
  const all = [...Object.values(operators), ...Object.values(devices)];
  if (key.recipients.some((r) => all.includes(r))) return undefined;
  const names = Object.keys(operators).sort();
  return {
    message: `${target.name}: your key ${key.path} (${key.recipients[0]}) is not one it is encrypted to; ${
      names.length
        ? `operators who can rekey it: ${names.join(', ')}`
        : 'it is encrypted to no operator'
    }`,
    hint: names.length
      ? `ask one of them to run \`piot secrets rekey ${target.name}\`, or set the value again: piot secrets set ${target.name}`
      : `set the value again: piot secrets set ${target.name}`,
  };
}
