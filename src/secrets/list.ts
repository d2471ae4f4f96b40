import type { Fleet } from '../spec/fleet.js';
import { formatProblem } from '../spec/problem.js';
import { isSecretName, secretFilePath, type SecretFile } from '../spec/secret-file.js';
import { openSecretsRepo, readSecret, secretFileNames, type ReadSecret } from './repo.js';
import {
  noChanges,
  recipientChanges,
  selectRecipients,
  type RecipientChanges,
  type SecretProblem,
} from './selection.js';

/** One secret as `piot secrets ls` shows it; never holds the value. */
export interface SecretStatus {
  name: string;
  /** The file, relative to the repository; undefined when missing. */
  file: string | undefined;
  /**
   * ok: encrypted to the devices and operators the fleet now selects; stale: not (run
   * rekey); missing: .piot.yaml lists it but there is no file; invalid: the file is unusable.
   */
  status: 'ok' | 'stale' | 'missing' | 'invalid';
  /** The selectors it was set for; undefined: every device. */
  selectors: string[] | undefined;
  /** The devices and operators it is encrypted to. */
  devices: string[];
  operators: string[];
  /** What rekey would change. */
  changes: { devices: RecipientChanges; operators: RecipientChanges };
  /** Listed in the `secrets:` of .piot.yaml; undefined if .piot.yaml cannot be read. */
  used: boolean | undefined;
  problems: SecretProblem[];
}

const none = (): RecipientChanges => ({ added: [], removed: [], changed: [] });

/** The status of one secret from its file and the current fleet (pure). */
export function secretStatus(
  name: string,
  read: ReadSecret | undefined,
  fleet: Fleet,
  listed: string[] | undefined,
): SecretStatus {
  const used = listed?.includes(name);
  const base = { name, selectors: undefined, devices: [], operators: [], used };
  if (!read) {
    return {
      ...base,
      file: undefined,
      status: 'missing',
      changes: { devices: none(), operators: none() },
      problems: [
        {
          message: `.piot.yaml lists ${name} but ${secretFilePath(name)} does not exist`,
          hint: `piot secrets set ${name}`,
        },
      ],
    };
  }
  if (!read.ok) {
    return {
      ...base,
      file: secretFilePath(name),
      status: 'invalid',
      changes: { devices: none(), operators: none() },
      problems: read.problems.map((p) => ({ message: formatProblem(p) })),
    };
  }
  return fileStatus(name, read.file, fleet, used);
}

function fileStatus(
  name: string,
  file: SecretFile,
  fleet: Fleet,
  used: boolean | undefined,
): SecretStatus {
  const selection = selectRecipients(file.devices, fleet);
  const changes = {
    devices: recipientChanges(file.recipients.devices, selection.recipients.devices),
    operators: recipientChanges(file.recipients.operators, selection.recipients.operators),
  };
  const stale = !noChanges(changes.devices) || !noChanges(changes.operators);
  return {
    name,
    file: secretFilePath(name),
    status: stale ? 'stale' : 'ok',
    selectors: file.devices,
    devices: Object.keys(file.recipients.devices).sort(),
    operators: Object.keys(file.recipients.operators).sort(),
    changes,
    used,
    problems: selection.problems,
  };
}

/**
 * Every secret of the repository around cwd, by name: the files, and the names .piot.yaml
 * lists that have none. Reads only public parts: nothing is decrypted.
 */
export async function listSecrets(options: {
  cwd: string;
}): Promise<{ repo: string; listed: string[] | undefined; secrets: SecretStatus[] }> {
  const repo = await openSecretsRepo(options.cwd);
  const names = new Set(await secretFileNames(repo));
  for (const name of repo.listed ?? []) if (isSecretName(name)) names.add(name);
  const secrets: SecretStatus[] = [];
  for (const name of [...names].sort()) {
    secrets.push(secretStatus(name, await readSecret(repo, name), repo.fleet, repo.listed));
  }
  return { repo: repo.root, listed: repo.listed, secrets };
}
