import { secretFilePath } from '../spec/secret-file.js';
import { UserError } from '../errors.js';
import { encryptValue } from './crypto.js';
import { applyOperator, planOperator } from './operator.js';
import {
  currentUser,
  keyModeNotes,
  operatorKeyPath,
  operatorName,
  readOperatorKey,
} from './operator-key.js';
import {
  checkSecretName,
  openSecretsRepo,
  readSecret,
  secretFileNames,
  writeSecret,
} from './repo.js';
import { failOnProblems, parseSelectors, selectRecipients } from './selection.js';

/** What `piot secrets set` was asked to do. */
export interface SetSecretOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  name: string;
  /** The --devices value (comma-separated selectors). */
  devices?: string | undefined;
  /** Encrypt to every device, even if the existing secret had selectors. */
  allDevices?: boolean | undefined;
  /** The operator name to record the user's key under (default: from the OS user name). */
  operator?: string | undefined;
  /** Gets the value; called only once everything else has been checked. */
  readValue: () => Promise<string>;
}

/** What `piot secrets set` did; never holds the value. */
export interface SetSecretResult {
  name: string;
  /** The app repository's root. */
  repo: string;
  /** The secret's file, relative to the repository. */
  file: string;
  /** The selectors it was encrypted for; undefined: every device. */
  selectors: string[] | undefined;
  /** The devices that can read it. */
  devices: string[];
  operators: string[];
  /** True if the secret existed and its value was replaced. */
  replaced: boolean;
  /** Things the user should know (key made, operator added, not listed in .piot.yaml). */
  notes: string[];
}

/**
 * Encrypts a value to the selected devices and every operator and writes
 * `.piot/secrets/NAME.yaml`. Checks the name, selectors, device keys and the operator
 * before asking for the value; makes the operator key and records it in the fleet if needed.
 */
export async function setSecret(options: SetSecretOptions): Promise<SetSecretResult> {
  checkSecretName(options.name);
  const repo = await openSecretsRepo(options.cwd);
  const notes: string[] = [];
  if (options.devices !== undefined && options.allDevices) {
    throw new UserError('give --devices or --all-devices, not both');
  }
  const previous = await readSecret(repo, options.name);
  let selectors: string[] | undefined;
  if (options.devices !== undefined) {
    selectors = parseSelectors(options.devices);
    if (selectors.length === 0) {
      throw new UserError('--devices is empty', {
        hint: 'give device names or tag:NAME, comma-separated; leave it out for every device',
      });
    }
  } else if (!options.allDevices && previous?.ok && previous.file.devices) {
    // Never widen a secret to more devices without being asked.
    selectors = previous.file.devices;
    notes.push(
      `kept the devices of the existing ${options.name}: ${selectors.join(', ')} (--devices or --all-devices to change them)`,
    );
  }
  const selection = selectRecipients(selectors, repo.fleet);
  failOnProblems(selection.problems, `cannot set ${options.name}`);

  const keyPath = operatorKeyPath(options.env, options.cwd);
  const key = await readOperatorKey(keyPath);
  if (key) notes.push(...keyModeNotes(key));
  const plan = planOperator(repo, {
    name: options.operator ?? operatorName(currentUser(options.env)),
    keyPath,
    key,
  });

  const value = await options.readValue();
  checkValue(options.name, value);

  const operator = await applyOperator(repo, plan);
  notes.push(...operator.notes);
  const recipients = {
    devices: selection.recipients.devices,
    operators: repo.fleet.operators ?? {},
  };
  const armored = await encryptValue(value, recipients);
  await writeSecret(repo, options.name, {
    version: 1,
    ...(selectors ? { devices: selectors } : {}),
    recipients,
    value: armored,
  });

  if (plan.addToFleet) {
    const others = (await secretFileNames(repo)).filter((n) => n !== options.name);
    if (others.length > 0) {
      notes.push(
        `${others.length} other secret${others.length === 1 ? ' is' : 's are'} not encrypted to you yet: an operator who can read them runs \`piot secrets rekey\``,
      );
    }
  }
  if (repo.listed && !repo.listed.includes(options.name)) {
    notes.push(
      `.piot.yaml does not list ${options.name} in "secrets:", so no service receives it; add it there`,
    );
  }
  return {
    name: options.name,
    repo: repo.root,
    file: secretFilePath(options.name),
    selectors,
    devices: Object.keys(recipients.devices).sort(),
    operators: Object.keys(recipients.operators).sort(),
    replaced: previous !== undefined,
    notes,
  };
}

function checkValue(name: string, value: string): void {
  if (value.length === 0) {
    throw new UserError(`the value of ${name} is empty; nothing was written`, {
      hint: 'type it at the prompt, pipe it to --stdin, or give --file PATH',
    });
  }
  if (value.includes('\0')) {
    throw new UserError(
      `the value of ${name} holds a NUL byte, which an environment variable cannot`,
      { hint: 'base64-encode binary values' },
    );
  }
}
